//! Visibility-timeout bookkeeping shared by the in-memory and the embedded
//! queue, so both hand out, hide and redeliver messages by the same rules
//! as SQS.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Delivery;

/// One queued message and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Message {
    pub id: String,
    pub body: String,
    /// Enqueue order; receives hand out the oldest visible messages first.
    pub seq: u64,
    /// Milliseconds since the Unix epoch before which the message is hidden.
    pub visible_at_ms: u64,
    pub receive_count: u32,
    /// Hidden by `retry_later` (a chosen back-off), not by being in flight.
    #[serde(default)]
    pub backed_off: bool,
}

impl Message {
    pub fn new(id: String, body: String, seq: u64, now_ms: u64) -> Self {
        Self {
            id,
            body,
            seq,
            visible_at_ms: now_ms,
            receive_count: 0,
            backed_off: false,
        }
    }

    pub fn is_visible(&self, now_ms: u64) -> bool {
        self.visible_at_ms <= now_ms
    }

    /// Hands the message out: hidden for `visibility`, counted, with a
    /// receipt that names this particular delivery.
    pub fn deliver(&mut self, now_ms: u64, visibility: Duration) -> Delivery {
        self.receive_count = self.receive_count.saturating_add(1);
        self.visible_at_ms = now_ms.saturating_add(millis(visibility));
        self.backed_off = false;
        Delivery {
            message_id: self.id.clone(),
            receipt: receipt(&self.id, self.receive_count),
            body: self.body.clone(),
            receive_count: self.receive_count,
        }
    }

    /// Whether `receipt` belongs to the latest delivery; an older one lost
    /// the message when its visibility ran out and someone else received it.
    pub fn owns(&self, receipt_handle: &str) -> bool {
        receipt(&self.id, self.receive_count) == receipt_handle
    }

    pub fn delay(&mut self, now_ms: u64, delay: Duration) {
        self.visible_at_ms = now_ms.saturating_add(millis(delay));
        self.backed_off = true;
    }

    /// Received by a consumer that has not finished, completed nor handed it back.
    pub fn in_flight(&self, now_ms: u64) -> bool {
        self.receive_count > 0 && !self.backed_off && !self.is_visible(now_ms)
    }
}

fn receipt(id: &str, receive_count: u32) -> String {
    format!("{id}#{receive_count}")
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

/// Picks up to `max` visible messages, oldest first.
pub(crate) fn pick_visible<'a>(
    messages: impl Iterator<Item = &'a mut Message>,
    now_ms: u64,
    max: usize,
) -> Vec<&'a mut Message> {
    let mut visible: Vec<&mut Message> = messages.filter(|m| m.is_visible(now_ms)).collect();
    visible.sort_by_key(|m| m.seq);
    visible.truncate(max);
    visible
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_hides_counts_and_issues_fresh_receipts() {
        let mut m = Message::new("j".into(), "{}".into(), 0, 1_000);
        assert!(m.is_visible(1_000));
        let first = m.deliver(1_000, Duration::from_secs(30));
        assert_eq!(first.receive_count, 1);
        assert!(!m.is_visible(30_999));
        assert!(m.is_visible(31_000));
        let second = m.deliver(31_000, Duration::from_secs(30));
        assert!(!m.owns(&first.receipt));
        assert!(m.owns(&second.receipt));
    }

    #[test]
    fn in_flight_means_received_and_neither_visible_nor_backed_off() {
        let mut m = Message::new("j".into(), "{}".into(), 0, 0);
        assert!(!m.in_flight(0));
        m.deliver(0, Duration::from_secs(30));
        assert!(m.in_flight(1));
        m.delay(1, Duration::from_secs(60));
        assert!(!m.in_flight(2), "a chosen back-off is not in flight");
        m.deliver(70_000, Duration::from_secs(30));
        assert!(m.in_flight(70_001));
    }
}
