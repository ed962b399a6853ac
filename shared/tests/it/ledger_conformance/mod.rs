//! The ledger's behaviour, written once and run against every adapter
//! (`ledger_memory`, `ledger_embedded`, `ledger_dynamo`). Each
//! function gets a fresh, empty ledger.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use restager_shared::domain::{Action, AppRef, JobId, Notice, Outcome, RunId, Version};
use restager_shared::ledger::{
    ControlEvent, ExpectedJob, Lease, Ledger, OwnerChannel, Phase, Progress, Recorded, Rollout,
    RunRecord, RunState, RunView, SkippedApp, WaveInfo,
};

const LONG: Duration = Duration::from_secs(600);

pub fn app(n: usize) -> AppRef {
    AppRef {
        guid: format!("app-{n}"),
        name: format!("shop-{n}"),
        space_guid: format!("space-{}", n % 3),
        space_name: "prod".into(),
        org_guid: "org-1".into(),
        org_name: "acme".into(),
    }
}

pub fn expected(run: &RunId, n: usize) -> ExpectedJob {
    ExpectedJob {
        job_id: JobId::for_app(run, &app(n).guid),
        app: app(n),
        droplet_guid: Some(format!("droplet-{n}")),
        buildpack: Some("ruby_buildpack".into()),
        target_version: Some(Version::parse("1.10.29").expect("version literal")),
        retry: 0,
        wave: 0,
        window: None,
        slack_channel: None,
    }
}

