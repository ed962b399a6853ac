//! Intake: GitHub deliveries (octokit's documented examples, every tag of the
//! real buildpack, stack and stemcell repositories) and the notice format,
//! whose JSON Schema must accept and reject exactly what the parser does.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use restager_shared::config::{Env, IntakeSettings};
use restager_shared::domain::{Notice, Version};
use restager_shared::intake::github::{self, GithubIntake, IgnoreReason};
use restager_shared::intake::{IntakeError, notice};
use serde_json::{Value, json};

fn fixture(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&full).expect("fixture is readable")
}

fn settings(pairs: &[(&str, &str)]) -> IntakeSettings {
    let map: HashMap<&str, &str> = pairs.iter().copied().collect();
    IntakeSettings::from_env(&Env(&map)).expect("valid intake settings")
}

fn published_example() -> Value {
    // Parsed once: the tag-list tests build thousands of variants of it.
    static EXAMPLE: OnceLock<Value> = OnceLock::new();
    EXAMPLE
        .get_or_init(|| {
            serde_json::from_str(&fixture("github/release_published.payload.json"))
                .expect("JSON fixture")
        })
        .clone()
}

/// The documented example, rewritten to come from another repository and tag.
fn release(full_name: &str, tag: &str) -> Value {
    let mut v = published_example();
    v["repository"]["full_name"] = json!(full_name);
    v["release"]["tag_name"] = json!(tag);
    v
}

/// Only the fields intake reads; keeps the tag-list tests (thousands of
/// deliveries) quick. The full documented payload is covered separately.
fn minimal_release(full_name: &str, tag: &str) -> Value {
    json!({
        "action": "published",
        "release": {"id": 1, "tag_name": tag, "name": tag, "body": null,
                    "draft": false, "prerelease": false, "published_at": "2024-10-23T00:00:00Z"},
        "repository": {"id": 2, "full_name": full_name},
    })
}

fn run(body: &Value, settings: &IntakeSettings) -> Result<GithubIntake, IntakeError> {
    let bytes = serde_json::to_vec(body).expect("serializes");
    github::parse(Some("release"), &bytes, settings)
}

fn notice_of(result: Result<GithubIntake, IntakeError>) -> (Notice, String) {
    match result {
        Ok(GithubIntake::Notice {
            notice,
            release_key,
            ..
        }) => (notice, release_key),
        other => panic!("expected a notice, got {other:?}"),
    }
}

fn ignored(result: Result<GithubIntake, IntakeError>) -> IgnoreReason {
    match result {
        Ok(GithubIntake::Ignored { reason }) => reason,
        other => panic!("expected an ignored delivery, got {other:?}"),
    }
}

fn v(s: &str) -> Version {
    Version::parse(s).expect("valid version")
}

// ---------------------------------------------------------------- GitHub

#[test]
fn documented_release_example_parses_into_its_fields() {
    let bytes = fixture("github/release_published.payload.json");
    let event = github::parse_release(bytes.as_bytes()).expect("documented example is valid");
    assert_eq!(event.action, "published");
    assert_eq!(event.release.id, 17_372_790);
    assert_eq!(event.release.tag_name, "0.0.1");
    assert_eq!(event.release.name.as_deref(), Some(""));
    assert_eq!(event.release.body.as_deref(), Some(""));
    assert!(!event.release.draft && !event.release.prerelease);
    assert_eq!(
        event.release.published_at.as_deref(),
        Some("2019-05-15T15:20:53Z")
    );
    assert_eq!(event.repository.full_name, "Codertocat/Hello-World");
    assert_eq!(event.repository.id, Some(186_853_002));
    assert_eq!(
        github::release_key(&event),
        "github-release:186853002:17372790"
    );
}

