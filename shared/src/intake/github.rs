//! GitHub `release` and `ping` deliveries, from repositories you own or mirror
//! (GitHub only lets repository admins add webhooks).
//!
//! One GitHub release produces several deliveries (`created`, `published`,
//! `released`), each with its own delivery id. Only `published` and `released`
//! act, and both yield the same [`GithubIntake::Notice::release_key`], so the
//! router's de-duplication fans a release out once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::IntakeError;
use super::error::shown;
use super::json::{opt_str, opt_u64, parse_object, req_bool, req_object, req_str, req_u64};
use super::repos::{Classified, RepoTarget, classify, stemcell_tag};
use super::time::rfc3339;
use crate::config::IntakeSettings;
use crate::domain::{Notice, Version};

pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
pub const HOOK_ID_HEADER: &str = "x-github-hook-id";

/// The fields of a `release` event restager uses; the rest are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEvent {
    pub action: String,
    pub release: Release,
    pub repository: Repository,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: u64,
    pub tag_name: String,
    /// `null` in some GitHub Enterprise deliveries despite the published schema.
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    /// `null` for drafts; an RFC 3339 time such as `2019-05-15T15:20:53Z`
    /// when it came through [`parse_release`].
    pub published_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub full_name: String,
    pub id: Option<u64>,
}

/// What a verified GitHub delivery means for restager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubIntake {
    /// A release to act on. `release_key` names the GitHub release itself
    /// (`github-release:{repository id}:{release id}`): the same for the
    /// `published` and `released` deliveries of one release. `released_at`
    /// is the release's `published_at` (for `RESTAGER_MIN_RELEASE_AGE`); it
    /// is not part of either key.
    Notice {
        notice: Notice,
        release_key: String,
        released_at: Option<DateTime<Utc>>,
    },
    /// GitHub's greeting when a webhook is created or pinged; answer 200.
    Ping {
        zen: Option<String>,
        hook_id: Option<u64>,
    },
    /// Authentic but not actionable; answer 200 with the reason so the
    /// delivery log on GitHub explains itself.
    Ignored { reason: IgnoreReason },
}

/// Why a delivery was ignored; `Display` says what to change if it should not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    UnhandledEvent {
        event: String,
    },
    UnhandledAction {
        action: String,
    },
    Draft {
        tag: String,
    },
    Prerelease {
        tag: String,
    },
    UnmappedRepository {
        repository: String,
    },
    BadRepoMapping {
        repository: String,
        buildpack: String,
    },
    UnrecognizedStemcellTag {
        tag: String,
    },
    /// A buildpack or stack repository's tag that is not a version (`latest`).
    TagNotAVersion {
        tag: String,
    },
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::UnhandledEvent { event } => write!(
                f,
                "`{event}` events are not used: subscribe the webhook to `release` events only"
            ),
            IgnoreReason::UnhandledAction { action } => write!(
                f,
                "release action `{action}` is not acted on: {}",
                action_note(action)
            ),
            IgnoreReason::Draft { tag } => write!(
                f,
                "release `{tag}` is a draft: drafts are ignored unless RESTAGER_ACCEPT_DRAFTS=true"
            ),
            IgnoreReason::Prerelease { tag } => write!(
                f,
                "release `{tag}` is a pre-release: pre-releases are ignored unless RESTAGER_ACCEPT_PRERELEASES=true"
            ),
            IgnoreReason::UnmappedRepository { repository } => write!(
                f,
                "`{repository}` is not a known buildpack (`<owner>/<language>-buildpack`), stack \
                 (`<owner>/cflinuxfsN`) or stemcell (`<owner>/bosh-linux-stemcell-builder`) repository: \
                 to restage for its releases add `{repository}=<admin buildpack name>` to RESTAGER_REPO_MAP"
            ),
            IgnoreReason::BadRepoMapping {
                repository,
                buildpack,
            } => write!(
                f,
                "RESTAGER_REPO_MAP maps `{repository}` to `{buildpack}`, which is not a buildpack name: \
                 use ASCII letters, digits, `_` or `-`"
            ),
            IgnoreReason::UnrecognizedStemcellTag { tag } => write!(
                f,
                "tag `{tag}` is not a stemcell release tag like `ubuntu-jammy/v1.622`"
            ),
            IgnoreReason::TagNotAVersion { tag } => write!(
                f,
                "tag `{tag}` is not a version: only releases tagged like v1.10.29 or 1.323.0 are acted on"
            ),
        }
    }
}

