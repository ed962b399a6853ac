//! Canary restages (`RESTAGER_STRATEGY=canary`) against simulated Cloud
//! Controllers of three ages: steps on 3.190, one pause on 3.180, rolling
//! with a note on 3.160. Each pause is verified for `verify_for` before it
//! is continued; a crashing canary is canceled.

use std::time::Duration;

use cf_sim::{DeploymentState, Fault, FaultRule, RecordedRequest};
use restager_shared::config::ScopeSettings;
use restager_shared::discovery;
use restager_shared::domain::{Action, Outcome};
use restager_shared::engine::restage_one;
use serde_json::json;
use test_support::engine::*;

const VERIFY_FOR: Duration = Duration::from_secs(1);

/// An app of four instances: steps 10,50 pause at 1 and at 2 new ones.
fn four_instances(h: &Harness, name: &str) -> String {
    h.sim.add_app(scaled_app(name, 4))
}

fn restaged(outcome: &Outcome) -> (&str, &str, Option<&str>) {
    match outcome {
        Outcome::Restaged {
            droplet_guid,
            deployment_guid,
            note,
            ..
        } => (droplet_guid, deployment_guid, note.as_deref()),
        other => panic!("expected restaged, got {other:?}"),
    }
}

/// Restages a new four-instance app: its guid and the outcome's note, which
/// must be there (what this Cloud Controller did differently).
async fn restaged_with_note(h: &Harness) -> (String, String) {
    let guid = four_instances(h, "noted");
    let job = h.restage_job(&guid);
    let outcome = h.restage(&job).await;
    let (_, _, note) = restaged(&outcome);
    let note = note.expect("the outcome says what was done differently");
    (guid, note.to_string())
}

/// Requests that arrived after `from` and before `to`.
fn between<'a>(
    log: &'a [RecordedRequest],
    from: &RecordedRequest,
    to: &RecordedRequest,
) -> impl Iterator<Item = &'a RecordedRequest> {
    let (from, to) = (from.received_at, to.received_at);
    log.iter()
        .filter(move |r| r.received_at > from && r.received_at < to)
}

/// Each continue came at least `verify_for` after the request before it
/// (the deployment's creation, or the previous continue) and after the
/// pause's crash events and instances were read: no pause went unverified.
fn assert_each_pause_verified(h: &Harness) {
    let log = h.sim.requests();
    let creates = deployment_posts(&h.sim);
    let mut before = creates.first().expect("the deployment was created").clone();
    for c in continue_posts(&h.sim) {
        assert!(
            c.received_at >= before.received_at + VERIFY_FOR,
            "continued {:?} after the step began",
            c.received_at - before.received_at
        );
        let read: Vec<_> = between(&log, &before, &c).collect();
        assert!(
            read.iter().any(|r| r.path == "/v3/audit_events"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("audit.app.process.crash"))),
            "no crash events read before {c:?}"
        );
        assert!(
            read.iter().any(|r| r.path.ends_with("/stats")),
            "no instances read before {c:?}"
        );
        before = c;
    }
}

/// A plan for the harness's notice and strategy warns, in the words of the
/// outcome's `note`, with a note naming `setting`. The plan is made with a
/// fresh outdated app: notes about deployments come only with jobs.
async fn assert_planned_with(h: &Harness, note: &str, setting: &str) {
    four_instances(h, "planned");
    let scope = ScopeSettings {
        deploy: h.settings.deploy.clone(),
        ..ScopeSettings::default()
    };
    let plan = discovery::plan(&h.cf, &notice(), Action::Restage, &scope)
        .await
        .expect("plan");
    assert_eq!(plan.jobs.len(), 1, "{plan:?}");
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains(setting) && note.contains(n.as_str())),
        "the plan warns as the outcome does: {:?}",
        plan.notes
    );
}

fn continue_events(h: &Harness, app: &str) -> usize {
    h.sim
        .audit_events_for(app)
        .iter()
        .filter(|e| e.kind == "audit.app.deployment.continue")
        .count()
}