/// A run for `release` (unique per test) expecting `jobs` apps.
pub fn run(release: &str, jobs: usize, created_at: DateTime<Utc>) -> RunRecord {
    let notice = Notice::Buildpack {
        buildpack: "ruby_buildpack".into(),
        version: Version::parse("1.10.29").expect("version literal"),
        stack: None,
    };
    let run_id = RunId::for_release(release);
    RunRecord {
        expected: (0..jobs).map(|n| expected(&run_id, n)).collect(),
        run_id,
        notice,
        action: Action::Restage,
        created_at,
        skipped: vec![SkippedApp {
            app: app(1000),
            reason: "stopped".into(),
        }],
        note: None,
        released_at: None,
        release_url: None,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid instant")
}

fn job(record: &RunRecord, n: usize) -> JobId {
    record.expected[n].job_id.clone()
}

fn restaged() -> Outcome {
    Outcome::Restaged {
        droplet_guid: "d-new".into(),
        deployment_guid: "dep-1".into(),
        version: Some("1.10.29".into()),
        note: None,
        deployed_at: None,
    }
}

fn failed_for_good() -> Outcome {
    Outcome::Failed {
        reason: "staging failed".into(),
        permanent: true,
    }
}

fn deferred() -> Outcome {
    Outcome::Deferred {
        reason: "someone is deploying".into(),
        retry_after: Some(Duration::from_secs(30)),
    }
}

async fn view(l: &dyn Ledger, id: &RunId) -> RunView {
    l.get_run(id)
        .await
        .expect("get_run succeeds")
        .expect("the run is stored")
}

fn outcome_of(v: &RunView, job: &JobId) -> Option<Outcome> {
    v.jobs
        .iter()
        .find(|j| &j.job_id == job)
        .and_then(|j| j.outcome.clone())
}

/// A run with `jobs` expected apps, stored.
async fn stored(l: &dyn Ledger, release: &str, jobs: usize) -> RunRecord {
    let r = run(release, jobs, t0());
    l.put_run(&r).await.expect("put_run");
    r
}

async fn lease(l: &dyn Ledger, r: &RunRecord, job: &JobId, owner: &str, ttl: Duration) -> Lease {
    l.lease_job(&r.run_id, job, owner, ttl)
        .await
        .expect("lease")
}

async fn release(l: &dyn Ledger, r: &RunRecord, job: &JobId, owner: &str) {
    l.release_job(&r.run_id, job, owner).await.expect("release");
}

async fn record(l: &dyn Ledger, r: &RunRecord, job: &JobId, outcome: &Outcome) -> Recorded {
    l.record_outcome(&r.run_id, job, outcome)
        .await
        .expect("record")
}

/// Whether recording `outcome` was the call that completed the run.
async fn completes(l: &dyn Ledger, r: &RunRecord, job: &JobId, outcome: &Outcome) -> bool {
    record(l, r, job, outcome).await.completed_run
}

pub async fn remember_forget_and_expiry(l: &dyn Ledger) {
    assert!(l.remember("delivery:1", LONG).await.expect("remember"));
    assert!(!l.remember("delivery:1", LONG).await.expect("remember"));
    assert!(l.remember("delivery:2", LONG).await.expect("remember"));
    l.forget("delivery:1").await.expect("forget");
    assert!(l.remember("delivery:1", LONG).await.expect("remember"));
    l.forget("never-remembered")
        .await
        .expect("forgetting nothing is fine");

    assert!(
        l.remember("short", Duration::from_millis(300))
            .await
            .expect("remember")
    );
    assert!(
        !l.remember("short", Duration::from_millis(300))
            .await
            .expect("remember")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        l.remember("short", LONG).await.expect("remember"),
        "an expired key is remembered afresh"
    );
    assert!(!l.remember("short", LONG).await.expect("remember"));
}

pub async fn put_run_is_idempotent_and_merges(l: &dyn Ledger) {
    let unknown = RunId::for_release("conformance:none");
    assert!(l.get_run(&unknown).await.expect("get_run").is_none());

    let first = run("conformance:merge", 3, t0());
    l.put_run(&first).await.expect("put_run");
    let v = view(l, &first.run_id).await;
    assert_eq!(v.record, first);
    assert_eq!(v.jobs.len(), 3);
    assert!(
        v.jobs
            .iter()
            .all(|j| j.outcome.is_none() && j.attempts == 0)
    );
    assert!(v.completed_at.is_none() && v.slack_thread.is_none());

    let j0 = job(&first, 0);
    record(l, &first, &j0, &restaged()).await;
    l.put_run(&first).await.expect("put_run again");
    let v = view(l, &first.run_id).await;
    assert_eq!(
        v.record, first,
        "writing the same run again changes nothing"
    );
    assert_eq!(outcome_of(&v, &j0), Some(restaged()));
    assert_eq!(v.jobs[0].attempts, 1);

    // A repeated sweep finds one more app and one more skipped app.
    let mut second = run("conformance:merge", 4, t0() + chrono::Duration::hours(1));
    second.skipped.push(SkippedApp {
        app: app(1001),
        reason: "docker".into(),
    });
    l.put_run(&second).await.expect("merging put_run");
    let v = view(l, &first.run_id).await;
    assert_eq!(v.record.created_at, t0(), "the original record is kept");
    assert_eq!(v.record.expected, second.expected);
    assert_eq!(
        v.jobs.iter().map(|j| j.job_id.clone()).collect::<Vec<_>>(),
        (0..4).map(|n| job(&second, n)).collect::<Vec<_>>(),
        "jobs in the order they were expected"
    );
    assert_eq!(outcome_of(&v, &j0), Some(restaged()), "outcomes are kept");
    let skipped: HashSet<_> = v
        .record
        .skipped
        .iter()
        .map(|s| s.app.guid.clone())
        .collect();
    assert_eq!(
        skipped,
        HashSet::from(["app-1000".into(), "app-1001".into()])
    );
    assert_eq!(v.finished_jobs(), 1);
}

pub async fn leases(l: &dyn Ledger) {
    let r = stored(l, "conformance:leases", 2).await;
    let (j0, j1) = (job(&r, 0), job(&r, 1));

    assert_eq!(lease(l, &r, &j0, "msg-a", LONG).await, Lease::Acquired);
    assert_eq!(lease(l, &r, &j0, "msg-b", LONG).await, Lease::HeldElsewhere);
    assert_eq!(
        lease(l, &r, &j0, "msg-a", LONG).await,
        Lease::Acquired,
        "the owner may take its lease again"
    );
    release(l, &r, &j0, "msg-b").await;
    assert_eq!(
        lease(l, &r, &j0, "msg-b", LONG).await,
        Lease::HeldElsewhere,
        "only the owner releases"
    );
    release(l, &r, &j0, "msg-a").await;
    assert_eq!(lease(l, &r, &j0, "msg-b", LONG).await, Lease::Acquired);
    assert_eq!(lease(l, &r, &j0, "msg-a", LONG).await, Lease::HeldElsewhere);

    let short = Duration::from_millis(300);
    assert_eq!(lease(l, &r, &j1, "msg-c", short).await, Lease::Acquired);
    assert_eq!(lease(l, &r, &j1, "msg-d", LONG).await, Lease::HeldElsewhere);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        lease(l, &r, &j1, "msg-d", LONG).await,
        Lease::Acquired,
        "an expired lease is free"
    );
    l.release_job(&r.run_id, &j1, "msg-c")
        .await
        .expect("stale owner's release");
    assert_eq!(
        lease(l, &r, &j1, "msg-c", LONG).await,
        Lease::HeldElsewhere,
        "a stale owner's release leaves the new lease alone"
    );
}

