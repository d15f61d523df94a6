//! The SANDBOX channel: a simulated provider inside Pregón that sends nothing. It answers
//! after a configurable latency, rejects a configurable share of messages, and later reports
//! them delivered and (some) read, through the same status path as a real provider's
//! webhooks. For trying broadcasts out with `cargo run`, without any account.

use std::time::Duration;

use chrono::Utc;
use entity::DeliveryStatus;
use rand::Rng;

use super::adapter::{ChannelAdapter, Outgoing, SendOutcome, StatusReport, StatusSink};

/// How the simulated provider behaves.
#[derive(Debug, Clone, Copy)]
pub struct SandboxSettings {
    /// How long the provider takes to accept a message.
    pub latency: Duration,
    /// Percent of messages it rejects (0–100).
    pub failure_percent: u8,
    /// How long after acceptance a message is reported delivered (and as long again, read).
    pub delivery_delay: Duration,
    /// Percent of delivered messages later reported read (0–100).
    pub read_percent: u8,
}

pub struct SandboxAdapter {
    settings: SandboxSettings,
    statuses: StatusSink,
}

impl SandboxAdapter {
    pub fn new(settings: SandboxSettings, statuses: StatusSink) -> SandboxAdapter {
        SandboxAdapter { settings, statuses }
    }
}

#[async_trait::async_trait]
impl ChannelAdapter for SandboxAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        tokio::time::sleep(self.settings.latency).await;
        let (fails, read) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..100u8) < self.settings.failure_percent,
                rng.random_range(0..100u8) < self.settings.read_percent,
            )
        };
        if fails {
            return SendOutcome::Permanent {
                code: "SANDBOX_REJECTED".into(),
                text: "The sandbox simulated a provider rejecting this message.".into(),
            };
        }
        let provider_message_id = format!("sandbox-{}", message.message_id);
        let report = |status| StatusReport {
            channel_id: message.channel.id,
            message_id: Some(message.message_id),
            provider_message_id: Some(provider_message_id.clone()),
            status,
            at: Utc::now(),
            error: None,
            retryable: false,
        };
        let (delivered, read_report) = (report(DeliveryStatus::Delivered), report(DeliveryStatus::Read));
        let (sink, delay) = (self.statuses.clone(), self.settings.delivery_delay);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if sink.send(StatusReport { at: Utc::now(), ..delivered }).is_err() || !read {
                return;
            }
            tokio::time::sleep(delay).await;
            let _ = sink.send(StatusReport { at: Utc::now(), ..read_report });
        });
        SendOutcome::Accepted { provider_message_id: Some(provider_message_id) }
    }
}