#[tokio::test]
async fn canary_on_3_190_pauses_verifies_and_continues_through_two_steps() {
    let h = canary_at("3.190.0", &[10, 50], VERIFY_FOR).await;
    let guid = four_instances(&h, "canaried");
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    let (droplet, deployment, note) = restaged(&outcome);
    assert_eq!(note, None, "3.190 does all that was asked");
    let creates = deployment_posts(&h.sim);
    assert_eq!(creates.len(), 1);
    let body = creates[0].body.as_ref().expect("a JSON body");
    assert_eq!(body["strategy"], "canary");
    assert_eq!(
        body["options"]["canary"]["steps"],
        json!([{"instance_weight": 10}, {"instance_weight": 50}])
    );
    let continues = continue_posts(&h.sim);
    assert_eq!(continues.len(), 2, "one continue per step: {continues:?}");
    assert!(continues.iter().all(|c| c.status == 200), "{continues:?}");
    assert_each_pause_verified(&h);
    assert!(cancel_posts(&h.sim).is_empty());

    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    let d = &deployments[0];
    assert_eq!(
        (d.guid.as_str(), d.state),
        (deployment, DeploymentState::Deployed)
    );
    assert_eq!((d.strategy.as_str(), d.canary_step), ("canary", Some(2)));
    assert_eq!(continue_events(&h, &guid), 2);
    let snap = h.sim.app(&guid).expect("app");
    assert_eq!(snap.current_droplet.as_deref(), Some(droplet));
    assert_eq!(snap.current_version(BUILDPACK), Some(TARGET));
    let webs: Vec<_> = snap.processes.iter().filter(|p| p.kind == "web").collect();
    assert_eq!(webs.len(), 1, "{webs:?}");
    assert_eq!((webs[0].instances, webs[0].running), (4, 4));
}

#[tokio::test]
async fn canary_on_3_160_falls_back_to_rolling_and_says_so() {
    let h = canary_at("3.160.0", &[10, 50], VERIFY_FOR).await;
    let (guid, note) = restaged_with_note(&h).await;
    let note = note.as_str();
    assert!(
        note.contains("RESTAGER_STRATEGY=canary")
            && note.contains("3.160.0")
            && note.contains("3.173.0"),
        "{note}"
    );
    assert!(note.contains("rolling"), "{note}");
    let creates = deployment_posts(&h.sim);
    assert_eq!(creates.len(), 1);
    let body = creates[0].body.as_ref().expect("a JSON body");
    assert_eq!(body["strategy"], "rolling");
    assert!(
        body.get("options").is_none(),
        "3.160 refuses options: {body}"
    );
    assert!(continue_posts(&h.sim).is_empty());
    let d = &h.sim.deployments_for(&guid)[0];
    assert_eq!(
        (d.strategy.as_str(), d.state),
        ("rolling", DeploymentState::Deployed)
    );

    assert_planned_with(&h, note, "RESTAGER_STRATEGY=canary").await;
}

#[tokio::test]
async fn canary_on_3_180_pauses_once_and_says_its_steps_were_not_sent() {
    let h = canary_at("3.180.0", &[10, 50], VERIFY_FOR).await;
    let (_, note) = restaged_with_note(&h).await;
    let note = note.as_str();
    assert!(
        note.contains("RESTAGER_CANARY_STEPS=10,50") && note.contains("3.189.0"),
        "{note}"
    );
    let body = deployment_posts(&h.sim)[0]
        .body
        .clone()
        .expect("a JSON body");
    assert_eq!(body["strategy"], "canary");
    assert_eq!(
        body["options"],
        json!({"max_in_flight": 1}),
        "no steps sent"
    );
    assert_eq!(continue_posts(&h.sim).len(), 1, "one pause, one continue");
    assert_each_pause_verified(&h);
    assert_planned_with(&h, note, "RESTAGER_CANARY_STEPS").await;
}

#[tokio::test]
async fn a_crashing_canary_is_canceled_and_reported_rolled_back_once_even_when_redelivered() {
    let h = canary_at(
        cf_sim::DEFAULT_API_VERSION,
        &[10, 50],
        Duration::from_secs(3),
    )
    .await;
    let guid = four_instances(&h, "bad-canary");
    let previous = crashes_after_deploy(&h, &guid);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    let (reason, deployment_guid) = rolled_back(&outcome);
    assert!(reason.contains("canary crashed"), "{reason}");
    assert!(reason.contains("at step 1 of 2"), "{reason}");
    assert!(
        reason.contains("instance"),
        "the crash evidence is quoted: {reason}"
    );
    assert!(reason.contains(&previous), "{reason}");
    assert!(outcome.is_final());
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1, "canceled, not rolled out again");
    assert_eq!(&deployments[0].guid, deployment_guid);
    assert!(
        deployments[0]
            .annotations
            .contains_key("restager.io/rollback-reason")
    );
    assert_eq!(cancel_posts(&h.sim).len(), 1);
    assert!(
        continue_posts(&h.sim).is_empty(),
        "a crashing canary goes no further"
    );
    assert_eq!(
        h.current_droplet(&guid).as_deref(),
        Some(previous.as_str()),
        "cancel put the previous droplet back"
    );

    // Delivered again: the job reports the canceled canary; nothing new.
    let again = h.restage(&job).await;
    assert_eq!(rolled_back(&again), (reason, deployment_guid));
    assert_eq!(cancel_posts(&h.sim).len(), 1, "no second cancel");
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert!(rollback_deployments(&h, &guid).is_empty());
}