#[test]
fn documented_example_is_from_an_unmapped_repo_and_is_ignored_with_the_fix() {
    // Codertocat/Hello-World is GitHub's demo repository, not a buildpack.
    let bytes = fixture("github/release_published.payload.json");
    let reason = ignored(github::parse(
        Some("release"),
        bytes.as_bytes(),
        &settings(&[]),
    ));
    assert_eq!(
        reason,
        IgnoreReason::UnmappedRepository {
            repository: "Codertocat/Hello-World".into()
        }
    );
    let text = reason.to_string();
    assert!(text.contains("RESTAGER_REPO_MAP"), "{text}");
    assert!(
        text.contains("Codertocat/Hello-World=<admin buildpack name>"),
        "{text}"
    );

    // Following that advice maps it.
    let mapped = settings(&[(
        "RESTAGER_REPO_MAP",
        "Codertocat/Hello-World=hello_buildpack",
    )]);
    let (notice, key) = notice_of(github::parse(Some("release"), bytes.as_bytes(), &mapped));
    assert_eq!(
        notice,
        Notice::Buildpack {
            buildpack: "hello_buildpack".into(),
            version: v("0.0.1"),
            stack: None
        }
    );
    assert_eq!(key, "github-release:186853002:17372790");
}

#[test]
fn ruby_buildpack_variant_becomes_a_buildpack_notice() {
    let body = release("cloudfoundry/ruby-buildpack", "v1.10.29");
    let (notice, key) = notice_of(run(&body, &settings(&[])));
    assert_eq!(
        notice,
        Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: v("1.10.29"),
            stack: None
        }
    );
    assert_eq!(notice.version().to_string(), "1.10.29");
    assert_eq!(key, "github-release:186853002:17372790");

    // Without a repository id the key falls back to the (case-folded) name.
    let mut no_id = body.clone();
    no_id["repository"]
        .as_object_mut()
        .expect("object")
        .remove("id");
    let (_, key) = notice_of(run(&no_id, &settings(&[])));
    assert_eq!(key, "github-release:cloudfoundry/ruby-buildpack:17372790");
}

#[test]
fn published_at_is_the_release_time_and_changes_no_key() {
    let released_at = |result: Result<GithubIntake, IntakeError>| match result {
        Ok(GithubIntake::Notice {
            released_at,
            release_key,
            ..
        }) => (released_at.map(|t| t.to_rfc3339()), release_key),
        other => panic!("expected a notice, got {other:?}"),
    };
    let body = minimal_release("cloudfoundry/ruby-buildpack", "v1.10.29");
    let (at, key) = released_at(run(&body, &settings(&[])));
    assert_eq!(at.as_deref(), Some("2024-10-23T00:00:00+00:00"));

    // The `released` delivery of the same release, a minute later, with a
    // different time (or none): the same release key.
    let mut later = body.clone();
    later["action"] = json!("released");
    later["release"]["published_at"] = json!("2024-10-23T00:01:00Z");
    assert_eq!(released_at(run(&later, &settings(&[]))).1, key);
    let mut draft = body.clone();
    draft["release"]["draft"] = json!(true);
    draft["release"]["published_at"] = Value::Null;
    let accepting = settings(&[("RESTAGER_ACCEPT_DRAFTS", "true")]);
    assert_eq!(released_at(run(&draft, &accepting)), (None, key));

    let mut bad = body.clone();
    bad["release"]["published_at"] = json!("last Tuesday");
    assert_eq!(
        run(&bad, &settings(&[])).map(|_| ()),
        Err(IntakeError::InvalidField {
            field: "release.published_at",
            value: "last Tuesday".into(),
            expected: "an RFC 3339 time such as 2026-06-10T12:00:00Z or 2026-06-10T14:00:00+02:00",
        })
    );
    bad["release"]["published_at"] = json!(1_700_000_000);
    assert!(matches!(
        run(&bad, &settings(&[])),
        Err(IntakeError::WrongType {
            field: "release.published_at",
            ..
        })
    ));
}

