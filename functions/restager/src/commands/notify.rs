//! `restager notify`: sign a release notice and send it to a restager, from
//! a CI pipeline or a release feed. The secret comes from
//! `RESTAGER_NOTICE_SECRET` (one `whsec_...` secret, the receiver's
//! `RESTAGER_NOTICE_SECRETS` holds it); the response is printed as received.
//!
//! Exit codes: 0 when the notice was taken (202, or 200 for a replay or a
//! duplicate), 1 when the receiver refused it or could not be reached (the
//! same `--id` may be sent again safely), 2 for a bad command line or secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use restager_shared::config::{ConfigError, Env, Source};
use restager_shared::domain::{Notice, Version};
use restager_shared::intake;
use restager_shared::signature::standard_webhooks;
use url::Url;

use super::{CommandError, read_notice};
use crate::cli::NotifyArgs;

pub const SECRET_VAR: &str = "RESTAGER_NOTICE_SECRET";
const ROUTE: &str = "/webhooks/notice";
const TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(source: &dyn Source, args: NotifyArgs) -> Result<(), CommandError> {
    let notice = notice_from_args(&args)?;
    let url = endpoint(&args.url)?;
    let env = Env(source);
    let secret = env.secret(
        SECRET_VAR,
        "set it to the whsec_... secret the receiver has in RESTAGER_NOTICE_SECRETS",
    )?;
    if let Err(e) = standard_webhooks::decode_secret(&secret) {
        return Err(ConfigError::InvalidSecret {
            name: SECRET_VAR,
            position: 1,
            count: 1,
            reason: e.reason(),
            expected: "one Standard Webhooks secret: whsec_ followed by the base64 of the key",
        }
        .into());
    }
    let body = serde_json::to_vec(&notice)
        .map_err(|e| CommandError::failed("cannot write the notice as JSON", e))?;
    let id = match &args.id {
        Some(id) => id.trim().to_string(),
        None => format!("msg_{}", uuid::Uuid::new_v4().simple()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let headers = standard_webhooks::signed_headers(std::slice::from_ref(&secret), &id, now, &body)
        .map_err(|e| CommandError::Usage(format!("cannot sign the notice: {e}")))?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| CommandError::failed("cannot set up the HTTP client", e))?;
    let mut request = client
        .post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    eprintln!("sending {notice} to {url} (webhook-id {id})");
    let response = request.send().await.map_err(|e| {
        CommandError::Failed(format!(
            "cannot reach {url}: {e}; nothing is known to have been received: send it again with --id {id}"
        ))
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| CommandError::failed("cannot read the answer", e))?;
    println!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    println!("{}", pretty(&text));
    if status.is_success() {
        return Ok(());
    }
    let again = if status.is_server_error() {
        format!(" send it again later with --id {id} (the same id is never processed twice)")
    } else {
        String::new()
    };
    Err(CommandError::Failed(format!(
        "{url} refused the notice with {status};{again}"
    )))
}

/// The receiver's notice route: `--url` as given when it names a path,
/// else its `/webhooks/notice`.
fn endpoint(raw: &str) -> Result<Url, CommandError> {
    let mut url = Url::parse(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            CommandError::Usage(format!(
                "--url `{}` is not an http(s) URL: give the restager to notify, e.g. https://restager.example.com",
                raw.chars().take(64).collect::<String>()
            ))
        })?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(ROUTE);
    }
    Ok(url)
}

/// JSON answers re-indented for people; anything else as received.
fn pretty(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

fn notice_from_args(args: &NotifyArgs) -> Result<Notice, CommandError> {
    if let Some(path) = &args.notice {
        return read_notice(path);
    }
    let raw_version = args.version.as_deref().ok_or_else(|| {
        CommandError::Usage(
            "say what was released: --buildpack NAME --version V [--stack S], --stack NAME --version V, \
             --stemcell NAME --version V, or --notice FILE"
                .into(),
        )
    })?;
    let version =
        Version::parse(raw_version).map_err(|e| CommandError::Usage(format!("--version: {e}")))?;
    let notice = match (&args.buildpack, &args.stack, &args.stemcell) {
        (Some(buildpack), stack, None) => Notice::Buildpack {
            buildpack: buildpack.clone(),
            version,
            stack: stack.clone(),
        },
        (None, Some(stack), None) => Notice::Stack {
            stack: stack.clone(),
            version,
        },
        (None, None, Some(stemcell)) => Notice::Stemcell {
            stemcell: stemcell.clone(),
            version,
        },
        _ => {
            return Err(CommandError::Usage(
                "--version needs one of --buildpack NAME (with an optional --stack), --stack NAME or --stemcell NAME"
                    .into(),
            ));
        }
    };
    // The receiver's own parser: a bad name is refused here, not by a 400.
    let body = serde_json::to_vec(&notice)
        .map_err(|e| CommandError::failed("cannot write the notice as JSON", e))?;
    intake::notice::parse(&body)
        .map_err(|e| CommandError::Usage(format!("not a valid notice: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_url_gets_the_notice_route() {
        assert_eq!(
            endpoint("https://restager.example.com")
                .expect("url")
                .as_str(),
            "https://restager.example.com/webhooks/notice"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/hooks/n")
                .expect("url")
                .as_str(),
            "http://127.0.0.1:8080/hooks/n"
        );
        assert!(endpoint("restager.example.com").is_err());
        assert!(endpoint("ftp://x/").is_err());
    }
}
