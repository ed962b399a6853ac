//! Figure 3a: how long checking a webhook signature over a 10 KB notice
//! takes, for both schemes the webhook accepts. The anchor is the budget
//! that matters: GitHub gives a delivery 10 seconds in all.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use restager_shared::config::Secret;
use restager_shared::signature::{DEFAULT_TOLERANCE, github, standard_webhooks};
use serde_json::json;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::report::{Figure, Line};
use super::stats::Summary;

/// Size of the signed body.
pub const NOTICE_BYTES: usize = 10 * 1024;
/// GitHub's whole-delivery timeout, in microseconds.
const GITHUB_BUDGET_US: f64 = 10_000_000.0;

#[derive(Debug, thiserror::Error)]
pub enum VerifyBenchError {
    #[error("the bench could not sign its own notice: {0}")]
    Sign(String),
    #[error("a correctly signed notice was rejected: {0}")]
    Rejected(String),
}

/// A buildpack notice padded with release notes to exactly `size` bytes.
pub fn notice_body(size: usize) -> Vec<u8> {
    let head = r#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.30","stack":"cflinuxfs4","notes":""#;
    let tail = "\"}";
    let line = "* Add ruby 3.4.2, remove ruby 3.1.6 (CVE-2025-27219, CVE-2025-27220) ";
    let mut body = String::with_capacity(size);
    body.push_str(head);
    while body.len() + tail.len() < size {
        let room = size - tail.len() - body.len();
        body.push_str(&line[..room.min(line.len())]);
    }
    body.push_str(tail);
    body.into_bytes()
}

pub fn run(iterations: usize) -> Result<Figure, VerifyBenchError> {
    let started = Instant::now();
    let body = notice_body(NOTICE_BYTES);
    let whsec = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
    let gh_secret = Secret::new("It's a Secret to Everybody".to_owned());
    let now = SystemTime::now();
    let ts = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);

    let headers = standard_webhooks::signed_headers(
        std::slice::from_ref(&whsec),
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        ts,
        &body,
    )
    .map_err(|e| VerifyBenchError::Sign(e.to_string()))?;
    let mut map = http::HeaderMap::new();
    for (name, value) in &headers {
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| VerifyBenchError::Sign(e.to_string()))?;
        map.insert(*name, value);
    }
    let secrets = [whsec];
    let sw = time(iterations, || {
        standard_webhooks::verify_headers(&secrets, &map, &body, now, DEFAULT_TOLERANCE)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;

    let gh_sig = github::sign(&gh_secret, &body);
    let gh_secrets = [gh_secret];
    let gh = time(iterations, || {
        github::verify(&gh_secrets, Some(&gh_sig), &body).map_err(|e| e.to_string())
    })?;

    // The irreducible part: one HMAC-SHA256 over the same bytes.
    let raw = time(iterations, || {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"It's a Secret to Everybody")
            .map_err(|e| e.to_string())?;
        mac.update(&body);
        black_box(mac.finalize().into_bytes());
        Ok(())
    })?;

    let mut fig = Figure::new(
        "webhook_verify",
        format!("3a. Signature check of a {} KB notice", NOTICE_BYTES / 1024),
    );
    fig.settings = json!({ "body_bytes": body.len(), "iterations": iterations, "secrets": 1 });
    for (scheme, s) in [("Standard Webhooks", &sw), ("GitHub HMAC", &gh)] {
        fig.line(
            Line::new(format!("{scheme}: median"), s.median_us, "µs")
                .against("one bare HMAC-SHA256", raw.median_us),
        );
        fig.line(
            Line::new(format!("{scheme}: p99"), s.p99_us, "µs")
                .against("GitHub's 10 s delivery budget", GITHUB_BUDGET_US),
        );
    }
    fig.details = json!({ "standard_webhooks": sw, "github": gh, "bare_hmac_sha256": raw });
    fig.note("single thread, release-profile code of restager-shared's signature module; one configured secret");
    fig.wall_secs = started.elapsed().as_secs_f64();
    Ok(fig)
}

/// Times `check` `iterations` times after a warm-up; every call must succeed.
fn time(
    iterations: usize,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<Summary, VerifyBenchError> {
    for _ in 0..iterations.min(1000) {
        black_box(check()).map_err(VerifyBenchError::Rejected)?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        let r = black_box(check());
        samples.push(t.elapsed());
        r.map_err(VerifyBenchError::Rejected)?;
    }
    Ok(Summary::of(&samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_is_exactly_sized_json() {
        let body = notice_body(NOTICE_BYTES);
        assert_eq!(body.len(), NOTICE_BYTES);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(v["buildpack"], "ruby_buildpack");
    }
}