#[test]
fn a_notice_released_at_is_kept_beside_it_and_changes_no_key() {
    let with = notice::parse_with_release_time(
        br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29","released_at":"2026-06-10T12:00:00Z"}"#,
    )
    .expect("valid");
    let without = notice::parse_with_release_time(
        br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29"}"#,
    )
    .expect("valid");
    assert_eq!(with.notice, without.notice);
    assert_eq!(with.notice.release_key(), without.notice.release_key());
    assert_eq!(
        with.released_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-06-10T12:00:00+00:00")
    );
    assert_eq!(without.released_at, None);
}

#[test]
fn ping_is_recognised() {
    let bytes = fixture("github/ping_payload.json");
    let result = github::parse(Some("ping"), bytes.as_bytes(), &settings(&[]));
    assert_eq!(
        result,
        Ok(GithubIntake::Ping {
            zen: Some("Anything added dilutes everything else.".into()),
            hook_id: Some(109_948_940),
        })
    );
    // Ping payloads vary by hook type; only the JSON shape is required.
    assert_eq!(
        github::parse(Some("ping"), b"{}", &settings(&[])),
        Ok(GithubIntake::Ping {
            zen: None,
            hook_id: None
        })
    );
    assert!(matches!(
        github::parse(Some("ping"), b"not json", &settings(&[])),
        Err(IntakeError::MalformedJson { .. })
    ));
}

#[test]
fn null_name_and_body_as_sent_by_github_enterprise_are_accepted() {
    let mut body = release("cloudfoundry/go-buildpack", "v1.10.48");
    body["release"]["name"] = Value::Null;
    body["release"]["body"] = Value::Null;
    let bytes = serde_json::to_vec(&body).expect("serializes");
    let event = github::parse_release(&bytes).expect("nulls are fine");
    assert_eq!(event.release.name, None);
    assert_eq!(event.release.body, None);
    let (notice, _) = notice_of(run(&body, &settings(&[])));
    assert_eq!(notice.to_string(), "go_buildpack 1.10.48");
}

#[test]
fn only_published_and_released_act_and_share_one_release_key() {
    let s = settings(&[]);
    let mut keys = BTreeSet::new();
    for action in ["published", "released"] {
        let mut body = release("cloudfoundry/ruby-buildpack", "v1.10.29");
        body["action"] = json!(action);
        let (notice, key) = notice_of(run(&body, &s));
        assert_eq!(notice.release_key(), "buildpack:ruby_buildpack:1.10.29");
        keys.insert(key);
    }
    assert_eq!(keys.len(), 1, "both deliveries of one release share a key");

    for action in [
        "created",
        "edited",
        "deleted",
        "unpublished",
        "prereleased",
        "archived",
    ] {
        let mut body = release("cloudfoundry/ruby-buildpack", "v1.10.29");
        body["action"] = json!(action);
        let reason = ignored(run(&body, &s));
        assert_eq!(
            reason,
            IgnoreReason::UnhandledAction {
                action: action.into()
            }
        );
        assert!(reason.to_string().contains(action), "{reason}");
    }
    let mut body = release("cloudfoundry/ruby-buildpack", "v1.10.29");
    body["action"] = json!("prereleased");
    assert!(
        ignored(run(&body, &s))
            .to_string()
            .contains("RESTAGER_ACCEPT_PRERELEASES")
    );
}

