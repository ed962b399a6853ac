//! Issue #16's server hardening, checked against a real `restager serve`
//! over real HTTP: replay semantics, start-up validation of secrets, body
//! checks, slow clients, shutdown, limits and logs. Slow clients are plain
//! loopback sockets that send what they are told and stop by themselves;
//! every wait is on a condition with a generous deadline, never on speed.

use std::time::{SystemTime, UNIX_EPOCH};

use restager_shared::config::Secret;
use restager_shared::signature::{github as gh_sig, standard_webhooks};
use serde_json::{Value, json};

use super::{SECRET, foundation, notice_body, send_notice};

const GITHUB_SECRET: &str = "it's-a-github-secret";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A POST to `/webhooks/notice` signed for `id`, with extra (or replaced) headers.
async fn notice_with(
    base: &str,
    id: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let headers =
        standard_webhooks::signed_headers(&[Secret::new(SECRET)], id, now(), body).expect("sign");
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/notice"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    // An extra header replaces the signed one of the same name.
    for (name, value) in headers {
        if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            request = request.header(name, value);
        }
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read the answer");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, headers)
}

/// A GitHub `release` delivery for `repo` at `tag`, signed.
async fn github_release(base: &str, delivery: &str, repo: &str, tag: &str) -> (u16, Value) {
    let body = serde_json::to_vec(&json!({
        "action": "published",
        "release": {"id": 4711, "tag_name": tag, "name": tag, "body": null,
                    "draft": false, "prerelease": false, "published_at": "2026-11-30T10:00:00Z"},
        "repository": {"full_name": repo, "id": 99},
    }))
    .expect("json");
    let request = reqwest::Client::new()
        .post(format!("{base}/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "release")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            gh_sig::sign(&Secret::new(GITHUB_SECRET), &body),
        )
        .body(body);
    let (status, json, _) = answer(request).await;
    (status, json)
}

/// Item 4: a replayed `webhook-id` is answered 200 with the original run id,
/// whatever the notice did (queued, stemcell, not installed); ids are
/// recorded only after the signature check; blank ids and timestamps are 400.
#[tokio::test]
async fn a_replayed_message_is_answered_200_with_the_original_run_id() {
    let f = foundation(2).await;
    let data = tempfile::tempdir().expect("temp dir");
    let serving = f.restager(data.path()).arg("serve").serve().await;

    let stemcell = br#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.623"}"#;
    let missing =
        br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"9.9.9"}"#;
    for (id, body, queued) in [
        ("msg_replay_bp", &notice_body()[..], 2),
        ("msg_replay_stemcell", &stemcell[..], 0),
        ("msg_replay_missing", &missing[..], 0),
    ] {
        let (status, first) = send_notice(&serving.url, body, id).await;
        assert_eq!(status, 202, "{id}: {first}");
        assert_eq!(first["queued"], queued, "{id}: {first}");
        for _ in 0..2 {
            let (status, again) = send_notice(&serving.url, body, id).await;
            assert_eq!(
                status, 200,
                "{id}: a replay is not processed again: {again}"
            );
            assert_eq!(again["status"], "duplicate", "{again}");
            assert_eq!(again["run_id"], first["run_id"], "{again}");
        }
    }
    // A not-installed notice under a new id is processed again (the
    // foundation may have the version by now).
    let (status, fresh) = send_notice(&serving.url, missing, "msg_replay_missing_2").await;
    assert_eq!(status, 202, "{fresh}");

    // A forged request never records its id: the genuine one is processed.
    let forged = reqwest::Client::new()
        .post(format!("{}/webhooks/notice", serving.url))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_first_forged")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", "v1,Zm9yZ2Vk")
        .body(stemcell.to_vec());
    assert_eq!(answer(forged).await.0, 401);
    let (status, genuine) = send_notice(&serving.url, stemcell, "msg_first_forged").await;
    assert_eq!(
        status, 202,
        "not taken for a replay of the forged id: {genuine}"
    );

    // Blank signing headers are the sender's bug: 400, naming the header.
    for header in ["webhook-id", "webhook-timestamp"] {
        let (status, refused, _) =
            notice_with(&serving.url, "msg_blank", stemcell, &[(header, "")]).await;
        assert_eq!(status, 400, "{header}: {refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap_or_default()
                .contains(header),
            "{refused}"
        );
    }
    let stopped = serving.terminate().await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
}

