//! moto's server as a real SQS and DynamoDB endpoint on a loopback port.
//!
//! The server is moto's own, from `.venv`, started through
//! `moto_serialized.py` so that it answers one request at a time (moto's
//! threaded server loses concurrent DynamoDB writes when a transaction is
//! cancelled; DynamoDB does not). `.ci/install-python-tools` is run first (it
//! takes a lock, so parallel test processes install once).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sqs::types::QueueAttributeName;
use tokio::process::{Child, Command};

/// A running `moto_server`, killed when dropped.
pub struct MotoServer {
    _child: Child,
    endpoint: String,
}

/// The workspace root (this crate lives in `tests/support`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The venv's Python tools. The installer always runs: it is quick when
/// everything is there, and its lock makes a test wait while another test
/// process is still installing (a tool's file can exist before pip is done).
pub fn venv_bin(tool: &str) -> PathBuf {
    let root = repo_root();
    let status = std::process::Command::new(root.join(".ci/install-python-tools"))
        .status()
        .expect(".ci/install-python-tools can be run");
    assert!(
        status.success(),
        ".ci/install-python-tools failed: {status}"
    );
    root.join(".venv/bin").join(tool)
}

/// How long moto's server may take to answer: about a second on an idle machine,
/// far longer on a loaded 2-core one; only a server that never answers fails.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// moto_server behind one lock, so that concurrent transactions behave as
/// DynamoDB's do (see the file's own comment).
const SERIALIZED_LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_serialized.py");
/// Fresh ports tried when the server exits at once (another process took the port).
const START_ATTEMPTS: usize = 3;

impl MotoServer {
    /// Starts moto's server (serialized) on a free loopback port and waits until
    /// it answers. Panics with the reason when it cannot (a test harness).
    pub async fn start() -> Self {
        let server = venv_bin("python");
        let mut last_exit = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&server).await {
                Ok(moto) => return moto,
                Err(exit) => last_exit = Some(exit),
            }
        }
        panic!(
            "moto_server exited at start-up {START_ATTEMPTS} times (last: {}); run {} {SERIALIZED_LAUNCHER} -H 127.0.0.1 -p 5000 by hand to see why",
            last_exit.unwrap_or_default(),
            server.display()
        );
    }

    /// `Err` when the process exited before answering (e.g. the port was
    /// taken between choosing and binding it).
    async fn try_start(server: &std::path::Path) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new(server)
            .arg(SERIALIZED_LAUNCHER)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", server.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let started = tokio::time::Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(status.to_string());
            }
            if http
                .get(format!("{endpoint}/moto-api/"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Self {
                    _child: child,
                    endpoint,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "moto_server did not answer on {endpoint}/moto-api/ within {} s",
            READY_TIMEOUT.as_secs()
        );
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint)
    }
}

/// AWS SDK configuration for a local endpoint: static test credentials and
/// a fixed region, so nothing looks for real AWS credentials.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .build()
}

/// Creates a queue (`.fifo` is appended for FIFO queues) and returns its URL.
/// With `dead_letter_after`, a dead-letter queue is created and wired with
/// that `maxReceiveCount`.
pub async fn create_queue(
    sdk: &SdkConfig,
    name: &str,
    fifo: bool,
    dead_letter_after: Option<u32>,
) -> String {
    let client = aws_sdk_sqs::Client::new(sdk);
    let suffix = if fifo { ".fifo" } else { "" };
    let create = |queue_name: String| {
        let mut req = client.create_queue().queue_name(queue_name);
        if fifo {
            req = req.attributes(QueueAttributeName::FifoQueue, "true");
        }
        req
    };
    let mut req = create(format!("{name}{suffix}"));
    if let Some(max) = dead_letter_after {
        let dlq_url = create(format!("{name}-dlq{suffix}"))
            .send()
            .await
            .expect("dead-letter queue created")
            .queue_url()
            .expect("queue url")
            .to_string();
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dead-letter queue attributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dead-letter queue arn");
        req = req.attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max}"}}"#),
        );
    }
    req.send()
        .await
        .expect("queue created")
        .queue_url()
        .expect("queue url")
        .to_string()
}

/// The ledger table as infra/template.yaml declares `LedgerTable`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let attr = |name: &str| {
        aws_sdk_dynamodb::types::AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let key = |name: &str, kind| {
        aws_sdk_dynamodb::types::KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key schema element")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .key_schema(key("sk", aws_sdk_dynamodb::types::KeyType::Range))
        .send()
        .await
        .expect("table created");
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .expect("ttl enabled");
}
