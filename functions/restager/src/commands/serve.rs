//! `restager serve`: the webhook routes over HTTP and the worker, in one process.
//!
//! Shutdown on SIGTERM / Ctrl-C: stop accepting requests, let the worker
//! finish or hand back the jobs it holds, flush Slack, exit 0. A job held at
//! a SIGKILL is redelivered after its visibility timeout; its lease and the
//! labels on its build and deployment make the next delivery resume it.

use std::sync::Arc;

use restager_shared::config::Source;

use super::CommandError;
use restager_shared::startup::Adapters;

use crate::local_server;
use crate::running;
use crate::settings::ServeSettings;
use crate::shutdown;

pub async fn run(source: &dyn Source) -> Result<(), CommandError> {
    // Every setting is checked before anything is opened or bound.
    // Signals are caught from here on, before anyone can see us listening.
    let signalled = shutdown::signal();
    let settings = ServeSettings::read(source)?;
    if let Some(line) = secrets_warning(&settings) {
        eprintln!("{line}");
    }
    let adapters = Adapters::open(&settings.adapters()).await?;
    let listener = crate::server::bind(settings.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::failed("cannot read the listen address", e))?;

    // While serve holds the embedded ledger, the other commands learn from
    // this where to ask instead (removed when serve stops).
    let url = local_server::url_for(addr);
    let _advertised = settings
        .storage
        .ledger_table
        .is_none()
        .then(|| local_server::advertise(&settings.storage.data_dir, &url))
        .flatten();

    let (trigger, stop) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let running = running::start(
        &adapters,
        &settings,
        listener,
        Arc::clone(&trigger),
        stop.clone(),
    )?;
    println!(
        "restager {} listening on http://{addr} (queue: {}; ledger: {}; Slack: {})",
        env!("CARGO_PKG_VERSION"),
        adapters.queue.description,
        adapters.ledger_location,
        if adapters.slack { "on" } else { "off" },
    );
    println!(
        "routes: POST /webhooks/github, POST /webhooks/notice, POST /slack/actions, GET /healthz, GET /metrics{}",
        if settings.admin_token.is_some() {
            ", GET /runs (admin token)"
        } else {
            " (GET /runs is off: set RESTAGER_ADMIN_TOKEN)"
        }
    );

    let by_signal = tokio::select! {
        _ = signalled => true,
        // The server or the worker stopped by itself; join reports why.
        _ = stop.wait() => false,
    };
    if by_signal {
        eprintln!("stopping: finishing or handing back the jobs in progress");
    }
    trigger.fire();
    let joined = running.join().await;
    let undelivered = running::flush(&adapters).await;
    if undelivered > 0 {
        eprintln!(
            "{} could not be delivered before stopping",
            crate::render::plural(undelivered, "Slack message")
        );
    }
    joined?;
    if !by_signal {
        return Err(CommandError::Failed(
            "the server stopped unexpectedly (see the log above)".into(),
        ));
    }
    eprintln!("stopped");
    Ok(())
}

/// Said at start-up, not discovered at the first request: a webhook route
/// without secrets refuses every request.
fn secrets_warning(settings: &ServeSettings) -> Option<String> {
    let github = settings.intake.github_secrets.is_empty();
    let notice = settings.intake.notice_secrets.is_empty();
    match (github, notice) {
        (true, true) => Some(
            "warning: neither RESTAGER_GITHUB_SECRETS nor RESTAGER_NOTICE_SECRETS is set: \
             POST /webhooks/github and POST /webhooks/notice will refuse every request; \
             set one (or both) to accept signed release notices"
                .to_string(),
        ),
        (true, false) => Some(
            "note: RESTAGER_GITHUB_SECRETS is not set: POST /webhooks/github will refuse every request \
             (POST /webhooks/notice is on)"
                .to_string(),
        ),
        (false, true) => Some(
            "note: RESTAGER_NOTICE_SECRETS is not set: POST /webhooks/notice will refuse every request \
             (POST /webhooks/github is on)"
                .to_string(),
        ),
        (false, false) => None,
    }
}