pub async fn final_outcomes_end_leasing(l: &dyn Ledger) {
    let r = stored(l, "conformance:final", 2).await;
    let (j0, j1) = (job(&r, 0), job(&r, 1));

    assert_eq!(lease(l, &r, &j0, "msg-a", LONG).await, Lease::Acquired);
    record(l, &r, &j0, &deferred()).await;
    release(l, &r, &j0, "msg-a").await;
    assert_eq!(
        lease(l, &r, &j0, "msg-b", LONG).await,
        Lease::Acquired,
        "a deferred job is taken again"
    );
    record(l, &r, &j0, &failed_for_good()).await;
    for owner in ["msg-a", "msg-b", "msg-c"] {
        assert_eq!(
            lease(l, &r, &j0, owner, LONG).await,
            Lease::AlreadyFinal(failed_for_good())
        );
    }

    // Final even while another delivery holds a lease on it.
    assert_eq!(lease(l, &r, &j1, "msg-x", LONG).await, Lease::Acquired);
    record(l, &r, &j1, &restaged()).await;
    assert_eq!(
        lease(l, &r, &j1, "msg-y", LONG).await,
        Lease::AlreadyFinal(restaged())
    );

    // A stale non-final report after the final one is dropped.
    record(l, &r, &j1, &deferred()).await;
    let v = view(l, &r.run_id).await;
    assert_eq!(outcome_of(&v, &j1), Some(restaged()));
    assert_eq!(v.finished_jobs(), 2);
}

pub async fn counting_and_completion(l: &dyn Ledger) {
    let r = stored(l, "conformance:count", 3).await;
    let (j0, j1, j2) = (job(&r, 0), job(&r, 1), job(&r, 2));
    let before = Utc::now();

    let transient = Outcome::Failed {
        reason: "502".into(),
        permanent: false,
    };
    for o in [deferred(), transient.clone()] {
        let rec = record(l, &r, &j0, &o).await;
        assert!(!rec.completed_run);
    }
    let v = view(l, &r.run_id).await;
    assert_eq!(v.finished_jobs(), 0, "non-final outcomes do not count");
    assert_eq!(
        outcome_of(&v, &j0),
        Some(transient),
        "the latest outcome is kept"
    );
    assert_eq!(v.jobs[0].attempts, 2);
    let updated = v.jobs[0].updated_at.expect("updated_at is set");
    assert!(updated >= before - chrono::Duration::seconds(1));
    assert!(v.completed_at.is_none());

    assert!(!completes(l, &r, &j0, &restaged()).await);
    assert!(!completes(l, &r, &j1, &Outcome::AlreadyCurrent).await);
    assert!(
        !completes(l, &r, &j1, &Outcome::AlreadyCurrent).await,
        "a duplicate final outcome counts once"
    );
    assert!(view(l, &r.run_id).await.completed_at.is_none());
    assert!(
        completes(l, &r, &j2, &failed_for_good()).await,
        "the last final outcome completes the run"
    );
    let v = view(l, &r.run_id).await;
    assert_eq!(v.finished_jobs(), 3);
    assert!(v.completed_at.is_some());
    assert_eq!(v.jobs[0].attempts, 3);
    assert_eq!(v.jobs[1].attempts, 2);

    assert!(
        !completes(l, &r, &j2, &failed_for_good()).await,
        "a completed run completes only once"
    );
}