fn action_note(action: &str) -> &'static str {
    match action {
        "created" => {
            "it also fires for drafts; a real release is acted on when its `published` or `released` delivery arrives"
        }
        "edited" => "editing release notes does not change what was released",
        "deleted" | "unpublished" => "removing a release needs no restage",
        "prereleased" => {
            "pre-releases are acted on only with RESTAGER_ACCEPT_PRERELEASES=true, via their `published` delivery"
        }
        _ => "only `published` and `released` are acted on",
    }
}

/// Interprets a verified delivery. `event` is the `X-GitHub-Event` header.
pub fn parse(
    event: Option<&str>,
    body: &[u8],
    settings: &IntakeSettings,
) -> Result<GithubIntake, IntakeError> {
    let event =
        event
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or(IntakeError::MissingHeader {
                header: EVENT_HEADER,
                hint: "GitHub sends it with every delivery; is this request from a GitHub webhook?",
            })?;
    match event {
        "ping" => parse_ping(body),
        "release" => {
            let event = parse_release(body)?;
            decide(&event, settings)
        }
        other => Ok(GithubIntake::Ignored {
            reason: IgnoreReason::UnhandledEvent {
                event: shown(other),
            },
        }),
    }
}

/// [`parse`] reading the event name from the request headers.
pub fn parse_request(
    headers: &http::HeaderMap,
    body: &[u8],
    settings: &IntakeSettings,
) -> Result<GithubIntake, IntakeError> {
    parse(header(headers, EVENT_HEADER)?, body, settings)
}

/// Reads a `release` event, naming the first missing or mistyped field.
pub fn parse_release(body: &[u8]) -> Result<ReleaseEvent, IntakeError> {
    let v = parse_object(body)?;
    req_object(&v, "release")?;
    req_object(&v, "repository")?;
    let full_name = req_str(&v, "repository.full_name")?;
    if !is_full_name(full_name) {
        return Err(IntakeError::InvalidField {
            field: "repository.full_name",
            value: shown(full_name),
            expected: "`owner/name`",
        });
    }
    let tag_name = req_str(&v, "release.tag_name")?;
    if tag_name.trim().is_empty() {
        return Err(IntakeError::EmptyField {
            field: "release.tag_name",
        });
    }
    let published_at = opt_str(&v, "release.published_at")?;
    if let Some(raw) = published_at {
        rfc3339("release.published_at", raw)?;
    }
    Ok(ReleaseEvent {
        action: req_str(&v, "action")?.to_string(),
        release: Release {
            id: req_u64(&v, "release.id")?,
            tag_name: tag_name.to_string(),
            name: opt_str(&v, "release.name")?.map(str::to_string),
            body: opt_str(&v, "release.body")?.map(str::to_string),
            draft: req_bool(&v, "release.draft")?,
            prerelease: req_bool(&v, "release.prerelease")?,
            published_at: published_at.map(str::to_string),
        },
        repository: Repository {
            full_name: full_name.to_string(),
            id: opt_u64(&v, "repository.id")?,
        },
    })
}

/// Decides what a well-formed `release` event means under `settings`.
pub fn decide(
    event: &ReleaseEvent,
    settings: &IntakeSettings,
) -> Result<GithubIntake, IntakeError> {
    let ignored = |reason| Ok(GithubIntake::Ignored { reason });
    let release = &event.release;
    let tag = shown(&release.tag_name);
    if !matches!(event.action.as_str(), "published" | "released") {
        return ignored(IgnoreReason::UnhandledAction {
            action: shown(&event.action),
        });
    }
    if release.draft && !settings.accept_drafts {
        return ignored(IgnoreReason::Draft { tag });
    }
    if release.prerelease && !settings.accept_prereleases {
        return ignored(IgnoreReason::Prerelease { tag });
    }
    let repository = &event.repository.full_name;
    let target = match classify(repository, &settings.repo_map) {
        Classified::Known(target) => target,
        Classified::BadMapping(buildpack) => {
            return ignored(IgnoreReason::BadRepoMapping {
                repository: shown(repository),
                buildpack: shown(&buildpack),
            });
        }
        Classified::Unknown => {
            return ignored(IgnoreReason::UnmappedRepository {
                repository: shown(repository),
            });
        }
    };
    let not_a_version = || ignored(IgnoreReason::TagNotAVersion { tag: tag.clone() });
    let notice = match target {
        RepoTarget::Buildpack(buildpack) => match tag_version(&release.tag_name) {
            Some(version) => Notice::Buildpack {
                buildpack,
                version,
                stack: None,
            },
            None => return not_a_version(),
        },
        RepoTarget::Stack(stack) => match tag_version(&release.tag_name) {
            Some(version) => Notice::Stack { stack, version },
            None => return not_a_version(),
        },
        RepoTarget::StemcellBuilder => {
            let parsed = stemcell_tag(&release.tag_name)
                .and_then(|(line, v)| Version::parse(v).ok().map(|v| (line, v)));
            match parsed {
                Some((line, version)) => Notice::Stemcell {
                    stemcell: line.to_string(),
                    version,
                },
                None => return ignored(IgnoreReason::UnrecognizedStemcellTag { tag }),
            }
        }
    };
    // parse_release has checked the time; an event built by hand with a bad
    // one simply has no release time.
    let released_at = release
        .published_at
        .as_deref()
        .and_then(|raw| rfc3339("release.published_at", raw).ok());
    Ok(GithubIntake::Notice {
        notice,
        release_key: release_key(event),
        released_at,
    })
}