#[test]
fn drafts_and_prereleases_are_ignored_unless_accepted() {
    let mut draft = release("cloudfoundry/ruby-buildpack", "v1.11.0");
    draft["release"]["draft"] = json!(true);
    draft["release"]["published_at"] = Value::Null;
    let reason = ignored(run(&draft, &settings(&[])));
    assert_eq!(
        reason,
        IgnoreReason::Draft {
            tag: "v1.11.0".into()
        }
    );
    assert!(reason.to_string().contains("RESTAGER_ACCEPT_DRAFTS"));
    let accepting = settings(&[("RESTAGER_ACCEPT_DRAFTS", "true")]);
    assert_eq!(notice_of(run(&draft, &accepting)).0.version(), &v("1.11.0"));

    let mut pre = release("cloudfoundry/cflinuxfs4", "1.324.0");
    pre["release"]["prerelease"] = json!(true);
    let reason = ignored(run(&pre, &settings(&[])));
    assert_eq!(
        reason,
        IgnoreReason::Prerelease {
            tag: "1.324.0".into()
        }
    );
    assert!(reason.to_string().contains("RESTAGER_ACCEPT_PRERELEASES"));
    let accepting = settings(&[("RESTAGER_ACCEPT_PRERELEASES", "true")]);
    assert!(matches!(
        notice_of(run(&pre, &accepting)).0,
        Notice::Stack { .. }
    ));
    // Accepting drafts does not accept pre-releases.
    assert!(matches!(
        run(&pre, &settings(&[("RESTAGER_ACCEPT_DRAFTS", "true")])),
        Ok(GithubIntake::Ignored { .. })
    ));
}

#[test]
fn every_real_buildpack_tag_maps_to_its_buildpack_and_version() {
    let s = settings(&[]);
    for (repo, file, name) in [
        ("cloudfoundry/ruby-buildpack", "ruby", "ruby_buildpack"),
        ("cloudfoundry/go-buildpack", "go", "go_buildpack"),
        ("cloudfoundry/java-buildpack", "java", "java_buildpack"),
    ] {
        let tags = fixture(&format!("github/{file}-buildpack_tags.txt"));
        let mut count = 0;
        for tag in tags.lines().filter_map(|l| l.split_whitespace().next()) {
            let (notice, _) = notice_of(run(&minimal_release(repo, tag), &s));
            assert_eq!(
                notice,
                Notice::Buildpack {
                    buildpack: name.into(),
                    version: v(tag),
                    stack: None
                },
                "{repo} {tag}"
            );
            assert_eq!(format!("v{}", notice.version()), tag);
            count += 1;
        }
        assert!(count > 100, "{repo}: {count} tags");
    }
    let (notice, _) = notice_of(run(
        &release("cloudfoundry/dotnet-core-buildpack", "v2.4.30"),
        &s,
    ));
    assert_eq!(notice.to_string(), "dotnet_core_buildpack 2.4.30");
}

#[test]
fn every_cflinuxfs4_tag_maps_to_a_stack_notice_and_other_fs_versions_too() {
    let s = settings(&[]);
    let tags = fixture("github/cflinuxfs4_tags.txt");
    let tags: Vec<&str> = tags
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(tags.len(), 382);
    for tag in tags {
        let (notice, _) = notice_of(run(&minimal_release("cloudfoundry/cflinuxfs4", tag), &s));
        assert_eq!(
            notice,
            Notice::Stack {
                stack: "cflinuxfs4".into(),
                version: v(tag)
            }
        );
        // Early cflinuxfs4 tags carried a `v`; later ones are bare.
        assert_eq!(notice.version().to_string(), tag.trim_start_matches('v'));
    }
    let (notice, _) = notice_of(run(&release("cloudfoundry/cflinuxfs3", "0.400.0"), &s));
    assert_eq!(notice.to_string(), "stack cflinuxfs3 0.400.0");
    // The BOSH release of the stack is a different thing: not acted on.
    assert!(matches!(
        ignored(run(
            &release("cloudfoundry/cflinuxfs4-release", "v1.323.0"),
            &s
        )),
        IgnoreReason::UnmappedRepository { .. }
    ));
}