/// The last 20 jobs finish at the same moment: exactly one caller completes
/// the run. Then every job is reported again at once (duplicate deliveries):
/// nobody completes it again.
///
/// (Concurrent duplicates of a job that is *still being counted* are left
/// out: moto's TransactWriteItems restores a whole-table snapshot when one
/// fails, erasing concurrent writes, which real DynamoDB does not do.)
pub async fn exactly_one_completion_under_concurrency(l: Arc<dyn Ledger>) {
    let r = stored(l.as_ref(), "conformance:race", 21).await;
    assert!(!completes(l.as_ref(), &r, &job(&r, 0), &restaged()).await);

    let all_at_once = |jobs: std::ops::Range<usize>| {
        let tasks: Vec<_> = jobs
            .map(|n| {
                let (l, run_id, job_id) = (l.clone(), r.run_id.clone(), job(&r, n));
                tokio::spawn(async move { l.record_outcome(&run_id, &job_id, &restaged()).await })
            })
            .collect();
        async move {
            let mut completions = 0;
            for t in tasks {
                if t.await.expect("task ran").expect("record").completed_run {
                    completions += 1;
                }
            }
            completions
        }
    };
    assert_eq!(all_at_once(1..21).await, 1);
    let v = view(l.as_ref(), &r.run_id).await;
    assert_eq!(v.finished_jobs(), 21);
    assert!(v.completed_at.is_some());
    assert_eq!(all_at_once(0..21).await, 0, "duplicates complete nothing");
}

/// Slack's "Retry failed": new jobs reopen a completed run, which then completes once more.
pub async fn retries_reopen_a_completed_run(l: &dyn Ledger) {
    let mut r = stored(l, "conformance:retry", 2).await;
    let (j0, j1) = (job(&r, 0), job(&r, 1));
    record(l, &r, &j0, &restaged()).await;
    assert!(completes(l, &r, &j1, &failed_for_good()).await);
    assert!(view(l, &r.run_id).await.completed_at.is_some());

    let retry = ExpectedJob {
        job_id: j1.retry(1),
        retry: 1,
        ..expected(&r.run_id, 1)
    };
    r.expected.push(retry.clone());
    l.put_run(&r).await.expect("put_run with the retry");
    let v = view(l, &r.run_id).await;
    assert!(v.completed_at.is_none(), "the run is open again");
    assert_eq!(v.jobs.len(), 3);
    assert_eq!(v.jobs[2].job_id, retry.job_id);
    assert_eq!(v.record.expected[2], retry);
    assert_eq!(outcome_of(&v, &j1), Some(failed_for_good()));

    assert!(!completes(l, &r, &retry.job_id, &deferred()).await);
    l.put_run(&r)
        .await
        .expect("the same retry again (double click)");
    assert_eq!(
        lease(l, &r, &retry.job_id, "msg-r", LONG).await,
        Lease::Acquired
    );
    assert!(
        completes(l, &r, &retry.job_id, &restaged()).await,
        "the retry completes the run again"
    );
    assert!(!completes(l, &r, &retry.job_id, &restaged()).await);
    let v = view(l, &r.run_id).await;
    assert!(v.completed_at.is_some());
    assert_eq!(v.finished_jobs(), 3);

    l.put_run(&r).await.expect("nothing new");
    assert!(
        view(l, &r.run_id).await.completed_at.is_some(),
        "no new jobs, still complete"
    );
}

/// Slack's "Skip" on a failed app replaces the final failure without counting twice.
pub async fn skip_overrides_failed(l: &dyn Ledger) {
    let r = stored(l, "conformance:skip", 3).await;
    let (j0, j1, j2) = (job(&r, 0), job(&r, 1), job(&r, 2));
    record(l, &r, &j0, &failed_for_good()).await;
    let skip = Outcome::Skipped {
        reason: "skipped in Slack by @ops".into(),
    };
    assert!(!completes(l, &r, &j0, &skip).await);
    let v = view(l, &r.run_id).await;
    assert_eq!(outcome_of(&v, &j0), Some(skip.clone()));
    assert_eq!(v.finished_jobs(), 1);
    assert!(!completes(l, &r, &j1, &restaged()).await);
    assert!(
        completes(l, &r, &j2, &restaged()).await,
        "the skip was counted once, so the third job completes the run"
    );
}

