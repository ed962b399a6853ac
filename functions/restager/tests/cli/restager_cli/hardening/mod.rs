//! Issue #16's server hardening, checked against a real `restager serve`
//! over real HTTP: replay semantics, start-up validation of secrets, body
//! checks, slow clients, shutdown, limits and logs. Slow clients are plain
//! loopback sockets that send what they are told and stop by themselves;
//! every wait is on a condition with a generous deadline, never on speed.

use std::time::Duration;

use restager_shared::config::Secret;
use restager_shared::signature::github as gh_sig;
use serde_json::{Value, json};

use std::collections::BTreeSet;

use cf_sim::{AppSpec, AppState};

use super::{
    OLD, SECRET, answer, forged_notice, foundation, guids, notice_body, notice_with, now, restager,
    send_notice,
};
use crate::support::eventually;

const GITHUB_SECRET: &str = "it's-a-github-secret";

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
    let serving = f.serve().await;

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
    let forged =
        forged_notice(&serving.url, "msg_first_forged", &now().to_string()).body(stemcell.to_vec());
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
    serving.stop().await;
}

/// Item 5: every notice secret is decoded at start-up (exit 2 naming the
/// variable, never echoing the secret); no webhook secret at all is a
/// start-up warning that both routes refuse everything.
#[tokio::test]
async fn unusable_secrets_stop_start_up_and_missing_ones_are_warned_about() {
    let f = foundation(0).await;
    for bad in [
        "whsec_!!notbase64",
        "whsec_",
        "whsec_dGVzdA==,whsec_***",
        "hunter2",
    ] {
        let run = f
            .restager()
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

    let serving = f.serve_with(&[("RESTAGER_NOTICE_SECRETS", "")]).await;
    let stopped = serving.stop().await;
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
    let serving = f
        .serve_with(&[("RESTAGER_GITHUB_SECRETS", GITHUB_SECRET)])
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
    serving.stop().await;
}

/// What a bounded loopback client saw.
#[derive(Debug)]
struct Seen {
    /// Everything the server sent.
    received: Vec<u8>,
    /// The server closed the connection (EOF or reset) before `hold` ran out.
    closed: bool,
    /// How many of the client's chunks were written before it stopped.
    sent: usize,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// The status code of the first response, if one arrived.
    fn status(&self) -> Option<u16> {
        let text = self.text();
        let line = text.lines().next()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The JSON body of the first response, if one arrived.
    fn json(&self) -> Option<Value> {
        let text = self.text();
        let (_, body) = text.split_once("\r\n\r\n")?;
        serde_json::from_str(body.trim()).ok()
    }
}

/// A loopback client that writes `chunks` with `pause` between them, then
/// keeps the connection open until the server closes it or `hold` ends. It
/// stops writing as soon as the server closes, so it never outlives `hold`
/// plus its own pacing.
async fn slow_client(addr: &str, chunks: Vec<Vec<u8>>, pause: Duration, hold: Duration) -> Seen {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to serve");
    let (mut reader, mut writer) = stream.into_split();
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
    let reading = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut buf = [0u8; 8192];
        let closed = loop {
            match tokio::time::timeout(hold, reader.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        let _ = closed_tx.send(true);
        (received, closed)
    });
    let mut sent = 0;
    for chunk in chunks {
        if *closed_rx.borrow() || writer.write_all(&chunk).await.is_err() {
            break;
        }
        sent += 1;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = closed_rx.wait_for(|c| *c) => break,
        }
    }
    let (received, closed) = reading.await.expect("the reader ends");
    drop(writer);
    Seen {
        received,
        closed,
        sent,
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

fn bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// One byte per chunk.
fn trickle(text: &str) -> Vec<Vec<u8>> {
    text.bytes().map(|b| vec![b]).collect()
}

const HEAD: &str = "POST /webhooks/notice HTTP/1.1\r\nhost: x\r\n";

/// Item 1: a request head or body that does not arrive in time ends the
/// connection (with 408 where a response is still possible), a client
/// dribbling one byte at a time is cut off, and connections are capped.
#[tokio::test]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    let f = foundation(0).await;
    let serving = f
        .serve_with(&[
            ("RESTAGER_HEADER_READ_TIMEOUT", "1s"),
            ("RESTAGER_BODY_READ_TIMEOUT", "1s"),
        ])
        .await;
    let addr = host_port(&serving.url);
    let hold = Duration::from_secs(60);
    let pause = Duration::from_millis(250);

    // Half a head, then silence: closed (no request exists to answer).
    let half = slow_client(&addr, vec![bytes(HEAD)], pause, hold).await;
    assert!(
        half.closed,
        "a half-sent head kept the connection: {half:?}"
    );
    // Nothing at all: closed.
    let silent = slow_client(&addr, vec![], pause, hold).await;
    assert!(silent.closed, "a silent connection stayed open: {silent:?}");
    // The head and `{` of a 50-byte body: 408 with the JSON error, closed.
    let head = format!("{HEAD}content-type: application/json\r\ncontent-length: 50\r\n\r\n{{");
    let stalled = slow_client(&addr, vec![bytes(&head)], pause, hold).await;
    assert_eq!(stalled.status(), Some(408), "{}", stalled.text());
    let error = stalled.json().expect("a JSON body")["error"].clone();
    assert!(
        error
            .as_str()
            .unwrap_or_default()
            .contains("RESTAGER_BODY_READ_TIMEOUT"),
        "{error}"
    );
    assert!(stalled.closed, "{stalled:?}");
    // One byte of the head every 250 ms (a 25 s head): cut off long before.
    let head_bytes = trickle(&format!("{HEAD}x-padding: {}\r\n\r\n", "p".repeat(40)));
    let total = head_bytes.len();
    let dribble = slow_client(&addr, head_bytes, pause, hold).await;
    assert!(dribble.closed && dribble.sent < total, "{dribble:?}");
    // The same for a body: the head at once, the body a byte at a time: 408.
    let mut chunks = vec![bytes(&format!(
        "{HEAD}content-type: application/json\r\ncontent-length: 60\r\n\r\n"
    ))];
    chunks.extend(trickle(&" ".repeat(60)));
    let total = chunks.len();
    let dribble = slow_client(&addr, chunks, pause, hold).await;
    assert_eq!(dribble.status(), Some(408), "{}", dribble.text());
    assert!(dribble.sent < total, "{dribble:?}");
    // Still serving everyone else.
    let (status, _, _) =
        answer(reqwest::Client::new().get(format!("{}/healthz", serving.url))).await;
    assert_eq!(status, 200);
    serving.stop().await;

    // The cap: two held connections, the third is answered 503 and closed.
    let capped = f
        .serve_with(&[
            ("RESTAGER_MAX_CONNECTIONS", "2"),
            ("RESTAGER_HEADER_READ_TIMEOUT", "120s"),
        ])
        .await;
    let addr = host_port(&capped.url);
    let held: Vec<tokio::net::TcpStream> = {
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            tokio::io::AsyncWriteExt::write_all(&mut s, HEAD.as_bytes())
                .await
                .expect("write");
            held.push(s);
        }
        held
    };
    let third = slow_client(&addr, vec![bytes(HEAD)], pause, hold).await;
    assert_eq!(third.status(), Some(503), "{}", third.text());
    assert!(
        third.json().expect("JSON")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("RESTAGER_MAX_CONNECTIONS"),
        "{}",
        third.text()
    );
    assert!(third.closed);
    drop(held);
    // Once they are gone, new connections are served again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, _) =
            answer(reqwest::Client::new().get(format!("{}/healthz", capped.url))).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    capped.stop().await;
}

/// Item 2: SIGTERM stops serve within the grace period although a client
/// holds a half-sent request open, and that client's connection is closed.
#[tokio::test]
async fn shutdown_is_bounded_by_the_grace_period_whatever_clients_do() {
    let f = foundation(0).await;
    let serving = f
        .serve_with(&[
            ("RESTAGER_HEADER_READ_TIMEOUT", "600s"),
            ("RESTAGER_BODY_READ_TIMEOUT", "600s"),
            ("RESTAGER_SHUTDOWN_GRACE", "1s"),
        ])
        .await;
    let addr = host_port(&serving.url);
    // A request whose body never completes. `Expect: 100-continue` makes the
    // server say when it starts reading the body, so SIGTERM is sent only
    // once the request is surely in progress (no sleep, no race).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "{HEAD}content-type: application/json\r\ncontent-length: 50\r\nexpect: 100-continue\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write the head");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("100 Continue") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("the server asks for the body")
            .expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    stream
        .write_all(b"{")
        .await
        .expect("write a byte of the body");
    // The client holds the connection for up to 10 minutes, far longer than
    // the test waits for serve to stop.
    let client = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(600), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => continue,
                Err(_) => break false,
            }
        }
    });
    let stopped = serving.stop().await;
    assert!(stopped.stderr.contains("stopped"), "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains("still open after the shutdown grace period"),
        "{}",
        stopped.stderr
    );
    let closed = tokio::time::timeout(Duration::from_secs(60), client)
        .await
        .expect("the held connection is closed when serve exits")
        .expect("client task");
    assert!(closed, "the connection outlived serve");
}