#[test]
fn every_stemcell_builder_tag_is_mapped_or_ignored_with_a_reason() {
    let s = settings(&[]);
    let repo = "cloudfoundry/bosh-linux-stemcell-builder";
    let tags = fixture("github/bosh-linux-stemcell-builder_tags.txt");
    let mut lines = BTreeSet::new();
    let mut unrecognized = Vec::new();
    for tag in tags.lines().filter_map(|l| l.split_whitespace().next()) {
        match run(&minimal_release(repo, tag), &s) {
            Ok(GithubIntake::Notice {
                notice: Notice::Stemcell { stemcell, version },
                ..
            }) => {
                assert_eq!(format!("{stemcell}/v{version}"), tag);
                lines.insert(stemcell);
            }
            Ok(GithubIntake::Ignored {
                reason: IgnoreReason::UnrecognizedStemcellTag { tag: t },
            }) => {
                assert_eq!(t, tag);
                unrecognized.push(tag.to_string());
            }
            other => panic!("{tag}: {other:?}"),
        }
    }
    let expected: BTreeSet<String> = [
        "centos-7",
        "ubuntu-bionic",
        "ubuntu-jammy",
        "ubuntu-jammy-fips",
        "ubuntu-trusty",
        "ubuntu-xenial",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(lines, expected);
    // Only the old line-less shapes are left: `stable-3586.100`, bare `v621.1`.
    assert_eq!(unrecognized.len(), 178, "{unrecognized:?}");
    assert!(
        unrecognized
            .iter()
            .all(|t| t.starts_with("stable-") || t.starts_with('v'))
    );

    let (notice, _) = notice_of(run(&release(repo, "ubuntu-jammy/v1.622"), &s));
    assert_eq!(
        notice,
        Notice::Stemcell {
            stemcell: "ubuntu-jammy".into(),
            version: v("1.622")
        }
    );
    assert!(notice.version() > &v("1.99"));
}

#[test]
fn operator_repo_map_overrides_and_extends_the_conventions() {
    let s = settings(&[(
        "RESTAGER_REPO_MAP",
        "acme/corp-runtime=corp_buildpack, cloudfoundry/ruby-buildpack=ruby_buildpack_latest",
    )]);
    let (notice, _) = notice_of(run(&release("acme/corp-runtime", "2.1.0"), &s));
    assert_eq!(
        notice,
        Notice::Buildpack {
            buildpack: "corp_buildpack".into(),
            version: v("2.1.0"),
            stack: None
        }
    );
    let (notice, _) = notice_of(run(&release("cloudfoundry/ruby-buildpack", "v1.10.29"), &s));
    assert_eq!(notice.to_string(), "ruby_buildpack_latest 1.10.29");
    // Repositories not in the map still follow the conventions.
    let (notice, _) = notice_of(run(&release("cloudfoundry/go-buildpack", "v1.10.48"), &s));
    assert_eq!(notice.to_string(), "go_buildpack 1.10.48");

    let bad = settings(&[("RESTAGER_REPO_MAP", "acme/x=not a name")]);
    let reason = ignored(run(&release("acme/x", "1.0.0"), &bad));
    assert!(
        matches!(reason, IgnoreReason::BadRepoMapping { .. }),
        "{reason}"
    );
}

#[test]
fn other_events_are_ignored_and_a_missing_event_header_is_an_error() {
    let s = settings(&[]);
    let reason = ignored(github::parse(Some("push"), b"{}", &s));
    assert_eq!(
        reason,
        IgnoreReason::UnhandledEvent {
            event: "push".into()
        }
    );
    assert!(reason.to_string().contains("`release` events only"));
    let err = github::parse(None, b"{}", &s).expect_err("no event header");
    assert!(matches!(
        err,
        IntakeError::MissingHeader {
            header: "x-github-event",
            ..
        }
    ));
}

/// A tag that is not a version on a known repository (`latest`, `nightly`)
/// is answered 200 "ignored" with the reason, so GitHub's delivery log does
/// not show a failure for a release restager has nothing to do with.
#[test]
fn a_tag_that_is_not_a_version_is_ignored_with_the_reason() {
    let s = settings(&[]);
    for (repo, tag) in [
        ("cloudfoundry/ruby-buildpack", "latest"),
        ("cloudfoundry/cflinuxfs4", "nightly"),
    ] {
        let body = serde_json::to_vec(&release(repo, tag)).expect("json");
        let reason = ignored(github::parse(Some("release"), &body, &s));
        assert_eq!(reason, IgnoreReason::TagNotAVersion { tag: tag.into() });
        assert_eq!(
            reason.to_string().split(':').next(),
            Some(format!("tag `{tag}` is not a version").as_str()),
            "{reason}"
        );
    }
}

#[test]
fn malformed_release_events_name_the_field() {
    let s = settings(&[]);
    let good = release("cloudfoundry/ruby-buildpack", "v1.10.29");
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, IntakeError)> = vec![
        (
            Box::new(|b| {
                b["release"]
                    .as_object_mut()
                    .expect("object")
                    .remove("tag_name");
            }),
            IntakeError::MissingField {
                field: "release.tag_name",
            },
        ),
        (
            Box::new(|b| b["release"]["tag_name"] = json!("")),
            IntakeError::EmptyField {
                field: "release.tag_name",
            },
        ),
        (
            Box::new(|b| b["release"]["id"] = json!("17372790")),
            IntakeError::WrongType {
                field: "release.id",
                expected: "a non-negative integer",
                found: "a string",
            },
        ),
        (
            Box::new(|b| b["release"]["draft"] = Value::Null),
            IntakeError::WrongType {
                field: "release.draft",
                expected: "a boolean",
                found: "null",
            },
        ),
        (
            Box::new(|b| b["release"]["name"] = json!(5)),
            IntakeError::WrongType {
                field: "release.name",
                expected: "a string or null",
                found: "a number",
            },
        ),
        (
            Box::new(|b| {
                b.as_object_mut().expect("object").remove("action");
            }),
            IntakeError::MissingField { field: "action" },
        ),
        (
            Box::new(|b| {
                b.as_object_mut().expect("object").remove("release");
            }),
            IntakeError::MissingField { field: "release" },
        ),
        (
            Box::new(|b| b["repository"]["full_name"] = json!("ruby-buildpack")),
            IntakeError::InvalidField {
                field: "repository.full_name",
                value: "ruby-buildpack".into(),
                expected: "`owner/name`",
            },
        ),
    ];
    for (edit, want) in cases {
        let mut body = good.clone();
        edit(&mut body);
        assert_eq!(run(&body, &s), Err(want.clone()));
    }
    let err = run(
        &{
            let mut b = good.clone();
            b["release"]
                .as_object_mut()
                .expect("object")
                .remove("tag_name");
            b
        },
        &s,
    )
    .expect_err("missing tag");
    assert_eq!(err.to_string(), "`release.tag_name` is required");
    assert!(matches!(
        github::parse(Some("release"), b"{\"action\":", &s),
        Err(IntakeError::MalformedJson { .. })
    ));
    assert!(matches!(
        github::parse(Some("release"), b"[1]", &s),
        Err(IntakeError::NotAnObject { .. })
    ));
}

