//! moto's server (real SQS and DynamoDB wire protocols) on a free loopback
//! port, plus the queue and table shaped as infra/template.yaml declares them.

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use test_support::moto::{MotoServer, sdk_config, venv_bin};
use tokio::process::{Child, Command};

use super::BenchError;

/// The launcher that removes moto's O(queue length) cost per sent message.
const LINEAR_LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bench/moto_linear.py");

/// What keeps the server alive; dropping it kills the server.
enum Process {
    Harness(#[allow(dead_code)] MotoServer),
    Own(
        #[allow(dead_code)] Child,
        #[allow(dead_code)] tempfile::NamedTempFile,
    ),
}

/// A running moto server.
pub struct Moto {
    _process: Process,
    endpoint: String,
}

impl Moto {
    /// The workspace venv's `moto_server`, through test-support's harness.
    pub async fn start() -> Result<Self, BenchError> {
        let server = MotoServer::start().await;
        Ok(Self {
            endpoint: server.endpoint().to_owned(),
            _process: Process::Harness(server),
        })
    }

    /// moto with sends in O(1) per message (see moto_linear.py): for
    /// fan-outs of thousands of messages into one queue.
    pub async fn start_linear() -> Result<Self, BenchError> {
        let python = venv_bin("python");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::Setup(format!("no free loopback port: {e}")))?
            .port();
        // moto logs a line per request: a pipe nobody drains would fill and
        // stall the server, so its output goes to a file read on failure.
        let log = tempfile::NamedTempFile::new()
            .map_err(|e| BenchError::Setup(format!("no temporary file for moto's log: {e}")))?;
        let log_writer = log
            .reopen()
            .map_err(|e| BenchError::Setup(format!("moto's log: {e}")))?;
        let mut child = Command::new(&python)
            .arg(LINEAR_LAUNCHER)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_writer))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", python.display())))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // Python imports moto in a few seconds on an idle machine; a loaded
        // one can take many times that, so wait on the answer, not a count.
        let limit = Instant::now() + Duration::from_secs(60);
        while Instant::now() < limit {
            if http
                .get(format!("{endpoint}/moto-api/"))
                .send()
                .await
                .is_ok()
            {
                return Ok(Self {
                    _process: Process::Own(child, log),
                    endpoint,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let why = std::fs::read_to_string(log.path()).unwrap_or_default();
                return Err(BenchError::Setup(format!(
                    "{LINEAR_LAUNCHER} exited ({status}): {}",
                    why.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(BenchError::Setup(format!(
            "moto did not answer on {endpoint} within 60 s"
        )))
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK settings for this server with static test credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint)
    }

    /// Forgets every queue and message (`POST /moto-api/reset`), so each
    /// timed run starts from an empty server: moto slows down as its heap of
    /// earlier messages grows.
    pub async fn reset(&self) -> Result<(), BenchError> {
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .map_err(|e| BenchError::Run(format!("moto reset: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(BenchError::Run(format!(
                "moto reset answered {}",
                response.status()
            )))
        }
    }

    /// A FIFO queue like `JobsQueue` (explicit deduplication ids); its URL.
    pub async fn fifo_queue(&self, name: &str) -> Result<String, BenchError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config());
        let out = sqs
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            .attributes(QueueAttributeName::VisibilityTimeout, "5400")
            .send()
            .await
            .map_err(|e| BenchError::Setup(format!("create queue: {e}")))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Setup("CreateQueue returned no URL".to_owned()))
    }

    /// [`Self::reset`], then [`Self::fifo_queue`].
    pub async fn fresh_queue(&self, name: &str) -> Result<String, BenchError> {
        self.reset().await?;
        self.fifo_queue(name).await
    }

    /// Messages in a queue (visible + in flight).
    pub async fn queue_depth(&self, url: &str) -> Result<u64, BenchError> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config());
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| BenchError::Run(format!("queue attributes: {e}")))?;
        let attrs = out.attributes();
        let get = |k: QueueAttributeName| {
            attrs
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// The ledger table as `LedgerTable` declares it (pk/sk strings, on demand).
    pub async fn ledger_table(&self, name: &str) -> Result<(), BenchError> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk_config());
        let bad = |e: aws_sdk_dynamodb::error::BuildError| BenchError::Setup(e.to_string());
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(bad)
        };
        let key = |n: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(kind)
                .build()
                .map_err(bad)
        };
        ddb.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(|e| BenchError::Setup(format!("create table: {e}")))?;
        Ok(())
    }
}
