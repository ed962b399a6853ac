//! A whole run on the simulator, as `restager serve` runs it: discovery
//! plans and fans out onto a memory queue, a runner restages, and a timer
//! asks the wave gate, all over one memory ledger. For the rollout tests
//! (waves, budget, controls), which assert on the simulator's request log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use cf_sim::{CfSim, SimConfig};
use restager_shared::config::{FailureBudget, RolloutSettings, ScopeSettings, WaveSpec};
use restager_shared::discovery::{self, FanOut, Plan};
use restager_shared::domain::{Action, RunId};
use restager_shared::engine::Clock;
use restager_shared::engine::runner::{self, RunnerOptions};
use restager_shared::ledger::{Ledger, MemoryLedger, RunView};
use restager_shared::queue::{JobQueue, MemoryQueue};
use restager_shared::rollout::{self, Ports};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::{Harness, RecordingNotifier, notice, start_with};

/// How long any wait here may take before the test fails: generous, so a
/// loaded machine is slow, not red.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Waves, a budget and a soak, as `RESTAGER_WAVES`, `RESTAGER_MAX_FAILURES`
/// and `RESTAGER_WAVE_SOAK` would give them.
pub fn scope(waves: &str, budget: &str, soak: Duration) -> ScopeSettings {
    ScopeSettings {
        rollout: RolloutSettings {
            waves: WaveSpec::parse(waves).expect("wave spec"),
            max_failures: FailureBudget::parse(budget).expect("budget"),
            soak,
        },
        ..ScopeSettings::default()
    }
}

/// What "now" is for planning, the worker's windows and the tick: the
/// system clock until a test sets the hour, then that instant, frozen until
/// set again ("it is 10:00", then "it is 02:00").
#[derive(Clone, Default)]
pub struct SimClock(Arc<Mutex<Option<DateTime<Utc>>>>);

impl SimClock {
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock") = Some(at);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.0.lock().expect("clock").unwrap_or_else(Utc::now)
    }

    /// For [`Engine::with_clock`].
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

/// An instant from RFC 3339 text (test data).
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

pub struct Rig {
    pub h: Harness,
    pub ledger: Arc<MemoryLedger>,
    pub queue: Arc<MemoryQueue>,
    pub notifier: Arc<RecordingNotifier>,
    /// How often the background timer ticks.
    pub tick_every: Duration,
    pub clock: SimClock,
}

impl Rig {
    pub async fn start(config: SimConfig) -> Self {
        Self {
            h: start_with(config).await,
            ledger: Arc::new(MemoryLedger::new()),
            queue: Arc::new(MemoryQueue::new(Duration::from_secs(600))),
            notifier: Arc::new(RecordingNotifier::default()),
            tick_every: Duration::from_millis(20),
            clock: SimClock::default(),
        }
    }

    pub fn sim(&self) -> &CfSim {
        &self.h.sim
    }

    pub fn ports(&self) -> Ports<'_> {
        Ports {
            cf: &self.h.cf,
            ledger: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            notifier: self.notifier.as_ref(),
            max_in_flight: 1,
        }
    }

    /// Plans the notice over `scope` and fans the run out, now by the rig's clock.
    pub async fn fan_out(&self, scope: &ScopeSettings) -> (Plan, FanOut) {
        self.fan_out_released(scope, None).await
    }

    /// As [`Rig::fan_out`], for a notice saying when its release was published.
    pub async fn fan_out_released(
        &self,
        scope: &ScopeSettings,
        released_at: Option<DateTime<Utc>>,
    ) -> (Plan, FanOut) {
        let plan = discovery::plan(&self.h.cf, &notice(), Action::Restage, scope)
            .await
            .expect("plan");
        let now = self.clock.now();
        let run = plan.clone().into_release_run(now, released_at, None);
        let done = discovery::fan_out(
            &run,
            self.ledger.as_ref(),
            self.queue.as_ref() as &dyn JobQueue,
            self.notifier.as_ref(),
            now,
        )
        .await
        .expect("fan out");
        (plan, done)
    }

    /// A worker and a tick timer, running until the returned guard is dropped.
    pub fn work(&self) -> Working {
        let (stop, rx) = watch::channel(false);
        let engine = self
            .h
            .engine(self.ledger.clone(), self.notifier.clone())
            .with_queue(self.queue.clone())
            .with_clock(self.clock.clock());
        let source = self.queue.clone();
        let options = RunnerOptions {
            receive_wait: Duration::from_millis(20),
            error_pause: Duration::from_millis(20),
        };
        let worker_rx = rx.clone();
        let worker = tokio::spawn(async move {
            runner::run(&engine, source.as_ref(), worker_rx, options).await;
        });
        let (cf, ledger, queue, notifier) = (
            self.h.cf.clone(),
            self.ledger.clone(),
            self.queue.clone(),
            self.notifier.clone(),
        );
        let every = self.tick_every;
        let clock = self.clock.clone();
        let mut tick_rx = rx;
        let ticker = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = tick_rx.wait_for(|s| *s) => return,
                }
                let ports = Ports {
                    cf: &cf,
                    ledger: ledger.as_ref(),
                    queue: queue.as_ref(),
                    notifier: notifier.as_ref(),
                    max_in_flight: 1,
                };
                let _ = rollout::tick(ports, clock.now()).await;
            }
        });
        Working {
            stop,
            tasks: vec![worker, ticker],
        }
    }

    pub async fn view(&self, run: &RunId) -> RunView {
        self.ledger
            .get_run(run)
            .await
            .expect("ledger")
            .expect("run stored")
    }

    /// Waits until `done` holds for the run (failing after [`PATIENCE`]).
    pub async fn wait_for(
        &self,
        run: &RunId,
        what: &str,
        done: impl Fn(&RunView) -> bool,
    ) -> RunView {
        let give_up = tokio::time::Instant::now() + PATIENCE;
        loop {
            let view = self.view(run).await;
            if done(&view) {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "gave up waiting for {what}: {:#?}",
                view.jobs
                    .iter()
                    .map(|j| (&j.app.name, &j.outcome))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Background work; stopped (and awaited) by [`Working::stop`].
pub struct Working {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Working {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
