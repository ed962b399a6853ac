//! The tick crate's one integration-test binary: the Lambda path of a
//! rollout on moto and the simulator, by topic.

mod waves;
mod windows;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use restager_shared::queue::Delivery;

/// Deliveries read off the queue as the SQS event Lambda hands the worker.
fn sqs_event<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = deliveries
        .into_iter()
        .map(|d| {
            let mut m = SqsMessage::default();
            m.message_id = Some(d.message_id.clone());
            m.receipt_handle = Some(d.receipt.clone());
            m.body = Some(d.body.clone());
            m.attributes.insert(
                "ApproximateReceiveCount".into(),
                d.receive_count.to_string(),
            );
            m
        })
        .collect();
    event
}