#[test]
fn header_helpers_read_event_and_delivery_key() {
    let bytes = serde_json::to_vec(&release("cloudfoundry/ruby-buildpack", "v1.10.29"))
        .expect("serializes");
    let mut headers = http::HeaderMap::new();
    headers.insert("X-GitHub-Event", http::HeaderValue::from_static("release"));
    headers.insert(
        "X-GitHub-Delivery",
        http::HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    );
    headers.insert(
        "X-GitHub-Hook-ID",
        http::HeaderValue::from_static("380052596"),
    );
    assert!(matches!(
        github::parse_request(&headers, &bytes, &settings(&[])),
        Ok(GithubIntake::Notice { .. })
    ));
    assert_eq!(
        github::delivery_key_from_headers(&headers),
        Ok("github-delivery:380052596:72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string())
    );
    // The same delivery GUID reaching a second hook is a different delivery.
    headers.insert("X-GitHub-Hook-ID", http::HeaderValue::from_static("1"));
    assert_ne!(
        github::delivery_key_from_headers(&headers),
        Ok("github-delivery:380052596:72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string())
    );
    headers.remove("X-GitHub-Delivery");
    assert!(matches!(
        github::delivery_key_from_headers(&headers),
        Err(IntakeError::MissingHeader {
            header: "x-github-delivery",
            ..
        })
    ));
}

// ---------------------------------------------------- notice format + schema

fn schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/notice.schema.json");
    let text = std::fs::read_to_string(path).expect("schema is readable");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("schema compiles")
}

/// Asserts schema and parser agree on `body`, and that both say `accept`.
fn assert_agree(validator: &jsonschema::Validator, body: &str, accept: bool) {
    let parsed = notice::parse(body.as_bytes());
    let value: Value = serde_json::from_str(body).expect("table bodies are JSON");
    let schema_ok = validator.is_valid(&value);
    assert_eq!(parsed.is_ok(), accept, "parser on {body}: {parsed:?}");
    assert_eq!(
        schema_ok,
        accept,
        "schema on {body}: {:?}",
        validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&schema).expect("schema conforms to its meta-schema");
}

#[test]
fn schema_examples_fixtures_and_readme_examples_are_accepted_by_both() {
    let validator = validator();
    let schema = schema();
    let examples = schema["examples"].as_array().expect("examples");
    assert!(examples.len() >= 3);
    for example in examples {
        assert_agree(&validator, &example.to_string(), true);
    }

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notices");
    for (sub, accept) in [("good", true), ("bad", false)] {
        let mut seen = 0;
        for entry in std::fs::read_dir(dir.join(sub)).expect("fixture dir") {
            let path = entry.expect("dir entry").path();
            let body = std::fs::read_to_string(&path).expect("fixture");
            assert_agree(&validator, &body, accept);
            seen += 1;
        }
        assert!(seen >= 4, "{sub}: {seen} fixtures");
    }

    // The README's documented examples (lines of JSON in "The notice format").
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md at the workspace root");
    let documented: Vec<&str> = readme
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{\"type\":"))
        .collect();
    assert!(documented.len() >= 3, "README lost its notice examples");
    for body in documented {
        assert_agree(&validator, body, true);
    }
}

