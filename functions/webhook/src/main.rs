//! The webhook Lambda. Reads its settings (a bad one stops the container at
//! start-up with the variable named), builds the SQS queue, the DynamoDB
//! ledger and the notifier once per container, then serves Function URL
//! requests and the scheduled sweep through [`WebhookFunction::invoke`].

// The SDK and runtime futures nest deeper than the default layout query limit.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use restager_shared::cf::CfClient;
use restager_shared::config::{Env, ProcessEnv};
use restager_shared::ledger::{DynamoLedger, Ledger};
use restager_shared::notify::{LogNotifier, Notifier};
use restager_shared::queue::JobQueue;
use restager_shared::queue::sqs::SqsQueue;
use restager_shared::slack::{SlackActions, SlackNotifier};
use restager_shared::webhook::{Router, RouterDeps};
use serde_json::Value;
use webhook::app::WebhookFunction;
use webhook::settings::WebhookConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    lambda_http::tracing::init_default_subscriber();
    let function = match build().await {
        Ok(function) => function,
        Err(e) => {
            tracing::error!(error = %e, "the webhook cannot start");
            return Err(e);
        }
    };
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function.invoke(event).await
    }))
    .await
}

async fn build() -> Result<WebhookFunction, BoxError> {
    let config = WebhookConfig::from_env(&Env(&ProcessEnv))?;
    let cf = CfClient::new(&config.cf)?;
    let queue: Arc<dyn JobQueue> = Arc::new(SqsQueue::from_env(config.queue_url.clone()).await);
    let ledger: Arc<dyn Ledger> = Arc::new(DynamoLedger::from_env(&config.ledger_table).await?);
    let slack = SlackNotifier::from_settings(&config.slack, Arc::clone(&ledger))?.map(Arc::new);
    let notifier: Arc<dyn Notifier> = match &slack {
        Some(slack) => slack.clone(),
        None => Arc::new(LogNotifier),
    };
    let slack_actions =
        SlackActions::from_settings(&config.slack, Arc::clone(&ledger), Arc::clone(&queue))?
            .map(Arc::new);
    tracing::info!(
        slack = slack.is_some(),
        slack_actions = slack_actions.is_some(),
        github = !config.intake.github_secrets.is_empty(),
        notices = !config.intake.notice_secrets.is_empty(),
        "webhook ready"
    );
    let router = Router::new(RouterDeps {
        intake: config.intake,
        cf,
        queue,
        ledger,
        notifier,
        slack_actions,
    });
    Ok(WebhookFunction { router, slack })
}
