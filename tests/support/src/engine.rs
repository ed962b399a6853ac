//! Shared set-up for the engine tests: a simulator with millisecond
//! timings, a CF client pointed at it, worker settings scaled to match, and
//! jobs built from the simulator's own app records.

use std::sync::Arc;
use std::time::Duration;

use cf_sim::{
    AppSnapshot, AppSpec, CfSim, DeploymentSnapshot, Fault, FaultRule, RecordedRequest, SimConfig,
};
use restager_shared::cf::{CfClient, CfClientOptions};
use restager_shared::config::{CfSettings, DeploySettings, DeployStrategy, Secret, WorkerSettings};
use restager_shared::domain::{Action, AppRef, Notice, Outcome, RestageJob, RunId, Version};
use restager_shared::engine::{Deadline, Engine, Margins, restage_one};
use restager_shared::ledger::Ledger;
use restager_shared::notify::Notifier;
use url::Url;

pub const BUILDPACK: &str = "ruby_buildpack";
/// Installed by [`start`]; seeded apps run the version before it.
pub const TARGET: &str = "1.10.30";

pub struct Harness {
    pub sim: CfSim,
    pub cf: CfClient,
    pub settings: WorkerSettings,
}

impl Harness {
    /// The app's live droplet, which must exist.
    pub fn live_droplet(&self, app: &str) -> String {
        self.current_droplet(app).expect("live droplet")
    }

    pub fn current_droplet(&self, app: &str) -> Option<String> {
        self.sim.app(app).and_then(|a| a.current_droplet)
    }

    /// The package behind the app's live droplet, which must exist.
    pub fn live_package(&self, app: &str) -> String {
        live_package(&self.sim, app)
    }

    /// Adds the app with `fault` on it for good; returns its guid.
    pub fn faulty_app(&self, spec: AppSpec, fault: Fault) -> String {
        let guid = self.sim.add_app(spec);
        self.sim.set_fault(FaultRule::app(&guid, fault));
        guid
    }

    /// The restage job discovery would plan for this app right now.
    pub fn restage_job(&self, app: &str) -> RestageJob {
        job_for(&self.sim, app, Action::Restage)
    }

    /// `restage_one` with these settings and all the time it wants.
    pub async fn restage(&self, job: &RestageJob) -> Outcome {
        restage_one(&self.cf, &self.settings, job, &roomy()).await
    }

    /// The app's version of the ruby buildpack now.
    pub fn version_of(&self, app: &str) -> Option<String> {
        self.sim
            .app(app)
            .and_then(|a| a.current_version(BUILDPACK).map(String::from))
    }

    /// An engine over the simulator with these settings and the tests' margins.
    pub fn engine(&self, ledger: Arc<dyn Ledger>, notifier: Arc<dyn Notifier>) -> Engine {
        Engine::new(self.cf.clone(), self.settings.clone(), ledger, notifier)
            .with_margins(margins())
    }

    /// Restage jobs for these apps, their run stored in `ledger` as fan-out would.
    pub async fn planned(&self, ledger: &FaultyLedger, guids: &[String]) -> Vec<RestageJob> {
        let jobs: Vec<RestageJob> = guids.iter().map(|g| self.restage_job(g)).collect();
        ledger
            .put_run(&run_record(&jobs))
            .await
            .expect("run stored");
        jobs
    }
}

pub fn settings() -> WorkerSettings {
    WorkerSettings {
        max_concurrent_restages: 10,
        max_in_flight: 1,
        poll_interval: Duration::from_millis(5),
        staging_timeout: Duration::from_secs(3),
        deploy_timeout: Duration::from_secs(3),
        max_attempts: 3,
        // Verification has tests of its own; the rest restage without it.
        verify_for: Duration::ZERO,
        ..WorkerSettings::default()
    }
}

pub fn margins() -> Margins {
    Margins::new(Duration::from_millis(100), Duration::from_millis(20))
}

/// Plenty of time: the deadline never matters, however loaded the machine
/// (200 restages took 32 s on 2 shared cores once, past an earlier 30 s).
pub fn roomy() -> Deadline {
    Deadline::after(Duration::from_secs(900), margins())
}

pub fn client_for(sim: &CfSim) -> CfClient {
    let settings = CfSettings {
        api_url: Url::parse(&sim.url()).expect("sim url parses"),
        client_id: sim.client_id().to_string(),
        client_secret: Secret::new(sim.client_secret().to_string()),
        skip_ssl_validation: false,
    };
    let options = CfClientOptions {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
        max_retries: 6,
        ..CfClientOptions::default()
    };
    CfClient::with_options(&settings, options).expect("client builds")
}

/// A simulator with no seeded apps and a newer ruby buildpack installed.
pub async fn start() -> Harness {
    start_with(SimConfig::with_apps(0)).await
}