#[test]
fn schema_and_parser_agree_on_a_table_of_bodies() {
    let validator = validator();
    let good = [
        r#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29"}"#,
        r#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"v1.10.29","stack":"cflinuxfs4"}"#,
        r#"{"version":"1.0","buildpack":"Custom-BP_2","type":"buildpack.released"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"0"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"999999999999999999.1"}"#,
        r#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.323.0"}"#,
        r#"{"type":"stack.released","stack":"windows2019.1","version":"2019.1"}"#,
        r#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622"}"#,
        r#"{"type":"stemcell.released","stemcell":"bosh-aws-xen-hvm-ubuntu-jammy-go_agent","version":"1.622"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1","released_at":"2026-06-10T12:00:00Z"}"#,
        r#"{"type":"stack.released","stack":"cflinuxfs4","version":"1","released_at":"2026-06-10T14:00:00.123+02:00"}"#,
        r#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1","released_at":"2026-06-10T07:00:00-05:00"}"#,
    ];
    let long_version = format!(
        r#"{{"type":"stack.released","stack":"s","version":"{}"}}"#,
        vec!["1"; 33].join(".")
    );
    let long_name = format!(
        r#"{{"type":"stack.released","stack":"{}","version":"1"}}"#,
        "a".repeat(256)
    );
    let bad = [
        r#"{}"#,
        r#"[]"#,
        r#""buildpack.released""#,
        r#"null"#,
        r#"{"type":"app.released","buildpack":"b","version":"1"}"#,
        r#"{"type":7,"buildpack":"b","version":"1"}"#,
        r#"{"buildpack":"b","version":"1"}"#,
        r#"{"type":"buildpack.released","version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"b"}"#,
        r#"{"type":"buildpack.released","buildpack":"","version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"ruby buildpack","version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"ruby.buildpack","version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"rüby","version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1","stack":null}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1","stack":""}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1","stack":"cf/4"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1","stak":"x"}"#,
        r#"{"type":"buildpack.released","buildpack":["b"],"version":"1"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":1}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":""}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1.x"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1..2"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1.2-rc1"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1.2."}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"V1.2"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":" 1.2"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"1.2\n"}"#,
        r#"{"type":"buildpack.released","buildpack":"b","version":"9999999999999999999"}"#,
        r#"{"type":"stack.released","stack":"cflinuxfs4","version":"1","buildpack":"b"}"#,
        r#"{"type":"stack.released","stemcell":"cflinuxfs4","version":"1"}"#,
        r#"{"type":"stemcell.released","stemcell":"ubuntu jammy","version":"1"}"#,
        r#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1","stack":"x"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":null}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":""}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":1781092800}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-06-10"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-06-10 12:00:00Z"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-06-10T12:00:00"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-06-10t12:00:00z"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-13-10T12:00:00Z"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"2026-06-10T12:00:00+0200"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","released_at":"yesterday"}"#,
        r#"{"type":"stack.released","stack":"s","version":"1","release_at":"2026-06-10T12:00:00Z"}"#,
    ];
    for body in good {
        assert_agree(&validator, body, true);
    }
    for body in bad
        .iter()
        .copied()
        .chain([long_version.as_str(), long_name.as_str()])
    {
        assert_agree(&validator, body, false);
    }
}