/// Item 3: one body limit with one JSON 413, checked on the declared
/// length before any body is read, and again while reading one without.
#[tokio::test]
async fn one_body_limit_is_checked_on_the_declared_length_first() {
    let f = foundation(0).await;
    let serving = f.serve().await;
    let addr = host_port(&serving.url);
    let hold = Duration::from_secs(60);
    let limit = restager_shared::webhook::MAX_BODY_BYTES;
    let refused = |seen: &Seen| {
        assert_eq!(seen.status(), Some(413), "{}", seen.text());
        assert!(
            seen.text()
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{}",
            seen.text()
        );
        let error = seen.json().expect("a JSON body")["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("at most 1048576 bytes (1 MiB)"), "{error}");
        error
    };
    // Declared sizes over the limit are refused before a byte of the body
    // is sent: the client sends only the head and waits.
    for declared in [limit + 1, 2 * limit, 3 * limit, 104_857_600] {
        let head =
            format!("{HEAD}content-type: application/json\r\ncontent-length: {declared}\r\n\r\n");
        let seen = slow_client(&addr, vec![bytes(&head)], Duration::from_millis(10), hold).await;
        let error = refused(&seen);
        assert!(error.contains(&declared.to_string()), "{error}");
    }
    // Without a declared length (chunked), the same 413 once the body
    // passes the limit; the client stops there.
    let head =
        format!("{HEAD}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
    let mut chunks = vec![bytes(&head)];
    let piece = 64 * 1024;
    let mut sent = 0;
    while sent <= limit {
        let mut chunk = format!("{piece:x}\r\n").into_bytes();
        chunk.extend(std::iter::repeat_n(b' ', piece));
        chunk.extend_from_slice(b"\r\n");
        chunks.push(chunk);
        sent += piece;
    }
    let seen = slow_client(&addr, chunks, Duration::from_millis(1), hold).await;
    refused(&seen);
    // At the limit exactly, the router judges the request (here: unsigned).
    let body = vec![b' '; limit];
    let (status, _, _) = answer(
        reqwest::Client::new()
            .post(format!("{}/webhooks/notice", serving.url))
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(status, 401);
    serving.stop().await;
}

/// Item 7: at the default level serve logs one line per accepted notice,
/// finished restage and refused request, under their own targets, without
/// colour codes when stderr is not a terminal; JSON on request; `--help`
/// documents RUST_LOG and RESTAGER_LOG_FORMAT.
#[tokio::test]
async fn serve_logs_notices_restages_and_refusals_under_their_own_targets() {
    let f = foundation(2).await;
    let serving = f.serve_with(&[("NO_COLOR", "")]).await;
    let (status, accepted) = send_notice(&serving.url, &notice_body(), "msg_logged_1").await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().expect("run id").to_string();
    let forged =
        forged_notice(&serving.url, "msg_forged_7", &now().to_string()).body(notice_body());
    assert_eq!(answer(forged).await.0, 401);
    f.wait_until_all_patched(&serving).await;
    eventually(
        Duration::from_secs(60),
        || serving.stderr().matches("restager::restage").count() >= 2,
        || serving.stderr(),
    )
    .await;
    let stopped = serving.stop().await;
    let log = stopped.stderr;
    assert!(!log.contains('\u{1b}'), "ANSI codes on a pipe:\n{log}");
    let line = |target: &str, needle: &str| {
        log.lines()
            .find(|l| l.contains(target) && l.contains(needle))
            .unwrap_or_else(|| panic!("no {target} line with {needle}:\n{log}"))
            .to_string()
    };
    // Each line, and the parts it must have.
    let mentions = |line: &str, parts: &[&str]| {
        for part in parts {
            assert!(line.contains(part), "{part} missing: {line}");
        }
    };
    let notice = line("restager::accepted", "msg_logged_1");
    mentions(
        &notice,
        &["/webhooks/notice", &run_id, "queued=2", "ruby_buildpack"],
    );
    let restage = line("restager::restage", "shop-0");
    mentions(&restage, &["outcome=restaged", "duration="]);
    let refusal = line("restager::refused", "msg_forged_7");
    mentions(
        &refusal,
        &[
            "/webhooks/notice",
            "status=401",
            "client=127.0.0.1:",
            "signature",
        ],
    );
    assert!(!log.contains(SECRET), "a secret was logged");

    // JSON lines on request.
    let serving = f.serve_with(&[("RESTAGER_LOG_FORMAT", "json")]).await;
    let (status, _) = get_status(&serving.url, "/no/such/route").await;
    assert_eq!(status, 404);
    let stopped = serving.terminate().await;
    let refused: Vec<Value> = stopped
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .filter(|v: &Value| v["target"] == "restager::refused")
        .collect();
    assert_eq!(refused.len(), 1, "{}", stopped.stderr);
    assert_eq!(refused[0]["fields"]["status"], 404, "{}", refused[0]);
    let bad = f
        .restager()
        .env("RESTAGER_LOG_FORMAT", "xml")
        .arg("serve")
        .run()
        .await;
    bad.fails(2, &["RESTAGER_LOG_FORMAT"]);

    let help = restager().args(["serve", "--help"]).run().await.ok();
    for documented in ["RUST_LOG", "RESTAGER_LOG_FORMAT", "restager::refused"] {
        assert!(
            help.stdout.contains(documented),
            "{documented}:\n{}",
            help.stdout
        );
    }
}

async fn get_status(base: &str, path: &str) -> (u16, Value) {
    let (status, json, _) = answer(reqwest::Client::new().get(format!("{base}{path}"))).await;
    (status, json)
}

/// Every `--apps` value the flag accepts works, down to one app, whatever
/// the seed: a run that queued nothing is still recorded and reported.
#[tokio::test]
async fn demo_works_for_the_smallest_foundations_and_other_seeds() {
    let mut cases: Vec<(u32, u64)> = (1..=4).map(|apps| (apps, 7)).collect();
    cases.extend((1..=3).map(|seed| (1, seed)));
    for (apps, seed) in cases {
        let run = restager()
            .args(["demo", "--json", "--apps", &apps.to_string()])
            .args(["--seed", &seed.to_string()])
            .run()
            .await;
        assert_eq!(
            run.code,
            Some(0),
            "demo --apps {apps} --seed {seed}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        let report = run.json();
        let listed = report["apps"].as_array().expect("apps").len() as u64;
        let counted: u64 = ["restaged", "already_current", "skipped", "failed"]
            .iter()
            .map(|k| report[*k].as_u64().expect("a count"))
            .sum();
        assert_eq!(listed, counted, "--apps {apps} --seed {seed}: {report}");
        assert!(listed <= u64::from(apps), "{report}");
        assert!(
            report["restaged"].as_u64().expect("restaged") >= 1,
            "--apps {apps} --seed {seed} restaged nothing: {report}"
        );
        assert_eq!(report["failed"], 0, "{report}");
    }
}

/// The run id in a 202 that queued nothing (a stemcell notice, a version
/// the foundation does not have yet) is found by `status`, which says why.
#[tokio::test]
async fn run_ids_of_notices_that_queue_nothing_are_found_by_status_with_the_reason() {
    let f = foundation(1).await;
    let serving = f.serve().await;
    let stemcell = br#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622"}"#;
    let (status, stemcell_answer) = send_notice(&serving.url, stemcell, "msg_stemcell_9").await;
    assert_eq!(status, 202, "{stemcell_answer}");
    let missing =
        br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"9.9.9"}"#;
    let (status, missing_answer) = send_notice(&serving.url, missing, "msg_missing_9").await;
    assert_eq!(status, 202, "{missing_answer}");
    assert_eq!(missing_answer["queued"], 0, "{missing_answer}");
    serving.stop().await;

    for (answer, why) in [
        (&stemcell_answer, "stemcell releases need no app action"),
        (&missing_answer, "9.9.9 is not installed"),
    ] {
        let run_id = answer["run_id"].as_str().expect("a run id");
        let detail = f.json(&["status", run_id, "--json"]).await;
        assert_eq!(detail["run_id"], run_id, "{detail}");
        let said = detail["nothing_queued"].as_str().unwrap_or_default();
        assert!(said.contains(why), "{detail}");
        let table = f.ok(&["status", run_id]).await;
        assert!(
            table.stdout.contains("Nothing was queued"),
            "{}",
            table.stdout
        );
        assert!(table.stdout.contains(why), "{}", table.stdout);
        assert_eq!(
            table.stdout.matches("nothing was queued").count()
                + table.stdout.matches("Nothing was queued").count(),
            1,
            "said once: {}",
            table.stdout
        );
    }
}

/// `outdated` classifies each app as `plan` does (queued, or skipped with
/// the reason), and every outdated app is in some run of the sweep, even
/// in a group where every app is left alone.
#[tokio::test]
async fn outdated_says_what_sweep_will_do_and_every_outdated_app_is_in_a_sweep_run() {
    let f = foundation(2).await;
    f.sim.install_buildpack("go_buildpack", "1.9.2");
    let mut opted_out = AppSpec::new("opted-out-shop");
    opted_out.buildpack_version = Some(OLD.into());
    opted_out
        .labels
        .insert("restager.io/opt-out".into(), "true".into());
    let opted_out = f.sim.add_app(opted_out);
    // A group whose only app is stopped: its run queues nothing.
    let mut old_go = AppSpec::new("stopped-go");
    old_go.buildpack = "go_buildpack".into();
    old_go.buildpack_version = Some("1.9.1".into());
    old_go.state = AppState::Stopped;
    let old_go = f.sim.add_app(old_go);

    let outdated = f.json(&["outdated", "--json"]).await;
    let rows = outdated.as_array().expect("rows");
    let row = |guid: &str| {
        rows.iter()
            .find(|r| r["app_guid"] == guid)
            .unwrap_or_else(|| panic!("{guid} missing from {outdated}"))
    };
    for guid in &f.outdated {
        assert_eq!(row(guid)["sweep"], "queued", "{}", row(guid));
    }
    assert_eq!(row(&opted_out)["sweep"], "skipped");
    assert!(
        row(&opted_out)["reason"]
            .as_str()
            .expect("a reason")
            .contains("opted out")
    );
    assert_eq!(row(&old_go)["sweep"], "skipped");
    let table = f.ok(&["outdated"]).await;
    assert!(table.stdout.contains("will be queued"), "{}", table.stdout);
    assert!(
        table.stdout.contains("skipped: opted out"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains(&format!("queues {} restages", f.outdated.len())),
        "{}",
        table.stdout
    );

    let sweep = f.json(&["sweep", "--json"]).await;
    let mut in_runs = BTreeSet::new();
    for run in sweep["runs"].as_array().expect("runs") {
        let run_id = run["run_id"].as_str().expect("a run id");
        let detail = f.json(&["status", run_id, "--json"]).await;
        in_runs.extend(guids(&detail["apps"], "app_guid"));
    }
    let listed = guids(&outdated, "app_guid");
    assert!(
        listed.is_subset(&in_runs),
        "outdated apps in no run: {:?}\nsweep: {sweep}",
        listed.difference(&in_runs).collect::<Vec<_>>()
    );
}

/// Item 16: `status` fits 100 columns (short ids, times to the second,
/// wrapped reasons) and `--wide` shows everything; `status --json` has no
/// repeated key; `plan` shows each app's current version beside the
/// target; `sweep --dry-run` shows what a sweep would do and queues nothing.
#[tokio::test]
async fn status_fits_a_terminal_plan_shows_versions_and_sweep_has_a_dry_run() {
    let f = foundation(3).await;

    let plan = f.plan("1.10.29", &[]).await;
    let row = plan
        .stdout
        .lines()
        .find(|l| l.contains("shop-0"))
        .unwrap_or_else(|| panic!("{}", plan.stdout));
    assert!(row.contains(OLD) && row.contains("1.10.29"), "{row}");
    let json = f.plan("1.10.29", &["--json"]).await.json();
    for app in json["restage"].as_array().expect("restage") {
        assert_eq!(app["current_version"], OLD, "{app}");
    }
    let missing = f.plan("9.9.9", &[]).await;
    assert_eq!(
        missing
            .stdout
            .to_ascii_lowercase()
            .matches("nothing would be queued")
            .count()
            + missing
                .stdout
                .to_ascii_lowercase()
                .matches("nothing was queued")
                .count(),
        1,
        "{}",
        missing.stdout
    );

    let dry = f.json(&["sweep", "--dry-run", "--json"]).await;
    assert_eq!(dry["dry_run"], true);
    let would: BTreeSet<String> = dry["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|r| guids(&r["queue"], "app_guid"))
        .collect();
    assert_eq!(would, f.outdated, "{dry}");
    let text = f.ok(&["sweep", "--dry-run"]).await;
    assert!(text.stdout.contains("would be queued"), "{}", text.stdout);
    assert!(
        text.stdout.contains("nothing was queued"),
        "{}",
        text.stdout
    );
    // Nothing was queued or recorded by the dry run.
    let status = f.json(&["status", "--json"]).await;
    assert_eq!(status, json!([]), "{status}");

    // A real run with a long skip reason (a stopped app's) to show.
    let serving = f.serve().await;
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_status_16").await;
    assert_eq!(status, 202, "{answer}");
    let run_id = answer["run_id"].as_str().expect("run id").to_string();
    f.wait_until_all_patched(&serving).await;
    serving.stop().await;

    for args in [vec!["status"], vec!["status", run_id.as_str()]] {
        let out = f.restager().args(args.clone()).run().await.ok();
        for line in out.stdout.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
        // Times to the second: no fractions, no offsets.
        assert!(!out.stdout.contains("+00:00"), "{}", out.stdout);
    }
    let list = f.ok(&["status"]).await;
    assert!(
        list.stdout.contains(&run_id[..8]) && !list.stdout.contains(&run_id),
        "{}",
        list.stdout
    );
    let wide = f.ok(&["status", "--wide"]).await;
    assert!(wide.stdout.contains(&run_id), "{}", wide.stdout);
    let detail = f.restager().args(["status", &run_id[..8]]).run().await.ok();
    assert!(
        detail.stdout.contains("stopped-shop"),
        "the short id works: {}",
        detail.stdout
    );
    assert!(detail.stdout.contains(&run_id), "{}", detail.stdout);
    let wide_detail = f.ok(&["status", &run_id, "--wide"]).await;
    assert!(
        wide_detail.stdout.lines().any(|l| l.chars().count() > 100),
        "--wide does not wrap:\n{}",
        wide_detail.stdout
    );

    let raw = f.ok(&["status", &run_id, "--json"]).await;
    assert_eq!(raw.stdout.matches("\"apps\":").count(), 1, "{}", raw.stdout);
    let detail = raw.json();
    assert_eq!(
        detail["app_count"].as_u64(),
        Some(detail["apps"].as_array().expect("apps").len() as u64),
        "{detail}"
    );
}

/// Item 14: every setting in the README's table is a flag, and each
/// subcommand's `--help` lists its own options before the shared settings,
/// which come under their headings.
#[tokio::test]
async fn every_documented_setting_is_a_flag_and_help_lists_a_commands_own_options_first() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Configuration section");
    let documented: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or_default().to_string();
            first
                .split('`')
                .filter(|w| {
                    ["CF_", "RESTAGER_", "SLACK_"]
                        .iter()
                        .any(|p| w.starts_with(p))
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(documented.len() >= 30, "{documented:?}");
    let help = restager().arg("--help").run().await.ok().stdout;
    for name in &documented {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} is documented but has no flag:\n{help}"
        );
    }

    for (command, own) in [
        ("plan", "--buildpack"),
        ("status", "--wide"),
        ("sweep", "--dry-run"),
        ("demo", "--apps"),
    ] {
        let help = restager().args([command, "--help"]).run().await.ok().stdout;
        let at = |needle: &str| {
            help.find(needle)
                .unwrap_or_else(|| panic!("{command} --help lacks {needle}:\n{help}"))
        };
        assert!(at(own) < at("\nCloud Foundry:\n"), "{command}:\n{help}");
        for heading in [
            "Cloud Foundry:",
            "Webhooks and notices:",
            "Scope:",
            "Worker:",
            "serve:",
        ] {
            at(heading);
        }
    }
}

/// Item 18: `--listen` takes a host name; a bad flag value is named by the
/// flag; counts read as English ("1 update", not "1 updates").
#[tokio::test]
async fn listen_resolves_names_flag_errors_name_the_flag_and_counts_are_plural_aware() {
    let f = foundation(0).await;
    let serving = f
        .restager()
        .args(["serve", "--listen", "localhost:0"])
        .serve()
        .await;
    let (status, _) = get_status(&serving.url, "/healthz").await;
    assert_eq!(status, 200, "{}", serving.url);
    serving.stop().await;

    let bad = f
        .restager()
        .args(["serve", "--listen", "localhost"])
        .run()
        .await;
    bad.fails(2, &["--listen=`localhost`", "RESTAGER_LISTEN"]);

    let demo = restager()
        .args(["demo", "--apps", "1", "--quiet"])
        .run()
        .await
        .ok();
    assert!(demo.stdout.contains("1 update)"), "{}", demo.stdout);
    for wrong in ["1 updates", "1 posts", "1 messages", "app(s)", "message(s)"] {
        assert!(!demo.stdout.contains(wrong), "{wrong}: {}", demo.stdout);
    }
}

/// Item 15: `restager notify` signs and sends a notice as a CI step would,
/// prints the answer, is idempotent under `--id`, and says what went wrong.
#[tokio::test]
async fn notify_signs_and_sends_a_notice_and_prints_the_answer() {
    let f = foundation(2).await;
    let serving = f.serve().await;
    let notify = |extra: &[&str]| {
        let mut args = vec!["notify", "--url", serving.url.as_str()];
        args.extend_from_slice(extra);
        restager()
            .env("RESTAGER_NOTICE_SECRET", SECRET)
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    let bp = [
        "--buildpack",
        "ruby_buildpack",
        "--version",
        "1.10.29",
        "--id",
        "ci-run-42",
    ];
    let sent = notify(&bp).run().await.ok();
    assert!(sent.stdout.starts_with("202 Accepted"), "{}", sent.stdout);
    assert!(sent.stdout.contains("\"queued\": 2"), "{}", sent.stdout);
    // The same --id again (a CI retry): 200, the same run, exit 0.
    let again = notify(&bp).run().await.ok();
    assert!(again.stdout.starts_with("200 OK"), "{}", again.stdout);
    assert!(again.stdout.contains("duplicate"), "{}", again.stdout);

    let stemcell = notify(&["--stemcell", "ubuntu-jammy", "--version", "1.623"])
        .run()
        .await
        .ok();
    assert!(stemcell.stdout.starts_with("202"), "{}", stemcell.stdout);

    // A secret the receiver does not have: 401 printed, exit 1.
    let wrong = restager()
        .env(
            "RESTAGER_NOTICE_SECRET",
            "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==",
        )
        .args([
            "notify",
            "--url",
            &serving.url,
            "--stack",
            "cflinuxfs4",
            "--version",
            "1.2.3",
        ])
        .run()
        .await;
    assert_eq!(wrong.code, Some(1), "{}\n{}", wrong.stdout, wrong.stderr);
    assert!(wrong.stdout.starts_with("401"), "{}", wrong.stdout);
    // The 401's hint names the helper that now exists.
    let unsigned = reqwest::Client::new()
        .post(format!("{}/webhooks/notice", serving.url))
        .header("content-type", "application/json")
        .body(notice_body());
    let (_, refused, _) = answer(unsigned).await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("restager notify"),
        "{refused}"
    );
    serving.stop().await;

    // No secret, or an unusable one: exit 2 naming the variable.
    for env in [None, Some("whsec_!!")] {
        let mut cmd = restager().args([
            "notify",
            "--url",
            "http://127.0.0.1:9",
            "--stack",
            "cflinuxfs4",
            "--version",
            "1.2.3",
        ]);
        if let Some(value) = env {
            cmd = cmd.env("RESTAGER_NOTICE_SECRET", value);
        }
        let run = cmd.run().await;
        assert_eq!(run.code, Some(2), "{env:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("RESTAGER_NOTICE_SECRET"),
            "{}",
            run.stderr
        );
    }
    // Nobody listening: exit 1 with the id to retry with.
    let down = restager()
        .env("RESTAGER_NOTICE_SECRET", SECRET)
        .args([
            "notify",
            "--url",
            "http://127.0.0.1:9",
            "--stack",
            "cflinuxfs4",
        ])
        .args(["--version", "1.2.3", "--id", "retry-me"])
        .run()
        .await;
    down.fails(1, &["--id retry-me"]);
}

/// Item 17: the demo's progress names its phases and its total is the final
/// table's (the last progress line is also printed when stderr is no terminal).
#[tokio::test]
async fn demo_progress_counts_every_app_of_the_final_table() {
    let run = restager().args(["demo", "--apps", "30"]).run().await.ok();
    let last = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("queued "))
        .unwrap_or_else(|| panic!("no progress line:\n{}", run.stderr));
    for phase in [
        "waiting for its space",
        "staging",
        "deploying",
        "done",
        "skipped",
        "rolled back",
        "failed",
    ] {
        assert!(last.contains(phase), "{phase}: {last}");
    }
    let count = |label: &str, text: &str| -> usize {
        let before = text
            .split(label)
            .next()
            .and_then(|t| t.split_whitespace().last())
            .unwrap_or_default();
        before
            .parse()
            .unwrap_or_else(|_| panic!("{label} in {text}"))
    };
    let number_after = |label: &str| -> usize {
        last.split(label)
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label} in {last}"))
    };
    let summary = run
        .stdout
        .lines()
        .find(|l| l.contains(" restaged, ") && l.contains(" already current, "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let table = count(" restaged", summary)
        + count(" already current", summary)
        + count(" skipped", summary)
        + count(" rolled back", summary)
        + count(" failed", summary);
    let shown = number_after("done ")
        + number_after("skipped ")
        + number_after("rolled back ")
        + number_after("failed ");
    assert_eq!(shown, table, "progress {last} vs table {summary}");
    assert_eq!(number_after("queued "), 0, "{last}");
    assert_eq!(
        number_after("done "),
        count(" restaged", summary) + count(" already current", summary),
        "{last} vs {summary}"
    );
}

/// Item 18: a Cloud Controller whose certificate is refused is named as a
/// TLS problem with both fixes, not as an outage. The listener is a real TLS
/// server with a self-signed certificate (a test fixture, localhost only).
#[tokio::test]
async fn a_refused_certificate_is_reported_as_tls_with_the_fixes() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(include_bytes!("self_signed.cert.pem"))
            .collect::<Result<_, _>>()
            .expect("fixture certificate");
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("self_signed.key.pem")).expect("fixture key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Handshakes until the test ends; each client refuses the certificate.
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)).await;
            });
        }
    });

    let run = restager()
        .envs([
            ("CF_API_URL", format!("https://localhost:{port}")),
            ("CF_CLIENT_ID", "restager".to_string()),
            ("CF_CLIENT_SECRET", "restager-secret".to_string()),
        ])
        .arg("outdated")
        .run()
        .await;
    server.abort();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for part in ["TLS certificate", "SSL_CERT_FILE", "CF_SKIP_SSL_VALIDATION"] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("is unavailable"), "{}", run.stderr);
}