/// A job the run does not expect is stored but does not count until expected.
pub async fn unexpected_jobs_do_not_count(l: &dyn Ledger) {
    let mut r = stored(l, "conformance:extra", 1).await;
    let stray = JobId::for_app(&r.run_id, "app-stray");
    assert!(!completes(l, &r, &stray, &restaged()).await);
    let v = view(l, &r.run_id).await;
    assert_eq!(v.jobs.len(), 1, "only expected jobs are listed");
    assert!(v.completed_at.is_none());

    let elsewhere = RunId::for_release("conformance:extra:unknown-run");
    let rec = l
        .record_outcome(&elsewhere, &stray, &restaged())
        .await
        .expect("an unknown run's outcome is stored");
    assert!(!rec.completed_run);
    assert!(l.get_run(&elsewhere).await.expect("get_run").is_none());

    // Expected later (the worker reported before the record landed): it counts now.
    let mut late = expected(&r.run_id, 7);
    late.job_id = stray.clone();
    r.expected.push(late);
    l.put_run(&r).await.expect("put_run");
    let v = view(l, &r.run_id).await;
    assert_eq!(outcome_of(&v, &stray), Some(restaged()));
    assert_eq!(v.finished_jobs(), 1);
    assert!(completes(l, &r, &job(&r, 0), &restaged()).await);
}

pub async fn list_runs_newest_first(l: &dyn Ledger) {
    assert!(l.list_runs(10).await.expect("list_runs").is_empty());
    let hour = chrono::Duration::hours(1);
    let runs = [
        run("conformance:list:b", 1, t0() + hour),
        run("conformance:list:a", 2, t0()),
        run("conformance:list:d", 1, t0() + hour * 3),
        run("conformance:list:c", 1, t0() + hour * 2),
    ];
    for r in &runs {
        l.put_run(r).await.expect("put_run");
    }
    record(l, &runs[1], &job(&runs[1], 0), &restaged()).await;

    let all = l.list_runs(10).await.expect("list_runs");
    let ids: Vec<RunId> = all.iter().map(|v| v.record.run_id.clone()).collect();
    let want: Vec<RunId> = [2, 3, 0, 1]
        .iter()
        .map(|&i| runs[i].run_id.clone())
        .collect();
    assert_eq!(ids, want);
    assert_eq!(all[3].jobs.len(), 2);
    assert_eq!(all[3].finished_jobs(), 1, "listed runs carry their jobs");

    let two = l.list_runs(2).await.expect("list_runs");
    assert_eq!(
        two.iter()
            .map(|v| v.record.run_id.clone())
            .collect::<Vec<_>>(),
        want[..2].to_vec()
    );
    assert!(l.list_runs(0).await.expect("list_runs").is_empty());
    // Merging a run does not list it twice.
    l.put_run(&runs[0]).await.expect("put_run");
    assert_eq!(l.list_runs(10).await.expect("list_runs").len(), 4);
}

pub async fn slack_thread_is_set_once(l: &dyn Ledger) {
    let r = run("conformance:slack", 1, t0());
    assert!(
        !l.set_slack_thread(&r.run_id, "1.1").await.expect("set"),
        "no thread for a run not stored"
    );
    l.put_run(&r).await.expect("put_run");
    assert!(
        l.set_slack_thread(&r.run_id, "1700000000.000100")
            .await
            .expect("set")
    );
    assert!(
        !l.set_slack_thread(&r.run_id, "1700000000.000200")
            .await
            .expect("set")
    );
    l.put_run(&r).await.expect("put_run again");
    assert_eq!(
        view(l, &r.run_id).await.slack_thread.as_deref(),
        Some("1700000000.000100")
    );
}

