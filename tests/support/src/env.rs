//! Environments for the functions' settings tests: what every Lambda needs
//! to start, so that each test adds or removes only what it is about.

use std::collections::HashMap;

/// The variables every Lambda function needs (Cloud Foundry, the jobs
/// queue, the ledger table), with example values.
pub fn lambda_env() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("CF_API_URL", "https://api.sys.example.com"),
        ("CF_CLIENT_ID", "restager"),
        ("CF_CLIENT_SECRET", "s3cret"),
        (
            "RESTAGER_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/1/jobs.fifo",
        ),
        ("RESTAGER_LEDGER_TABLE", "restager-ledger"),
    ])
}
