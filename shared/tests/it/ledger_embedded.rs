//! The ledger conformance suite against `EmbeddedLedger` (a redb file in a
//! temporary directory), plus what only a durable file can show: state
//! survives closing and reopening.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use restager_shared::domain::Outcome;
use restager_shared::ledger::{EmbeddedLedger, Lease, Ledger, LedgerError};
use tempfile::TempDir;

async fn fresh() -> (Arc<dyn Ledger>, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = EmbeddedLedger::open(dir.path()).expect("ledger opens in an empty directory");
    (Arc::new(ledger), dir)
}

conformance_tests!(fresh());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut r = crate::ledger_conformance::run("embedded:reopen", 2, Utc::now());
    let (j0, j1) = (r.expected[0].job_id.clone(), r.expected[1].job_id.clone());
    {
        let l = EmbeddedLedger::open(dir.path()).expect("ledger opens");
        assert_eq!(l.path(), dir.path().join("ledger.redb"));
        l.put_run(&r).await.expect("put_run");
        assert!(
            l.remember("delivery:1", Duration::from_secs(600))
                .await
                .expect("remember")
        );
        assert!(
            l.remember("short", Duration::from_millis(100))
                .await
                .expect("remember")
        );
        assert_eq!(
            l.lease_job(&r.run_id, &j1, "msg-a", Duration::from_secs(600))
                .await
                .expect("lease"),
            Lease::Acquired
        );
        l.record_outcome(&r.run_id, &j0, &Outcome::AlreadyCurrent)
            .await
            .expect("record");
        assert!(l.set_slack_thread(&r.run_id, "1.2").await.expect("set"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Opened by its file path this time, as the `restager` binary does.
    let l = EmbeddedLedger::open(dir.path().join("ledger.redb")).expect("ledger reopens");
    let v = l
        .get_run(&r.run_id)
        .await
        .expect("get_run")
        .expect("run survived");
    assert_eq!(v.record, r);
    assert_eq!(v.slack_thread.as_deref(), Some("1.2"));
    assert_eq!(v.finished_jobs(), 1);
    assert_eq!(v.jobs[0].outcome, Some(Outcome::AlreadyCurrent));
    assert!(
        !l.remember("delivery:1", Duration::from_secs(600))
            .await
            .expect("remember")
    );
    assert!(
        l.remember("short", Duration::from_secs(600))
            .await
            .expect("remember"),
        "the expired key was pruned or ignored"
    );
    assert_eq!(
        l.lease_job(&r.run_id, &j1, "msg-b", Duration::from_secs(600))
            .await
            .expect("lease"),
        Lease::Acquired,
        "only one process holds the file, so a lease from before the restart was a dead process's"
    );
    assert_eq!(l.list_runs(5).await.expect("list_runs").len(), 1);

    // The counts survived too: a retry reopens, and finishing completes once.
    let retry = restager_shared::ledger::ExpectedJob {
        job_id: j1.retry(1),
        retry: 1,
        ..r.expected[1].clone()
    };
    r.expected.push(retry.clone());
    l.put_run(&r).await.expect("put_run");
    l.record_outcome(&r.run_id, &j1, &Outcome::AlreadyCurrent)
        .await
        .expect("record");
    let done = l
        .record_outcome(&r.run_id, &retry.job_id, &Outcome::AlreadyCurrent)
        .await
        .expect("record");
    assert!(done.completed_run);
}

#[test]
fn a_file_in_a_missing_directory_is_reported() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("no-such-dir").join("ledger.redb");
    match EmbeddedLedger::open(&missing) {
        Err(LedgerError::Unavailable(msg)) => {
            assert!(msg.contains("no-such-dir"), "names the path: {msg}")
        }
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("opened a file in a directory that does not exist"),
    }
}