/// `github-release:{repository id, else full name}:{release id}`: one key per
/// GitHub release however many deliveries announce it. The numeric id survives
/// repository renames, so it is preferred.
pub fn release_key(event: &ReleaseEvent) -> String {
    let repo = match event.repository.id {
        Some(id) => id.to_string(),
        None => event.repository.full_name.to_ascii_lowercase(),
    };
    format!("github-release:{repo}:{}", event.release.id)
}

/// `github-delivery:{hook id}:{delivery guid}` for replay protection. Several
/// hooks on one repository receive the same delivery GUID, so the hook id is
/// part of the key; without the header, `-` stands in for it.
pub fn delivery_key(hook_id: Option<&str>, delivery: Option<&str>) -> Result<String, IntakeError> {
    let delivery =
        delivery
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or(IntakeError::MissingHeader {
                header: DELIVERY_HEADER,
                hint: "GitHub sends a delivery GUID with every delivery; relays must pass it on",
            })?;
    if delivery.len() > 128
        || !delivery
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IntakeError::MalformedHeader {
            header: DELIVERY_HEADER,
            reason: "expected a GUID such as 72d3162e-cc78-11e3-81ab-4c9367dc0958",
        });
    }
    let hook = match hook_id.map(str::trim).filter(|h| !h.is_empty()) {
        None => "-",
        Some(h) if h.len() <= 20 && h.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => {
            return Err(IntakeError::MalformedHeader {
                header: HOOK_ID_HEADER,
                reason: "expected the webhook's numeric id",
            });
        }
    };
    Ok(format!("github-delivery:{hook}:{delivery}"))
}

/// [`delivery_key`] reading both headers from a request.
pub fn delivery_key_from_headers(headers: &http::HeaderMap) -> Result<String, IntakeError> {
    delivery_key(
        header(headers, HOOK_ID_HEADER)?,
        header(headers, DELIVERY_HEADER)?,
    )
}

fn parse_ping(body: &[u8]) -> Result<GithubIntake, IntakeError> {
    let v = parse_object(body)?;
    Ok(GithubIntake::Ping {
        zen: opt_str(&v, "zen")?.map(str::to_string),
        hook_id: opt_u64(&v, "hook_id")?,
    })
}

/// The version a release tag names (`v1.10.29`, `1.323.0`); `None` for a tag
/// that is not one (`latest`), which the caller ignores with the reason.
fn tag_version(tag: &str) -> Option<Version> {
    Version::parse(tag).ok()
}

fn is_full_name(name: &str) -> bool {
    match name.split_once('/') {
        Some((owner, repo)) => {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            };
            ok(owner) && ok(repo)
        }
        None => false,
    }
}

fn header<'a>(
    headers: &'a http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, IntakeError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| IntakeError::MalformedHeader {
                header: name,
                reason: "it contains bytes that are not visible ASCII",
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_keys_include_the_hook() {
        assert_eq!(
            delivery_key(
                Some("380052596"),
                Some("d4049330-377e-11ed-9c2e-1ae286aab35f")
            ),
            Ok("github-delivery:380052596:d4049330-377e-11ed-9c2e-1ae286aab35f".to_string())
        );
        assert_eq!(
            delivery_key(None, Some("abc")),
            Ok("github-delivery:-:abc".to_string())
        );
        assert!(matches!(
            delivery_key(Some("1"), None),
            Err(IntakeError::MissingHeader {
                header: DELIVERY_HEADER,
                ..
            })
        ));
        assert!(delivery_key(Some("1"), Some("a:b")).is_err());
        assert!(delivery_key(Some("hook"), Some("abc")).is_err());
    }

    #[test]
    fn full_names() {
        assert!(is_full_name("cloudfoundry/ruby-buildpack"));
        assert!(is_full_name("Codertocat/Hello-World"));
        for bad in ["", "a", "/b", "a/", "a/b/c", "a b/c"] {
            assert!(!is_full_name(bad), "{bad}");
        }
    }
}