#[test]
fn notice_errors_name_the_problem() {
    let parse = |s: &str| notice::parse(s.as_bytes()).expect_err("invalid");
    assert_eq!(
        parse(r#"{"type":"stack.released","stack":"cflinuxfs4"}"#).to_string(),
        "`version` is required"
    );
    assert_eq!(
        parse(r#"{"stack":"cflinuxfs4","version":"1"}"#),
        IntakeError::MissingField { field: "type" }
    );
    let unknown = parse(r#"{"type":"buildpack.updated"}"#).to_string();
    for allowed in ["buildpack.released", "stack.released", "stemcell.released"] {
        assert!(unknown.contains(allowed), "{unknown}");
    }
    assert!(matches!(
        parse(r#"{"type":"buildpack.released","buildpack":"b","version":"1.x"}"#),
        IntakeError::InvalidVersion {
            field: "version",
            ..
        }
    ));
    assert_eq!(
        parse(r#"{"type":"buildpack.released","buildpack":"","version":"1"}"#),
        IntakeError::EmptyField { field: "buildpack" }
    );
    let name = parse(r#"{"type":"buildpack.released","buildpack":"a b","version":"1"}"#);
    assert!(matches!(
        name,
        IntakeError::InvalidName {
            field: "buildpack",
            ..
        }
    ));
    assert!(name.to_string().contains("letters, digits"), "{name}");
    assert!(matches!(parse("{"), IntakeError::MalformedJson { .. }));
    assert!(matches!(parse(""), IntakeError::MalformedJson { .. }));
    assert!(matches!(
        parse(r#"{"type":"buildpack.released","buildpack":"b","version":1.1}"#),
        IntakeError::WrongType {
            field: "version",
            expected: "a string",
            found: "a number"
        }
    ));
    // Long hostile values are cut short in messages.
    let huge = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
    assert!(parse(&huge).to_string().len() < 300);
}

#[test]
fn domain_notices_serialize_to_bodies_both_accept() {
    let validator = validator();
    let notices = [
        Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: v("v1.10.29"),
            stack: Some("cflinuxfs4".into()),
        },
        Notice::Buildpack {
            buildpack: "go_buildpack".into(),
            version: v("1.10.48"),
            stack: None,
        },
        Notice::Stack {
            stack: "cflinuxfs4".into(),
            version: v("1.323.0"),
        },
        Notice::Stemcell {
            stemcell: "ubuntu-jammy".into(),
            version: v("1.622"),
        },
    ];
    for n in notices {
        let body = serde_json::to_string(&n).expect("serializes");
        assert_agree(&validator, &body, true);
        assert_eq!(notice::parse(body.as_bytes()), Ok(n));
    }
}