pub async fn start_with(config: SimConfig) -> Harness {
    let sim = CfSim::start(config).await.expect("simulator starts");
    sim.install_buildpack(BUILDPACK, TARGET);
    let cf = client_for(&sim);
    Harness {
        sim,
        cf,
        settings: settings(),
    }
}

/// A harness whose restages are verified for `verify_for`. CC's timestamps
/// are whole seconds, so windows shorter than a couple of seconds would be
/// measured from a truncated start.
pub async fn verifying(verify_for: Duration) -> Harness {
    verified(start().await, verify_for)
}

fn verified(mut h: Harness, verify_for: Duration) -> Harness {
    h.settings.verify_for = verify_for;
    h.settings.poll_interval = Duration::from_millis(20);
    h
}

/// A harness on a simulated Cloud Controller `api_version` whose restages
/// are canaries with `steps` (instance weights; empty: one pause), each
/// pause and the end verified for `verify_for`.
pub async fn canary_at(api_version: &str, steps: &[u32], verify_for: Duration) -> Harness {
    let sim = SimConfig {
        api_version: api_version.to_string(),
        ..SimConfig::with_apps(0)
    };
    let mut h = verified(start_with(sim).await, verify_for);
    h.settings.deploy = DeploySettings {
        strategy: DeployStrategy::Canary,
        canary_steps: steps.to_vec(),
    };
    h
}

/// Polls `done` until it holds; panics with `what` after a deadline long
/// enough for any loaded machine (the simulator moves in milliseconds).
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Makes the droplet restager stages next for `app` crash-loop from 300 ms
/// after it is deployed (or its canary paused), and returns the app's live
/// droplet, the one a rollback should restore.
pub fn crashes_after_deploy(h: &Harness, app: &str) -> String {
    let previous = h.live_droplet(app);
    h.sim.set_fault(FaultRule::app(
        app,
        Fault::CrashAfterDeploy {
            after: Duration::from_millis(300),
        },
    ));
    previous
}

/// The reason and deployment of a rolled-back outcome; panics on any other.
pub fn rolled_back(outcome: &Outcome) -> (&str, &str) {
    match outcome {
        Outcome::RolledBack {
            reason,
            deployment_guid,
        } => (reason, deployment_guid),
        other => panic!("expected rolled back, got {other:?}"),
    }
}

/// A running ruby app at the previous buildpack version.
pub fn app(name: &str) -> AppSpec {
    let mut spec = AppSpec::new(name);
    spec.buildpack_version = Some("1.10.29".into());
    spec
}

/// [`app`] with `instances` web instances.
pub fn scaled_app(name: &str, instances: u32) -> AppSpec {
    let mut spec = app(name);
    spec.instances = instances;
    spec
}

pub fn notice() -> Notice {
    Notice::Buildpack {
        buildpack: BUILDPACK.into(),
        version: Version::parse(TARGET).expect("version"),
        stack: None,
    }
}

/// The job discovery would plan for this app right now.
pub fn job_for(sim: &CfSim, app_guid: &str, action: Action) -> RestageJob {
    let a: AppSnapshot = sim.app(app_guid).expect("app exists");
    let notice = notice();
    let run = RunId::for_release(&notice.release_key());
    RestageJob::new(
        &run,
        notice,
        action,
        AppRef {
            guid: a.guid.clone(),
            name: a.name.clone(),
            space_guid: a.space_guid.clone(),
            space_name: a.space.clone(),
            org_guid: a.org_guid.clone(),
            org_name: a.org.clone(),
        },
        a.current_droplet.clone().unwrap_or_default(),
        Some(BUILDPACK.into()),
        Some(Version::parse(TARGET).expect("version")),
    )
}

/// The package behind the app's current droplet, as the simulator has it.
pub fn live_package(sim: &CfSim, app: &str) -> String {
    sim.app(app)
        .and_then(|a| a.current_droplet)
        .and_then(|d| sim.droplet(&d))
        .and_then(|d| d.package)
        .expect("package behind the live droplet")
}

/// `POST /v3/builds` requests the simulator received (whatever the answer).
pub fn build_posts(sim: &CfSim) -> Vec<RecordedRequest> {
    posts_to(sim, "/v3/builds")
}

/// `POST /v3/deployments` requests (creation only, not cancel).
pub fn deployment_posts(sim: &CfSim) -> Vec<RecordedRequest> {
    posts_to(sim, "/v3/deployments")
}

pub fn cancel_posts(sim: &CfSim) -> Vec<RecordedRequest> {
    action_posts(sim, "cancel")
}