/// Item 5: every notice secret is decoded at start-up (exit 2 naming the
/// variable, never echoing the secret); no webhook secret at all is a
/// start-up warning that both routes refuse everything.
#[tokio::test]
async fn unusable_secrets_stop_start_up_and_missing_ones_are_warned_about() {
    let f = foundation(0).await;
    let data = tempfile::tempdir().expect("temp dir");
    for bad in [
        "whsec_!!notbase64",
        "whsec_",
        "whsec_dGVzdA==,whsec_***",
        "hunter2",
    ] {
        let run = f
            .restager(data.path())
            .env("RESTAGER_NOTICE_SECRETS", bad)
            .arg("serve")
            .run()
            .await;
        assert_eq!(run.code, Some(2), "{bad}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("RESTAGER_NOTICE_SECRETS"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("unusable"), "{}", run.stderr);
        let secret_part = bad.rsplit(',').next().unwrap_or(bad);
        let shown = secret_part.trim_start_matches("whsec_");
        if !shown.is_empty() {
            assert!(!run.stderr.contains(shown), "{bad} echoed: {}", run.stderr);
        }
        assert!(!run.stdout.contains("listening on"), "{}", run.stdout);
    }

    let serving = f
        .restager(data.path())
        .env("RESTAGER_NOTICE_SECRETS", "")
        .arg("serve")
        .serve()
        .await;
    let stopped = serving.terminate().await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains("warning: neither RESTAGER_GITHUB_SECRETS nor RESTAGER_NOTICE_SECRETS")
            && stopped.stderr.contains("will refuse every request"),
        "{}",
        stopped.stderr
    );
}

/// Item 6: a repeated JSON key is 400 naming it; an encoded body is 415;
/// a release tag that is not a version is 200 "ignored".
#[tokio::test]
async fn duplicate_keys_encoded_bodies_and_non_version_tags() {
    let f = foundation(1).await;
    let data = tempfile::tempdir().expect("temp dir");
    let serving = f
        .restager(data.path())
        .env("RESTAGER_GITHUB_SECRETS", GITHUB_SECRET)
        .arg("serve")
        .serve()
        .await;

    let twice = br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.0.0","version":"1.10.29"}"#;
    let (status, refused) = send_notice(&serving.url, twice, "msg_twice").await;
    assert_eq!(status, 400, "{refused}");
    let said = refused["error"].as_str().unwrap_or_default();
    assert!(
        said.contains("`version`") && said.contains("twice"),
        "{said}"
    );

    for encoding in ["gzip", "br", "identity, deflate"] {
        let (status, refused, _) = notice_with(
            &serving.url,
            "msg_encoded",
            &notice_body(),
            &[("content-encoding", encoding)],
        )
        .await;
        assert_eq!(status, 415, "{encoding}: {refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap_or_default()
                .contains("Content-Encoding"),
            "{refused}"
        );
    }
    let (status, fine, _) = notice_with(
        &serving.url,
        "msg_identity",
        &notice_body(),
        &[("content-encoding", "identity")],
    )
    .await;
    assert_eq!(status, 202, "identity is no encoding: {fine}");

    let (status, ignored) = github_release(
        &serving.url,
        "d-latest",
        "cloudfoundry/ruby-buildpack",
        "latest",
    )
    .await;
    assert_eq!(status, 200, "{ignored}");
    assert_eq!(ignored["status"], "ignored", "{ignored}");
    assert!(
        ignored["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("tag `latest` is not a version"),
        "{ignored}"
    );
    let stopped = serving.terminate().await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
}