/// A run that queued nothing (a stemcell notice, a version not installed
/// yet) is stored, listed and read back with its note; when the release
/// later queues jobs, they merge into it and the run completes as usual.
pub async fn a_run_without_jobs_is_stored_with_its_note(l: &dyn Ledger) {
    let mut empty = run("conformance:empty", 0, t0());
    empty.note = Some("ruby_buildpack 1.10.29 is not installed in this foundation".into());
    l.put_run(&empty).await.expect("put_run");
    let stored = view(l, &empty.run_id).await;
    assert!(stored.jobs.is_empty() && stored.record.expected.is_empty());
    assert_eq!(stored.record.note, empty.note);
    assert_eq!(stored.record.skipped, empty.skipped);
    let listed = l.list_runs(10).await.expect("list_runs");
    assert!(listed.iter().any(|v| v.record.run_id == empty.run_id));

    let later = RunRecord {
        note: None,
        ..run("conformance:empty", 1, t0())
    };
    l.put_run(&later).await.expect("put_run with a job");
    let merged = view(l, &empty.run_id).await;
    assert_eq!(merged.record.expected.len(), 1);
    let job = &later.expected[0].job_id;
    let done = l
        .record_outcome(&later.run_id, job, &Outcome::AlreadyCurrent)
        .await
        .expect("record");
    assert!(done.completed_run);
}

fn rollout_v1() -> Rollout {
    Rollout {
        version: 1,
        state: RunState::Running,
        waves: vec![
            WaveInfo {
                name: "*/dev*".into(),
                jobs: 1,
                released_at: Some(t0()),
            },
            WaveInfo {
                name: "everything else".into(),
                jobs: 2,
                released_at: None,
            },
        ],
        max_failures: 1,
        budget: "10%".into(),
        forgiven: 0,
        soak_ms: 600_000,
        generation: 0,
        history: Vec::new(),
        not_before: Some(t0()),
        cutoff_ms: 1_800_000,
        holds_released_through: None,
        owner_channels: BTreeMap::from([(
            "C0OWNERS01".to_string(),
            OwnerChannel::Posted {
                ts: "1700000000.000001".into(),
            },
        )]),
    }
}