/// `POST /v3/deployments/:guid/actions/continue` requests (whatever the answer).
pub fn continue_posts(sim: &CfSim) -> Vec<RecordedRequest> {
    action_posts(sim, "continue")
}

fn action_posts(sim: &CfSim, action: &str) -> Vec<RecordedRequest> {
    let suffix = format!("/actions/{action}");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&suffix))
        .collect()
}

/// The rollback deployments restager made for an app (labelled with the
/// deployment whose droplet crashed).
pub fn rollback_deployments(h: &Harness, app: &str) -> Vec<DeploymentSnapshot> {
    h.sim
        .deployments_for(app)
        .into_iter()
        .filter(|d| d.labels.contains_key("restager.io/rollback-of"))
        .collect()
}

fn posts_to(sim: &CfSim, path: &str) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .collect()
}

/// Builds and deployments restager (the client) made for an app.
pub fn client_builds(sim: &CfSim, app: &str) -> usize {
    sim.builds_for(app).iter().filter(|b| b.by_client).count()
}

pub fn client_deployments(sim: &CfSim, app: &str) -> usize {
    sim.deployments_for(app)
        .iter()
        .filter(|d| d.by_client)
        .count()
}

pub use crate::fakes::{FaultyLedger, RecordingSource};

pub use notifier::RecordingNotifier;

mod notifier {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use restager_shared::domain::{JobId, Outcome, RestageJob, RunId};
    use restager_shared::ledger::{RunRecord, RunView};
    use restager_shared::notify::{Notifier, NotifyError, RolloutNews, Upcoming};

    /// Remembers every notification, for assertions.
    #[derive(Default)]
    pub struct RecordingNotifier {
        pub started: Mutex<Vec<RunId>>,
        pub finished: Mutex<Vec<(JobId, Outcome)>>,
        pub completed: Mutex<Vec<RunId>>,
        pub news: Mutex<Vec<RolloutNews>>,
        pub advance: Mutex<Vec<(RunId, Vec<Upcoming>)>>,
    }

    impl RecordingNotifier {
        /// The runs announced, in order.
        pub fn started(&self) -> Vec<RunId> {
            self.started.lock().expect("lock").clone()
        }

        pub fn finished(&self) -> Vec<(JobId, Outcome)> {
            self.finished.lock().expect("lock").clone()
        }

        pub fn completed(&self) -> Vec<RunId> {
            self.completed.lock().expect("lock").clone()
        }

        pub fn news(&self) -> Vec<RolloutNews> {
            self.news.lock().expect("lock").clone()
        }

        /// Advance notices, each with the apps it listed.
        pub fn advance(&self) -> Vec<(RunId, Vec<Upcoming>)> {
            self.advance.lock().expect("lock").clone()
        }
    }

    #[async_trait]
    impl Notifier for RecordingNotifier {
        async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError> {
            self.started.lock().expect("lock").push(run.run_id.clone());
            Ok(())
        }

        async fn app_finished(
            &self,
            job: &RestageJob,
            outcome: &Outcome,
        ) -> Result<(), NotifyError> {
            self.finished
                .lock()
                .expect("lock")
                .push((job.job_id.clone(), outcome.clone()));
            Ok(())
        }

        async fn run_completed(&self, run: &RunView) -> Result<(), NotifyError> {
            self.completed
                .lock()
                .expect("lock")
                .push(run.record.run_id.clone());
            Ok(())
        }

        async fn rollout_changed(
            &self,
            _run: &RunView,
            news: &RolloutNews,
        ) -> Result<(), NotifyError> {
            self.news.lock().expect("lock").push(news.clone());
            Ok(())
        }

        async fn advance_notice(
            &self,
            run: &RunRecord,
            apps: &[Upcoming],
        ) -> Result<(), NotifyError> {
            self.advance
                .lock()
                .expect("lock")
                .push((run.run_id.clone(), apps.to_vec()));
            Ok(())
        }
    }
}

use restager_shared::ledger::{ExpectedJob, RunRecord};
use restager_shared::queue::Delivery;

/// The run record fan-out would write for these jobs.
pub fn run_record(jobs: &[RestageJob]) -> RunRecord {
    RunRecord {
        run_id: jobs[0].run_id.clone(),
        notice: notice(),
        action: jobs[0].action,
        created_at: chrono::Utc::now(),
        expected: jobs.iter().map(ExpectedJob::for_job).collect(),
        skipped: Vec::new(),
        note: None,
        released_at: None,
        release_url: None,
    }
}

/// A delivery of `job` as the `receive_count`-th receive of message `id`.
pub fn delivery(id: &str, receive_count: u32, body: String) -> Delivery {
    Delivery {
        message_id: id.to_string(),
        receipt: format!("{id}-receipt-{receive_count}"),
        body,
        receive_count,
    }
}
