//! `restage_one` against the Cloud Foundry simulator: every outcome is
//! checked against the simulator's state and its request log, not only the
//! return value.

use std::time::Duration;

use cf_sim::{AppState, BuildState, Fault, FaultRule, LifecycleKind, StagingFailure};
use restager_shared::domain::{Action, Outcome, OutcomeKind};
use restager_shared::engine::{Deadline, JOB_LABEL, restage_one};
use test_support::engine::*;

fn reason(o: &Outcome) -> String {
    o.reason().unwrap_or_default().to_string()
}

fn assert_failed(outcome: &Outcome, permanent: bool) {
    assert!(
        matches!(outcome, Outcome::Failed { permanent: p, .. } if *p == permanent),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn one_instance_app_is_restaged_from_the_live_package_not_the_newest() {
    let h = start().await;
    let mut spec = scaled_app("shop", 1);
    spec.newer_package = true; // unreleased bits exist; they must not ship
    let guid = h.sim.add_app(spec);
    let live_package = h.live_package(&guid);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    let Outcome::Restaged {
        droplet_guid,
        deployment_guid,
        version,
        note,
        deployed_at,
    } = &outcome
    else {
        panic!("expected restaged, got {outcome:?}");
    };
    assert!(
        deployed_at.is_some(),
        "the deployment's creation time (CC's clock) is kept"
    );
    assert_eq!(version.as_deref(), Some(TARGET));
    assert_eq!(
        note, &None,
        "a current Cloud Controller takes max_in_flight"
    );
    let after = h.sim.app(&guid).expect("app");
    assert_eq!(
        after.current_droplet.as_deref(),
        Some(droplet_guid.as_str())
    );
    assert_eq!(after.current_version(BUILDPACK), Some(TARGET));
    assert_eq!(after.web_instances(), 1);
    let builds = h.sim.builds_for(&guid);
    assert_eq!(builds.len(), 1);
    assert_eq!(
        builds[0].package, live_package,
        "staged the live droplet's package"
    );
    assert_eq!(
        builds[0].labels.get(JOB_LABEL).map(String::as_str),
        Some(job.job_id.as_str())
    );
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    assert_eq!(&deployments[0].guid, deployment_guid);
    assert_eq!(deployments[0].status_reason, "DEPLOYED");
    assert_eq!(
        deployments[0].labels.get(JOB_LABEL).map(String::as_str),
        Some(job.job_id.as_str())
    );
    assert_eq!(build_posts(&h.sim).len(), 1);
    let posted = deployment_posts(&h.sim);
    assert_eq!(posted.len(), 1);
    let body = posted[0].body.as_ref().expect("json body");
    assert_eq!(body["strategy"], "rolling");
    assert_eq!(body["droplet"]["guid"], droplet_guid.as_str());
}

#[tokio::test]
async fn multi_instance_app_rolls_with_the_configured_max_in_flight() {
    let mut h = start().await;
    h.settings.max_in_flight = 2;
    let guid = h.sim.add_app(scaled_app("api", 5));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    assert_eq!(
        deployments[0].max_in_flight, 2,
        "the sim rolled 2 at a time"
    );
    assert_eq!(deployments[0].desired_instances, 5);
    let posted = deployment_posts(&h.sim);
    assert_eq!(
        posted[0].body.as_ref().expect("body")["options"]["max_in_flight"],
        2
    );
    let after = h.sim.app(&guid).expect("app");
    assert_eq!(after.web_instances(), 5);
    assert_eq!(
        after.processes.iter().filter(|p| p.kind == "web").count(),
        1,
        "old web process gone"
    );
    assert_eq!(after.current_version(BUILDPACK), Some(TARGET));
}

#[tokio::test]
async fn an_app_already_at_the_target_version_is_not_built() {
    let h = start().await;
    let mut spec = app("current");
    spec.buildpack_version = Some(TARGET.into());
    let guid = h.sim.add_app(spec);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_eq!(outcome, Outcome::AlreadyCurrent);
    assert!(build_posts(&h.sim).is_empty() && deployment_posts(&h.sim).is_empty());
}

/// Someone else (its owner, after an advance notice) staged the target
/// version since the app was planned: done by its owner, nothing built. When
/// another restager run did it, it is plainly already current.
#[tokio::test]
async fn an_app_its_owner_restaged_since_planning_is_done_by_owner_not_restagers_own() {
    let h = start().await;
    let guid = h.sim.add_app(app("owned"));
    let job = job_for(&h.sim, &guid, Action::Restage);
    let theirs = h.sim.human_push(&guid).expect("the owner's push");

    let outcome = restage_one(&h.cf, &h.settings, &job, &roomy()).await;

    assert_eq!(outcome.kind(), OutcomeKind::AlreadyCurrent);
    let Outcome::DoneByOwner { droplet_guid, note } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(droplet_guid, &theirs);
    assert!(note.starts_with("done by its owner"), "{note}");
    assert!(build_posts(&h.sim).is_empty() && deployment_posts(&h.sim).is_empty());

    let swept = h.sim.add_app(app("swept"));
    let notice_job = job_for(&h.sim, &swept, Action::Restage);
    let mut sweep_job = notice_job.clone();
    sweep_job.run_id = restager_shared::domain::RunId::for_release("sweep:owned-test");
    sweep_job.job_id = restager_shared::domain::JobId::for_app(&sweep_job.run_id, &swept);
    let first = restage_one(&h.cf, &h.settings, &sweep_job, &roomy()).await;
    assert!(matches!(first, Outcome::Restaged { .. }), "{first:?}");
    let outcome = restage_one(&h.cf, &h.settings, &notice_job, &roomy()).await;
    assert_eq!(
        outcome,
        Outcome::AlreadyCurrent,
        "restager's own run did it"
    );
}

#[tokio::test]
async fn permanent_staging_failure_fails_without_a_deployment() {
    let h = start().await;
    let guid = h.sim.add_app(app("broken"));
    let old = h.live_droplet(&guid);
    h.sim.set_fault(FaultRule::app(
        &guid,
        Fault::StagingFails(StagingFailure::BuildpackCompileFailed),
    ));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_failed(&outcome, true);
    assert!(reason(&outcome).contains("BuildpackCompileFailed"));
    assert_eq!(h.sim.builds_for(&guid).len(), 1);
    assert_eq!(h.sim.builds_for(&guid)[0].state, BuildState::Failed);
    assert!(deployment_posts(&h.sim).is_empty());
    assert_eq!(h.current_droplet(&guid), Some(old), "app untouched");
}

#[tokio::test]
async fn transient_staging_failure_is_retried_with_a_new_build_then_succeeds() {
    let h = start().await;
    let guid = h.sim.add_app(app("flaky"));
    h.sim.set_fault(
        FaultRule::app(
            &guid,
            Fault::StagingFails(StagingFailure::InsufficientResources),
        )
        .times(1),
    );
    let job = h.restage_job(&guid);

    let first = h.restage(&job).await;
    assert_failed(&first, false);
    assert!(reason(&first).contains("InsufficientResources"));
    assert!(deployment_posts(&h.sim).is_empty());

    let retry = h.restage(&job).await;
    assert!(matches!(retry, Outcome::Restaged { .. }), "{retry:?}");
    assert_eq!(
        h.sim.builds_for(&guid).len(),
        2,
        "one failed build, one retry"
    );
    assert_eq!(deployment_posts(&h.sim).len(), 1);
}

#[tokio::test]
async fn staging_that_never_finishes_times_out() {
    let mut h = start().await;
    h.settings.staging_timeout = Duration::from_millis(150);
    let guid = h.faulty_app(app("stuck"), Fault::StagingStuck);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_failed(&outcome, false);
    assert!(reason(&outcome).contains("timed out"), "{outcome}");
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert!(deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn crash_looping_deployment_is_canceled_after_the_deploy_timeout() {
    let mut h = start().await;
    h.settings.deploy_timeout = Duration::from_millis(200);
    let guid = h.faulty_app(app("crashy"), Fault::InstancesCrash { error: None });
    let old = h.live_droplet(&guid);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_failed(&outcome, true);
    assert!(reason(&outcome).contains("canceled"), "{outcome}");
    let cancels = cancel_posts(&h.sim);
    assert_eq!(cancels.len(), 1, "cancel POSTed once");
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    assert!(cancels[0].path.contains(&deployments[0].guid));
    assert_eq!(
        h.current_droplet(&guid),
        Some(old),
        "previous droplet is current again"
    );
    assert_eq!(build_posts(&h.sim).len(), 1);
}

#[tokio::test]
async fn a_persistent_deployment_error_cancels_and_reports_it() {
    let h = start().await;
    let guid = h.sim.add_app(app("erroring"));
    let old = h.live_droplet(&guid);
    let error = "An unexpected error has occurred: Diego::Error";
    h.sim.set_fault(FaultRule::app(
        &guid,
        Fault::InstancesCrash {
            error: Some(error.into()),
        },
    ));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_failed(&outcome, true);
    assert!(reason(&outcome).contains(error), "{outcome}");
    assert_eq!(cancel_posts(&h.sim).len(), 1);
    assert_eq!(h.current_droplet(&guid), Some(old));
}

#[tokio::test]
async fn quota_at_build_creation_defers_without_building() {
    let h = start().await;
    let guid = h.faulty_app(app("tight"), Fault::BuildQuotaExceeded);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("quota"), "{outcome}");
    let posts = build_posts(&h.sim);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 422);
    assert!(h.sim.builds_for(&guid).is_empty());
    assert!(deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn quota_at_deployment_defers_and_the_retry_reuses_the_staged_droplet() {
    let h = start().await;
    let guid = h.sim.add_app(app("tight-deploy"));
    h.sim
        .set_fault(FaultRule::app(&guid, Fault::DeploymentQuotaExceeded).times(1));
    let job = h.restage_job(&guid);

    let first = h.restage(&job).await;
    assert!(matches!(first, Outcome::Deferred { .. }), "{first:?}");
    assert!(reason(&first).contains("quota"));
    assert_eq!(client_deployments(&h.sim, &guid), 0);
    assert_eq!(deployment_posts(&h.sim)[0].status, 422);

    let retry = h.restage(&job).await;
    assert!(matches!(retry, Outcome::Restaged { .. }), "{retry:?}");
    assert_eq!(
        build_posts(&h.sim).len(),
        1,
        "no second build: the staged one was reused"
    );
    assert_eq!(client_deployments(&h.sim, &guid), 1);
}

#[tokio::test]
async fn quota_mid_deploy_cancels_and_fails_retryably() {
    let h = start().await;
    let guid = h.faulty_app(scaled_app("mid-quota", 3), Fault::MidDeployQuotaExceeded);
    let old = h.live_droplet(&guid);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert_failed(&outcome, false);
    assert!(reason(&outcome).contains("quota_exceeded"), "{outcome}");
    assert_eq!(cancel_posts(&h.sim).len(), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert_eq!(h.current_droplet(&guid), Some(old));
}

#[tokio::test]
async fn a_push_between_our_build_and_deploy_stops_us() {
    let h = start().await;
    let guid = h.faulty_app(app("pushed-before"), Fault::HumanPushBeforeDeploy);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Skipped { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("someone pushed"), "{outcome}");
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert!(
        deployment_posts(&h.sim).is_empty(),
        "our droplet was never deployed"
    );
}

#[tokio::test]
async fn a_push_during_our_deploy_supersedes_us_and_we_stand_back() {
    let h = start().await;
    let guid = h.faulty_app(scaled_app("pushed-during", 3), Fault::HumanPushDuringDeploy);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Skipped { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("superseded"), "{outcome}");
    let ours: Vec<_> = h
        .sim
        .deployments_for(&guid)
        .into_iter()
        .filter(|d| d.by_client)
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].status_reason, "SUPERSEDED");
    assert_eq!(deployment_posts(&h.sim).len(), 1);
    assert!(
        cancel_posts(&h.sim).is_empty(),
        "the person's deployment is left alone"
    );
}

#[tokio::test]
async fn someone_else_staging_defers_us() {
    // The person's build stays STAGING for the whole test: at the default
    // 20 ms it could finish before the restage looked on a loaded machine.
    let h = start_with(cf_sim::SimConfig {
        staging_duration: Duration::from_secs(30),
        ..cf_sim::SimConfig::with_apps(0)
    })
    .await;
    let guid = h.sim.add_app(app("busy"));
    h.sim
        .start_build_as_human(&guid)
        .expect("human build starts");
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("someone else"), "{outcome}");
    assert!(build_posts(&h.sim).is_empty() && deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn a_build_started_just_before_ours_yields_staging_in_progress_and_defers() {
    let h = start().await;
    let guid = h.sim.add_app(app("racing"));
    h.sim
        .set_fault(FaultRule::app(&guid, Fault::ConcurrentStaging).times(1));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert_eq!(build_posts(&h.sim)[0].status, 422);
    assert_eq!(client_builds(&h.sim, &guid), 0);
    assert!(deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn rate_limits_gateway_errors_and_resets_are_absorbed() {
    let h = start().await;
    let guid = h.sim.add_app(app("noisy"));
    h.sim.set_fault(
        FaultRule::app(
            &guid,
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    h.sim
        .set_fault(FaultRule::app(&guid, Fault::ServiceUnavailable).times(1));
    h.sim
        .set_fault(FaultRule::app(&guid, Fault::ConnectionReset).times(1));
    h.sim
        .set_fault(FaultRule::app(&guid, Fault::BadGateway).times(1));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    let log = h.sim.requests();
    assert!(log.iter().any(|r| r.status == 429));
    assert!(log.iter().any(|r| r.status == 503));
    assert!(log.iter().any(|r| r.status == 0), "a reset was seen");
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert!(h.sim.faults().is_empty(), "every fault fired");
}

#[tokio::test]
async fn stager_unavailable_on_build_creation_defers_without_a_build() {
    let h = start().await;
    let guid = h.sim.add_app(app("stager-down"));
    h.sim
        .set_fault(FaultRule::all(Fault::StagerUnavailable).times(1));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
    assert_eq!(
        build_posts(&h.sim).len(),
        1,
        "a POST is never retried blindly"
    );
    assert_eq!(client_builds(&h.sim, &guid), 0);
    let retry = h.restage(&job).await;
    assert!(matches!(retry, Outcome::Restaged { .. }), "{retry:?}");
    assert_eq!(client_builds(&h.sim, &guid), 1);
}

#[tokio::test]
async fn a_lost_build_response_is_found_by_label_not_posted_again() {
    let h = start().await;
    let guid = h.sim.add_app(app("lost-build"));
    let package = h.live_package(&guid);
    // Only the POST /v3/builds body names the package as `"package":{"guid":…}`.
    let body_marker = format!(r#""package":{{"guid":"{package}"}}"#);
    h.sim
        .set_fault(FaultRule::app(body_marker, Fault::LostResponse).times(1));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    let posts = build_posts(&h.sim);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 0, "its response was lost");
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
}

#[tokio::test]
async fn a_lost_deployment_response_is_found_by_label_not_posted_again() {
    let h = start().await;
    let guid = h.sim.add_app(app("lost-deploy"));
    h.sim
        .set_fault(FaultRule::app(r#""strategy":"rolling""#, Fault::LostResponse).times(1));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    let posts = deployment_posts(&h.sim);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 0);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
}

#[tokio::test]
async fn an_expired_token_mid_restage_reauthenticates_once() {
    let h = start().await;
    let guid = h.sim.add_app(app("token"));
    let job = h.restage_job(&guid);
    h.cf.authenticate().await.expect("first token");
    h.sim.expire_tokens();

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    let log = h.sim.requests();
    // Steps 1 and 2 read at once (the app, this job's deployments and
    // builds, the current droplet, staging builds, active deployments, the
    // package): each may carry the expired token, but only one new token is
    // fetched.
    let refused = log.iter().filter(|r| r.status == 401).count();
    assert!((1..=7).contains(&refused), "{refused} refusals");
    assert_eq!(log.iter().filter(|r| r.path == "/oauth/token").count(), 2);
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
}

#[tokio::test]
async fn stopped_docker_and_unrestageable_apps_are_skipped_untouched() {
    let h = start().await;
    let mut stopped = app("stopped");
    stopped.state = AppState::Stopped;
    let mut docker = app("docker");
    docker.lifecycle = LifecycleKind::Docker;
    let mut no_package = app("droplet-only");
    no_package.has_package = false;
    let mut expired = app("expired");
    expired.package_expired = true;
    let cases = [
        (h.sim.add_app(stopped), "STOPPED"),
        (h.sim.add_app(docker), "docker"),
        (h.sim.add_app(no_package), "not restageable"),
        (h.sim.add_app(expired), "not restageable"),
    ];
    for (guid, why) in &cases {
        let before = h.sim.app(guid).expect("app");
        let job = h.restage_job(guid);
        let outcome = h.restage(&job).await;
        assert!(
            matches!(outcome, Outcome::Skipped { .. }),
            "{why}: {outcome:?}"
        );
        assert!(reason(&outcome).contains(why), "{why}: {outcome}");
        let after = h.sim.app(guid).expect("app");
        assert_eq!(after.state, before.state, "{why}: state unchanged");
        assert_eq!(after.current_droplet, before.current_droplet);
    }
    assert!(build_posts(&h.sim).is_empty());
    assert!(deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn restart_redeploys_the_current_droplet_without_building() {
    let h = start().await;
    let guid = h.sim.add_app(app("restart-me"));
    let old = h.live_droplet(&guid);
    let mut job = job_for(&h.sim, &guid, Action::Restart);
    job.target_version = None;

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    assert!(build_posts(&h.sim).is_empty());
    let posts = deployment_posts(&h.sim);
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0]
            .body
            .as_ref()
            .expect("body")
            .get("droplet")
            .is_none()
    );
    assert_eq!(h.current_droplet(&guid), Some(old));
}

#[tokio::test]
async fn action_none_only_reports() {
    let h = start().await;
    let guid = h.sim.add_app(app("report-only"));
    let job = job_for(&h.sim, &guid, Action::None);
    let outcome = h.restage(&job).await;
    assert!(matches!(outcome, Outcome::Skipped { .. }), "{outcome:?}");
    assert!(
        h.sim
            .requests()
            .iter()
            .all(|r| r.method == "GET" || r.path == "/oauth/token")
    );
}

#[tokio::test]
async fn no_new_work_starts_close_to_the_deadline() {
    let h = start().await;
    let guid = h.sim.add_app(app("late"));
    let job = h.restage_job(&guid);
    let late = Deadline::after(Duration::from_millis(60), margins());

    let outcome = restage_one(&h.cf, &h.settings, &job, &late).await;

    assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
    assert!(build_posts(&h.sim).is_empty() && deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn a_deadline_mid_deployment_defers_and_redelivery_resumes_the_same_deployment() {
    let h = start().await;
    let guid = h.sim.add_app(scaled_app("long-rollout", 3));
    let job = h.restage_job(&guid);
    // A frozen updater keeps the deployment ACTIVE until the deadline.
    h.sim.set_tick(Duration::ZERO);

    let first = restage_one(
        &h.cf,
        &h.settings,
        &job,
        &Deadline::after(Duration::from_millis(400), margins()),
    )
    .await;
    assert!(matches!(first, Outcome::Deferred { .. }), "{first:?}");
    assert!(reason(&first).contains("resuming"), "{first}");
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].status_value, "ACTIVE");

    h.sim.set_tick(Duration::from_millis(5));
    let resumed = h.restage(&job).await;
    let Outcome::Restaged {
        deployment_guid, ..
    } = &resumed
    else {
        panic!("expected restaged, got {resumed:?}");
    };
    assert_eq!(
        deployment_guid, &deployments[0].guid,
        "the same deployment finished"
    );
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert_eq!(deployment_posts(&h.sim).len(), 1);
    assert_eq!(h.version_of(&guid).as_deref(), Some(TARGET));
}

// --- Step 8: verification and automatic rollback -------------------------

#[tokio::test]
async fn a_droplet_that_crashes_after_deployed_is_rolled_back_once_even_when_redelivered() {
    let h = verifying(Duration::from_secs(3)).await;
    let guid = h.sim.add_app(app("crashy"));
    let previous = crashes_after_deploy(&h, &guid);
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;

    let (reason, deployment_guid) = rolled_back(&outcome);
    assert!(reason.contains("crashed"), "{reason}");
    assert!(
        reason.contains("instance"),
        "the crash evidence is quoted: {reason}"
    );
    assert!(reason.contains(&previous), "{reason}");
    let rollbacks = rollback_deployments(&h, &guid);
    assert_eq!(rollbacks.len(), 1, "{rollbacks:?}");
    assert_eq!(&rollbacks[0].guid, deployment_guid);
    assert_eq!(
        rollbacks[0].droplet, previous,
        "the previous droplet went back"
    );
    assert_eq!(h.current_droplet(&guid).as_deref(), Some(previous.as_str()));
    assert!(outcome.is_final());

    // Delivered again (a Lambda retry, a restart): the job follows its
    // rollback and reports it; no third deployment.
    let deployments = client_deployments(&h.sim, &guid);
    let again = h.restage(&job).await;
    assert!(
        matches!(&again, Outcome::RolledBack { deployment_guid: d, .. } if d == deployment_guid),
        "{again:?}"
    );
    assert_eq!(client_deployments(&h.sim, &guid), deployments);
    assert_eq!(rollback_deployments(&h, &guid).len(), 1);
    assert_eq!(client_builds(&h.sim, &guid), 1, "no second build");
}

#[tokio::test]
async fn a_healthy_app_is_restaged_only_after_the_verification_window() {
    let verify_for = Duration::from_secs(2);
    let h = verifying(verify_for).await;
    let guid = h.sim.add_app(app("steady"));
    let job = h.restage_job(&guid);

    let outcome = h.restage(&job).await;
    let returned_at = chrono::Utc::now();

    let Outcome::Restaged {
        deployment_guid, ..
    } = &outcome
    else {
        panic!("expected restaged, got {outcome:?}");
    };
    assert!(rollback_deployments(&h, &guid).is_empty());
    // Only once `verify_for` had passed since the deployment settled, by
    // Cloud Controller's clock: however late the engine saw DEPLOYED.
    let deployment =
        h.cf.get_deployment(deployment_guid)
            .await
            .expect("the deployment");
    let settled = deployment
        .status
        .details
        .last_status_change
        .or(deployment.updated_at)
        .expect("CC says when the deployment settled");
    let window = chrono::Duration::from_std(verify_for).expect("a short window");
    assert!(
        returned_at >= settled + window,
        "restaged at {returned_at}, settled at {settled}: not verified for {verify_for:?}"
    );
    let audits: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/v3/audit_events")
        .collect();
    let (Some(first), Some(last)) = (audits.first(), audits.last()) else {
        panic!("the app's crash events were never read");
    };
    assert!(
        first
            .query
            .as_deref()
            .is_some_and(|q| q.contains("audit.app.process.crash") && q.contains(&guid)),
        "{first:?}"
    );
    assert!(last.received_at >= first.received_at, "{audits:?}");
    let stats = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/stats"))
        .count();
    assert!(
        stats >= 1,
        "every web instance was checked RUNNING at the end"
    );
}

#[tokio::test]
async fn verification_off_restages_without_reading_crash_events() {
    let h = verifying(Duration::ZERO).await;
    let guid = h.sim.add_app(app("unwatched"));
    let job = h.restage_job(&guid);
    let outcome = h.restage(&job).await;
    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    assert_eq!(h.sim.count("GET", "/v3/audit_events"), 0);
}

/// The live droplet changed because restager itself restaged the app in
/// another run (a sweep's job, whose build carries `restager.io/run`): the
/// skip says so instead of blaming a push.
#[tokio::test]
async fn a_droplet_restager_staged_in_another_run_is_not_blamed_on_a_push() {
    let h = start().await;
    let guid = h.sim.add_app(app("swept-first"));
    let mut sweep_job = h.restage_job(&guid);
    // A job discovered from the same droplet by another run (a stack notice:
    // no target version, so "already current" cannot answer for it).
    let mut notice_job = sweep_job.clone();
    sweep_job.run_id = restager_shared::domain::RunId::for_release("sweep:item-10");
    sweep_job.job_id = restager_shared::domain::JobId::for_app(&sweep_job.run_id, &guid);
    notice_job.target_version = None;
    notice_job.buildpack = None;

    let swept = h.restage(&sweep_job).await;
    assert!(matches!(swept, Outcome::Restaged { .. }), "{swept:?}");
    let outcome = h.restage(&notice_job).await;

    assert!(matches!(outcome, Outcome::Skipped { .. }), "{outcome:?}");
    let why = reason(&outcome);
    assert!(
        why.contains(&format!(
            "already restaged by restager run {}",
            sweep_job.run_id
        )),
        "{why}"
    );
    assert!(!why.contains("someone pushed"), "{why}");
    assert_eq!(client_builds(&h.sim, &guid), 1, "nothing staged twice");
    assert_eq!(client_deployments(&h.sim, &guid), 1);
}

/// Slack's "Retry failed" gets a new job id, so it stages afresh: the build
/// of the failed job that finished staging after the job timed out is not
/// deployed by the retry (it is the failed job's, and was never checked).
#[tokio::test]
async fn a_retry_stages_afresh_even_when_the_timed_out_build_finished_later() {
    let mut h = start_with(cf_sim::SimConfig {
        staging_duration: Duration::from_millis(600),
        ..cf_sim::SimConfig::with_apps(0)
    })
    .await;
    let guid = h.sim.add_app(app("late-stager"));
    let failed_job = h.restage_job(&guid);
    h.settings.staging_timeout = Duration::from_millis(100);
    let timed_out = h.restage(&failed_job).await;
    assert!(reason(&timed_out).contains("timed out"), "{timed_out:?}");
    // The abandoned build finishes staging after its job gave up on it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let late = loop {
        let builds = h.sim.builds_for(&guid);
        if let Some(done) = builds.iter().find(|b| b.state == BuildState::Staged) {
            break done
                .droplet
                .clone()
                .expect("a staged build names its droplet");
        }
        assert!(tokio::time::Instant::now() < deadline, "{builds:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let mut retry = failed_job.clone();
    retry.job_id = failed_job.job_id.retry(1);
    h.settings.staging_timeout = Duration::from_secs(60);
    let outcome = h.restage(&retry).await;

    let Outcome::Restaged { droplet_guid, .. } = &outcome else {
        panic!("expected restaged, got {outcome:?}");
    };
    assert_ne!(droplet_guid, &late, "the late build was reused");
    assert_eq!(client_builds(&h.sim, &guid), 2, "a new build for the retry");
    let builds = h.sim.builds_for(&guid);
    let retry_build = builds
        .iter()
        .find(|b| b.droplet.as_deref() == Some(droplet_guid.as_str()))
        .expect("the deployed droplet's build");
    assert_eq!(
        retry_build.labels.get(JOB_LABEL).map(String::as_str),
        Some(retry.job_id.as_str()),
        "built under the retry's own job id"
    );
}

/// GETs of one package the simulator received.
fn package_reads(sim: &cf_sim::CfSim, package: &str) -> usize {
    let path = format!("/v3/packages/{package}");
    sim.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

#[tokio::test]
async fn the_planned_package_is_read_once_beside_the_first_checks() {
    let h = start().await;
    let guid = h.sim.add_app(app("planned"));
    let live = h.live_package(&guid);
    let job = h.restage_job(&guid).with_package(Some(live.clone()));

    let outcome = h.restage(&job).await;

    assert!(matches!(outcome, Outcome::Restaged { .. }), "{outcome:?}");
    assert_eq!(package_reads(&h.sim, &live), 1, "read ahead, not again");
    let posts = build_posts(&h.sim);
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0]
            .body
            .as_ref()
            .and_then(|b| b["package"]["guid"].as_str()),
        Some(live.as_str())
    );
}

#[tokio::test]
async fn a_planned_package_that_is_not_the_live_droplets_is_not_staged() {
    let h = start().await;
    // A job naming another package (a newer upload, or one since deleted):
    // the live droplet's package is read once the droplet names it, and
    // staged; the named one never is.
    for (name, newer) in [("newer-upload", true), ("deleted", false)] {
        let guid = h.sim.add_app(app(name));
        let live = h.live_package(&guid);
        let named = match newer {
            true => h
                .sim
                .add_package(&guid, cf_sim::PackageState::Ready)
                .expect("package"),
            false => "0d1e2f3a-0000-4000-8000-00000000dead".to_string(),
        };
        h.sim.clear_requests();
        let job = h.restage_job(&guid).with_package(Some(named));

        let outcome = h.restage(&job).await;

        assert!(
            matches!(outcome, Outcome::Restaged { .. }),
            "{name}: {outcome:?}"
        );
        let staged: Vec<String> = build_posts(&h.sim)
            .iter()
            .filter_map(|p| {
                p.body.as_ref()?["package"]["guid"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(staged, vec![live.clone()], "{name}");
        assert_eq!(package_reads(&h.sim, &live), 1, "{name}");
    }
}
