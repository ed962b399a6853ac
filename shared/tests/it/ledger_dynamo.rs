//! The ledger conformance suite against `DynamoLedger` on moto's real
//! DynamoDB server, with the table created exactly as infra/template.yaml
//! declares it; plus an unreachable endpoint.

use std::sync::Arc;

use restager_shared::ledger::{DynamoLedger, Ledger, LedgerError};

use test_support::moto::{self, create_table};

async fn fresh() -> (Arc<dyn Ledger>, moto::MotoServer) {
    let server = moto::MotoServer::start().await;
    let config = moto::sdk_config(server.endpoint());
    let ledger = DynamoLedger::from_sdk_config(&config, "restager-ledger");
    create_table(&aws_sdk_dynamodb::Client::new(&config), ledger.table()).await;
    (Arc::new(ledger), server)
}

conformance_tests!(fresh());

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    // Bound then closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let config = moto::sdk_config(&format!("http://127.0.0.1:{port}"));
    let ledger = DynamoLedger::from_sdk_config(&config, "restager-ledger");
    match ledger
        .remember("k", std::time::Duration::from_secs(60))
        .await
    {
        Err(LedgerError::Unavailable(msg)) => {
            assert!(msg.contains("restager-ledger"), "names the table: {msg}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let run = restager_shared::domain::RunId::for_release("dynamo:unreachable");
    assert!(matches!(
        ledger.get_run(&run).await,
        Err(LedgerError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_missing_table_is_unavailable() {
    let server = moto::MotoServer::start().await;
    let ledger =
        DynamoLedger::from_sdk_config(&moto::sdk_config(server.endpoint()), "no-such-table");
    let run = restager_shared::domain::RunId::for_release("dynamo:missing-table");
    match ledger.get_run(&run).await {
        Err(LedgerError::Unavailable(msg)) => assert!(msg.contains("no-such-table"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A `put_run` that died after marking some jobs expected (a Lambda timeout)
/// is repaired by the retry: the run does not complete before every job.
#[tokio::test]
async fn a_retried_put_run_repairs_the_expected_count() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use restager_shared::domain::Outcome;

    let server = moto::MotoServer::start().await;
    let config = moto::sdk_config(server.endpoint());
    let client = aws_sdk_dynamodb::Client::new(&config);
    let ledger = DynamoLedger::from_sdk_config(&config, "restager-ledger");
    create_table(&client, ledger.table()).await;

    let full = crate::ledger_conformance::run("dynamo:repair", 3, chrono::Utc::now());
    let first = restager_shared::ledger::RunRecord {
        expected: full.expected[..2].to_vec(),
        ..full.clone()
    };
    ledger.put_run(&first).await.expect("put_run");
    // What the interrupted second put_run left: the third job marked, not counted.
    let third = &full.expected[2];
    client
        .update_item()
        .table_name(ledger.table())
        .key("pk", AttributeValue::S(format!("run#{}", full.run_id)))
        .key("sk", AttributeValue::S(format!("job#{}", third.job_id)))
        .update_expression("SET expected = :t, spec = :spec, seq = :seq")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(
            ":spec",
            AttributeValue::S(serde_json::to_string(third).expect("encodes")),
        )
        .expression_attribute_values(":seq", AttributeValue::N("2".into()))
        .send()
        .await
        .expect("half-written job");

    ledger.put_run(&full).await.expect("the retried put_run");
    let done = Outcome::AlreadyCurrent;
    for job in &full.expected[..2] {
        let rec = ledger
            .record_outcome(&full.run_id, &job.job_id, &done)
            .await
            .expect("record");
        assert!(!rec.completed_run, "completed before the third job");
    }
    let rec = ledger
        .record_outcome(&full.run_id, &third.job_id, &done)
        .await
        .expect("record");
    assert!(rec.completed_run);
}

/// A worker that stored its final outcome but failed before counting it (a
/// DynamoDB error, a timeout) leaves the job leasable, so the redelivery
/// records it again and the run still completes, once.
#[tokio::test]
async fn an_outcome_stored_but_not_counted_is_finished_by_the_redelivery() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use restager_shared::domain::Outcome;
    use restager_shared::ledger::Lease;

    let server = moto::MotoServer::start().await;
    let config = moto::sdk_config(server.endpoint());
    let client = aws_sdk_dynamodb::Client::new(&config);
    let ledger = DynamoLedger::from_sdk_config(&config, "restager-ledger");
    create_table(&client, ledger.table()).await;

    let run = crate::ledger_conformance::run("dynamo:settle", 2, chrono::Utc::now());
    ledger.put_run(&run).await.expect("put_run");
    let (j0, j1) = (
        run.expected[0].job_id.clone(),
        run.expected[1].job_id.clone(),
    );
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        ledger
            .lease_job(&run.run_id, &j1, "msg-1", hour)
            .await
            .expect("lease"),
        Lease::Acquired
    );
    // The first delivery's write landed; its count did not.
    let done = Outcome::AlreadyCurrent;
    client
        .update_item()
        .table_name(ledger.table())
        .key("pk", AttributeValue::S(format!("run#{}", run.run_id)))
        .key("sk", AttributeValue::S(format!("job#{j1}")))
        .update_expression("SET outcome = :o, is_final = :t ADD attempts :one")
        .expression_attribute_values(
            ":o",
            AttributeValue::S(serde_json::to_string(&done).expect("encodes")),
        )
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("half-recorded outcome");

    assert!(
        !ledger
            .record_outcome(&run.run_id, &j0, &done)
            .await
            .expect("record")
            .completed_run
    );
    assert_eq!(
        ledger
            .lease_job(&run.run_id, &j1, "msg-2", hour)
            .await
            .expect("lease"),
        Lease::HeldElsewhere,
        "the first delivery's lease still stands"
    );
    assert_eq!(
        ledger
            .lease_job(&run.run_id, &j1, "msg-1", hour)
            .await
            .expect("lease"),
        Lease::Acquired,
        "the unsettled job is leasable again, not AlreadyFinal"
    );
    assert!(
        ledger
            .record_outcome(&run.run_id, &j1, &done)
            .await
            .expect("record")
            .completed_run,
        "recording it again counts it and completes the run"
    );
    assert!(
        !ledger
            .record_outcome(&run.run_id, &j1, &done)
            .await
            .expect("record")
            .completed_run
    );
    assert_eq!(
        ledger
            .lease_job(&run.run_id, &j1, "msg-3", hour)
            .await
            .expect("lease"),
        Lease::AlreadyFinal(done)
    );
    let view = ledger
        .get_run(&run.run_id)
        .await
        .expect("get_run")
        .expect("stored");
    assert_eq!(view.finished_jobs(), 2);
    assert!(view.completed_at.is_some());
}
