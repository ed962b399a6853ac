//! Where the commands read runs from: `restager serve`'s admin API when
//! `--server` / `RESTAGER_SERVER_URL` is given, else the ledger itself
//! (DynamoDB, or the embedded file when no `serve` holds it). Both give the
//! same [`model`], so every command prints the same either way.

pub mod model;

use std::sync::Arc;

use restager_shared::config::{Env, Source, StorageSettings};
use restager_shared::domain::RunId;
use restager_shared::ledger::Ledger;
use restager_shared::startup::{self, StartupError};

use self::model::{RunDetail, RunSummary};
use crate::admin::client::{AdminClient, Answer, ClientError};
use crate::commands::CommandError;
use crate::local_server;
use crate::settings::ClientSettings;

/// The runs, from the ledger or from a running serve.
pub enum Runs {
    Ledger {
        ledger: Arc<dyn Ledger>,
        location: String,
    },
    Server(AdminClient),
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        CommandError::Failed(e.to_string())
    }
}

impl Runs {
    /// A serve when one is named, else the ledger the settings name.
    pub async fn open(source: &dyn Source) -> Result<Self, CommandError> {
        let env = Env(source);
        let client = ClientSettings::read(&env)?;
        if let Some(url) = &client.server_url {
            return Ok(Runs::Server(AdminClient::new(url, client.token)?));
        }
        let storage = StorageSettings::from_env(&env);
        match startup::ledger(&storage).await {
            Ok(ledger) => Ok(Runs::Ledger {
                ledger,
                location: format!("the ledger at {}", startup::ledger_location(&storage)),
            }),
            Err(e @ StartupError::EmbeddedLedger { .. }) => Err(held_by_serve(&storage, &e)),
            Err(e) => Err(e.into()),
        }
    }

    /// Where the runs come from, for messages.
    pub fn location(&self) -> String {
        match self {
            Runs::Ledger { location, .. } => location.clone(),
            Runs::Server(client) => format!("restager serve at {}", client.base()),
        }
    }

    /// The newest `limit` runs, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<RunSummary>, CommandError> {
        match self {
            Runs::Ledger { ledger, .. } => {
                let views = ledger
                    .list_runs(limit)
                    .await
                    .map_err(|e| CommandError::failed("cannot read the runs from the ledger", e))?;
                Ok(views.iter().map(RunSummary::of).collect())
            }
            Runs::Server(client) => {
                let limit = limit.clamp(1, crate::admin::routes::MAX_LIMIT);
                match client.get(&format!("runs?limit={limit}")).await? {
                    Answer::Found(runs) => Ok(runs),
                    Answer::NotFound(message) => Err(CommandError::Failed(message)),
                }
            }
        }
    }

    /// One run with its apps; `None` when there is no such run.
    pub async fn get(&self, id: &RunId) -> Result<Option<RunDetail>, CommandError> {
        match self {
            Runs::Ledger { ledger, .. } => {
                let view = ledger
                    .get_run(id)
                    .await
                    .map_err(|e| CommandError::failed("cannot read the run from the ledger", e))?;
                Ok(view.as_ref().map(RunDetail::of))
            }
            Runs::Server(client) => match client.get(&format!("runs/{id}")).await? {
                Answer::Found(run) => Ok(Some(run)),
                Answer::NotFound(_) => Ok(None),
            },
        }
    }
}

/// The embedded ledger file could not be opened: one process holds it at a
/// time, and that is usually a running `restager serve`. Says which
/// `--server` to use instead.
fn held_by_serve(storage: &StorageSettings, e: &StartupError) -> CommandError {
    let path = storage.data_dir.join(startup::EMBEDDED_LEDGER);
    match local_server::advertised(&storage.data_dir) {
        Some(url) => CommandError::Failed(format!(
            "restager serve holds the ledger file {} (it is listening on {url}); run `restager status --server {url}` \
             (or set RESTAGER_SERVER_URL={url}) instead, with serve's RESTAGER_ADMIN_TOKEN",
            path.display()
        )),
        None => CommandError::Failed(format!(
            "{e}; if restager serve is running with this data directory, it holds the ledger file: run \
             `restager status --server http://HOST:PORT` (or set RESTAGER_SERVER_URL) instead, with serve's RESTAGER_ADMIN_TOKEN"
        )),
    }
}