/// The rollout record is swapped only from the version read, so of two
/// writers that read the same version exactly one wins; it is read alone
/// and with the run, and the waves of expected jobs survive the round trip.
pub async fn rollout_swaps_from_the_version_read(l: Arc<dyn Ledger>) {
    let mut r = run("conformance:rollout", 3, t0());
    for (n, e) in r.expected.iter_mut().enumerate() {
        e.wave = u32::from(n > 0);
    }
    // What a held job is queued again with, and when its release was published.
    r.expected[1].window = Some("Sat,Sun 02:00-06:00 Europe/Berlin".into());
    r.expected[1].slack_channel = Some("C0OWNERS01".into());
    r.released_at = Some(t0());
    l.put_run(&r).await.expect("put_run");
    assert_eq!(l.rollout(&r.run_id).await.expect("rollout"), None);
    let first = rollout_v1();
    assert!(
        !l.swap_rollout(
            &r.run_id,
            0,
            &Rollout {
                version: 0,
                ..first.clone()
            }
        )
        .await
        .expect("swap"),
        "a swap must raise the version"
    );
    assert!(l.swap_rollout(&r.run_id, 0, &first).await.expect("create"));
    assert!(
        !l.swap_rollout(&r.run_id, 0, &first)
            .await
            .expect("create again"),
        "only once"
    );
    assert_eq!(
        l.rollout(&r.run_id).await.expect("rollout"),
        Some(first.clone())
    );

    let racers: Vec<_> = (0..6)
        .map(|i| {
            let (l, id, base) = (l.clone(), r.run_id.clone(), first.clone());
            tokio::spawn(async move {
                let mut next = base.next(ControlEvent {
                    at: t0(),
                    by: format!("racer {i}"),
                    what: "released wave 2".into(),
                });
                next.waves[1].released_at = Some(t0());
                l.swap_rollout(&id, base.version, &next)
                    .await
                    .expect("swap")
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.expect("join"));
    }
    assert_eq!(won, 1, "exactly one of the concurrent swaps wins");
    let stored = view(l.as_ref(), &r.run_id).await;
    let rollout = stored.rollout.expect("the view carries the rollout");
    assert_eq!(rollout.version, 2);
    assert_eq!(rollout.history.len(), 1);
    assert_eq!(rollout.released_jobs(), 3);
    let waves: Vec<u32> = stored.record.expected.iter().map(|e| e.wave).collect();
    assert_eq!(waves, vec![0, 1, 1]);
    assert_eq!(stored.record.expected[1], r.expected[1]);
    assert_eq!(stored.record.released_at, Some(t0()));

    // `finished` reports the run's count of final jobs after each one.
    let first_job = &r.expected[0].job_id;
    let recorded = record(l.as_ref(), &r, first_job, &Outcome::AlreadyCurrent).await;
    assert_eq!(recorded.finished, 1);
    let held = Outcome::Held {
        reason: "held: run paused by ops".into(),
        until: None,
    };
    let recorded = record(l.as_ref(), &r, &r.expected[1].job_id, &held).await;
    assert_eq!(recorded.finished, 0, "a held job is not final");
    let until_window = Outcome::Held {
        reason: "held: waits for its maintenance window, Sat 5 Dec 02:00 CET (Europe/Berlin)"
            .into(),
        until: Some(t0()),
    };
    record(l.as_ref(), &r, &r.expected[1].job_id, &until_window).await;
    let by_owner = Outcome::DoneByOwner {
        droplet_guid: "droplet-theirs".into(),
        note: "done by its owner".into(),
    };
    let recorded = record(l.as_ref(), &r, &r.expected[2].job_id, &by_owner).await;
    assert_eq!(recorded.finished, 2, "done by its owner is final");
    let stored = view(l.as_ref(), &r.run_id).await;
    assert_eq!(stored.jobs[1].outcome, Some(until_window));
    assert_eq!(stored.jobs[2].outcome, Some(by_owner));
}

/// A restage's progress is kept per job: later phases keep the first start
/// and the guids already known; a final job takes no more reports.
pub async fn progress_is_kept_until_the_job_is_final(l: &dyn Ledger) {
    let r = run("conformance:progress", 1, t0());
    l.put_run(&r).await.expect("put_run");
    let job = &r.expected[0].job_id;
    let at = |s: i64| t0() + chrono::Duration::seconds(s);
    let report = |phase, secs, build: Option<&str>, dep: Option<&str>| Progress {
        phase,
        started_at: at(secs),
        at: at(secs),
        build_guid: build.map(str::to_string),
        deployment_guid: dep.map(str::to_string),
    };
    l.record_progress(
        &r.run_id,
        job,
        &report(Phase::Staging, 1, Some("b-1"), None),
    )
    .await
    .expect("staging");
    l.record_progress(
        &r.run_id,
        job,
        &report(Phase::Deploying, 9, None, Some("d-1")),
    )
    .await
    .expect("deploying");
    let stored = view(l, &r.run_id).await.jobs[0]
        .progress
        .clone()
        .expect("progress");
    assert_eq!(stored.phase, Phase::Deploying);
    assert_eq!(stored.started_at, at(1), "the first start stays");
    assert_eq!(stored.at, at(9));
    assert_eq!(stored.build_guid.as_deref(), Some("b-1"));
    assert_eq!(stored.deployment_guid.as_deref(), Some("d-1"));
    l.record_outcome(&r.run_id, job, &Outcome::AlreadyCurrent)
        .await
        .expect("final");
    l.record_progress(&r.run_id, job, &report(Phase::Verifying, 20, None, None))
        .await
        .expect("late report");
    let after = view(l, &r.run_id).await.jobs[0]
        .progress
        .clone()
        .expect("progress");
    assert_eq!(
        after.phase,
        Phase::Deploying,
        "a final job takes no more progress"
    );
}

/// Every behaviour above, each on a fresh ledger from `fresh`.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh, as_ref:
            remember_forget_and_expiry,
            put_run_is_idempotent_and_merges,
            leases,
            final_outcomes_end_leasing,
            counting_and_completion,
            retries_reopen_a_completed_run,
            skip_overrides_failed,
            unexpected_jobs_do_not_count,
            list_runs_newest_first,
            a_run_without_jobs_is_stored_with_its_note,
            progress_is_kept_until_the_job_is_final,
            slack_thread_is_set_once
        );
        // These two share the ledger with tasks they spawn.
        $crate::conformance_tests!(@each $fresh, clone:
            exactly_one_completion_under_concurrency,
            rollout_swaps_from_the_version_read
        );
    };
    (@each $fresh:expr, $pass:ident: $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (l, _guard) = $fresh.await;
                $crate::ledger_conformance::$name(l.$pass()).await;
            }
        )+
    };
}