#[tokio::test]
async fn a_canary_handed_back_mid_pause_resumes_that_pause_and_continues_each_step_once() {
    let mut h = canary_at(cf_sim::DEFAULT_API_VERSION, &[10, 50], VERIFY_FOR).await;
    let guid = four_instances(&h, "interrupted");
    let job = h.restage_job(&guid);
    // A window far longer than the test: the first delivery is still
    // verifying the first pause when it is stopped.
    let mut patient = h.settings.clone();
    patient.verify_for = Duration::from_secs(600);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let deadline = roomy().with_stop_signal(stopped);
    let sim = &h.sim;
    let (first, ()) = tokio::join!(restage_one(&h.cf, &patient, &job, &deadline), async {
        wait_until("the first pause to be verified", || {
            sim.count("GET", "/v3/audit_events") > 0
        })
        .await;
        let _ = stop.send(true);
    });
    assert!(matches!(first, Outcome::Deferred { .. }), "{first:?}");
    let why = first.reason().unwrap_or_default();
    assert!(
        why.contains("PAUSED at step 1 of 2 and being verified"),
        "{why}"
    );
    assert!(continue_posts(&h.sim).is_empty());

    h.settings.verify_for = VERIFY_FOR;
    let resumed = h.restage(&job).await;

    let (_, deployment, _) = restaged(&resumed);
    assert_eq!(deployment, h.sim.deployments_for(&guid)[0].guid);
    assert_eq!(continue_posts(&h.sim).len(), 2, "each step continued once");
    assert_eq!(continue_events(&h, &guid), 2);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert_eq!(client_builds(&h.sim, &guid), 1);
}

/// Restages a new four-instance canary with the fault `rule` (made from
/// the app's guid) in place; returns the app and the status of each
/// continue restager sent, once it is restaged with every pause verified.
async fn continues_with(h: &Harness, rule: impl FnOnce(&str) -> FaultRule) -> (String, Vec<u16>) {
    let guid = four_instances(h, "continued");
    h.sim.set_fault(rule(&guid));
    let job = h.restage_job(&guid);
    let outcome = h.restage(&job).await;
    restaged(&outcome);
    assert_each_pause_verified(h);
    let statuses = continue_posts(&h.sim).iter().map(|c| c.status).collect();
    (guid, statuses)
}

#[tokio::test]
async fn a_continue_someone_else_sent_first_is_harmless() {
    let h = canary_at(cf_sim::DEFAULT_API_VERSION, &[10, 50], VERIFY_FOR).await;
    // Our first continue meets a deployment an operator has just continued
    // (422: not PAUSED).
    let (guid, statuses) = continues_with(&h, |app| {
        FaultRule::app(app, Fault::OperatorContinuesFirst).times(1)
    })
    .await;
    assert_eq!(
        statuses,
        [422, 200],
        "step 2 was still verified and continued"
    );
    assert_eq!(continue_events(&h, &guid), 2, "the operator's and ours");
    assert_eq!(
        h.sim.deployments_for(&guid)[0].state,
        DeploymentState::Deployed
    );
}

#[tokio::test]
async fn a_continue_whose_answer_was_lost_is_not_sent_again() {
    let h = canary_at(cf_sim::DEFAULT_API_VERSION, &[10, 50], VERIFY_FOR).await;
    // The path names the deployment, not the app: match on the action.
    let (guid, statuses) = continues_with(&h, |_| {
        FaultRule::app("/actions/continue", Fault::LostResponse).times(1)
    })
    .await;
    assert_eq!(
        statuses,
        [0, 200],
        "the lost one arrived; step 2 had its own"
    );
    assert_eq!(continue_events(&h, &guid), 2);
}
