//! The one trait every provider adapter implements, and what goes in and out of it.
//!
//! An adapter turns an [`Outgoing`] message into the provider's request and the provider's
//! answer into a [`SendOutcome`]: accepted, transient (retry later, honouring any
//! retry-after) or permanent (failed with the provider's code and text). It decides nothing
//! else: the dispatcher owns rates, retries and statuses.
//!
//! Two rules hold for every provider: a redirect (3xx) is never followed and fails the message
//! (`REDIRECT_REFUSED`); and a 2xx answer means the provider has the message, so it is SENT even
//! when the body cannot be read (then without the provider's id), never sent a second time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{ChannelKind, DeliveryStatus, MessageType, channel};

use super::content::MessageContent;
use super::custom::CustomAdapter;
use super::line::LineAdapter;
use super::messenger::MessengerAdapter;
use super::sandbox::{SandboxAdapter, SandboxSettings};
use super::telegram::TelegramAdapter;
use super::twilio::TwilioAdapter;
use super::viber::ViberAdapter;
use super::whatsapp::WhatsappAdapter;

/// One message to hand to a provider.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Our message id: the idempotency key of every attempt.
    pub message_id: i64,
    /// When the message row was created (with the id, what makes a message unique across
    /// databases: LINE's retry key).
    pub created_at: DateTime<Utc>,
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub channel: &'a channel::Model,
    /// The provider base URL in use (the channel's override or the official host).
    pub base_url: Option<&'a str>,
    /// Where the provider should post this channel's status callbacks, for providers that take
    /// it per message (Twilio's `StatusCallback`): `{PREGON_PUBLIC_URL}/webhooks/{channelId}`.
    pub webhook_url: &'a str,
    /// The recipient's identifier on the channel.
    pub address: &'a str,
    pub message_type: MessageType,
    pub content: &'a MessageContent,
}

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; the provider's id for the message when it gave one.
    Accepted { provider_message_id: Option<String> },
    /// Try again later (timeout, 5xx, 429); `retry_after` when the provider said when.
    Transient { code: String, text: String, retry_after: Option<Duration> },
    /// Will never succeed as it is: the message fails with the provider's code and text.
    Permanent { code: String, text: String },
    /// The recipient cannot be reached on this channel (blocked the bot, unsubscribed): the
    /// message fails like [`SendOutcome::Permanent`] and the contact's identifier on the
    /// channel is marked unreachable until the contact writes again.
    Unreachable { code: String, text: String },
}

/// A delivery status a provider reported after accepting a message (a webhook, or the
/// sandbox's simulation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub channel_id: i64,
    /// Our id, when the provider echoes it back.
    pub message_id: Option<i64>,
    /// The provider's id, otherwise.
    pub provider_message_id: Option<String>,
    /// SENT, DELIVERED, READ or FAILED.
    pub status: DeliveryStatus,
    pub at: DateTime<Utc>,
    /// The provider's code and text, for FAILED.
    pub error: Option<(String, String)>,
    /// For FAILED: the provider says the failure is temporary (a throughput limit) and the
    /// message should be sent again later.
    pub retryable: bool,
}

/// A provider adapter.
#[async_trait::async_trait]
pub trait ChannelAdapter: Send + Sync {
    /// Sends one message. Never panics and never returns early: every failure is an outcome.
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome;
}

/// Where the sandbox's simulated status callbacks go.
pub type StatusSink = tokio::sync::mpsc::UnboundedSender<StatusReport>;

/// The adapters of every kind Pregón can send on, sharing one HTTP client.
#[derive(Clone)]
pub struct Adapters {
    custom: Arc<CustomAdapter>,
    sandbox: Arc<SandboxAdapter>,
    whatsapp: Arc<WhatsappAdapter>,
    twilio: Arc<TwilioAdapter>,
    telegram: Arc<TelegramAdapter>,
    messenger: Arc<MessengerAdapter>,
    viber: Arc<ViberAdapter>,
    line: Arc<LineAdapter>,
}

impl Adapters {
    pub fn new(provider_timeout: Duration, sandbox: SandboxSettings, statuses: StatusSink) -> Adapters {
        let client = reqwest::Client::builder()
            .timeout(provider_timeout)
            .connect_timeout(provider_timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            // A redirect is never followed: following one turns the POST into a body-less GET
            // (301/302) that a 2xx would then "accept", or sends the credentials to another
            // host. A 3xx fails the message instead (`refuse_redirect`).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Pregon/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Adapters {
            custom: Arc::new(CustomAdapter::new(client.clone())),
            whatsapp: Arc::new(WhatsappAdapter::new(client.clone())),
            twilio: Arc::new(TwilioAdapter::new(client.clone())),
            telegram: Arc::new(TelegramAdapter::new(client.clone())),
            messenger: Arc::new(MessengerAdapter::new(client.clone())),
            viber: Arc::new(ViberAdapter::new(client.clone())),
            line: Arc::new(LineAdapter::new(client)),
            sandbox: Arc::new(SandboxAdapter::new(sandbox, statuses)),
        }
    }

    /// The adapter for `kind`; `None` for kinds Pregón does not send on yet.
    pub fn for_kind(&self, kind: ChannelKind) -> Option<Arc<dyn ChannelAdapter>> {
        match kind {
            ChannelKind::Custom => Some(self.custom.clone()),
            ChannelKind::Sandbox => Some(self.sandbox.clone()),
            ChannelKind::WhatsappCloud | ChannelKind::Whatsapp360dialog => Some(self.whatsapp.clone()),
            ChannelKind::TwilioSms | ChannelKind::TwilioWhatsapp => Some(self.twilio.clone()),
            ChannelKind::Telegram => Some(self.telegram.clone()),
            ChannelKind::Messenger => Some(self.messenger.clone()),
            ChannelKind::Viber => Some(self.viber.clone()),
            ChannelKind::Line => Some(self.line.clone()),
            _ => None,
        }
    }

    /// Whether Pregón can send on `kind`.
    pub fn supports(kind: ChannelKind) -> bool {
        matches!(
            kind,
            ChannelKind::Custom
                | ChannelKind::Sandbox
                | ChannelKind::WhatsappCloud
                | ChannelKind::Whatsapp360dialog
                | ChannelKind::TwilioSms
                | ChannelKind::TwilioWhatsapp
                | ChannelKind::Telegram
                | ChannelKind::Messenger
                | ChannelKind::Viber
                | ChannelKind::Line
        )
    }
}

/// A credential of `channel`, when set.
pub fn credential<'a>(channel: &'a channel::Model, key: &str) -> Option<&'a str> {
    channel.credentials.get(key).and_then(|value| value.as_str()).filter(|value| !value.is_empty())
}

/// The outcome of a request that got no HTTP answer: a timeout or a failed connection, both
/// worth retrying.
pub fn transport_failure(err: &reqwest::Error, provider: &str) -> SendOutcome {
    if err.is_timeout() {
        SendOutcome::Transient {
            code: "TIMEOUT".into(),
            text: format!("{provider} did not answer in time."),
            retry_after: None,
        }
    } else {
        SendOutcome::Transient {
            code: "CONNECTION_FAILED".into(),
            text: format!("Could not connect to {provider}."),
            retry_after: None,
        }
    }
}

/// A redirect answer fails the message: Pregón does not follow redirects (see
/// `Adapters::new`); the channel's base URL should name the final address.
pub fn refuse_redirect(status: reqwest::StatusCode, provider: &str) -> Option<SendOutcome> {
    status.is_redirection().then(|| SendOutcome::Permanent {
        code: "REDIRECT_REFUSED".into(),
        text: format!(
            "{provider} answered {status}, a redirect; Pregón does not follow redirects. \
             Set the channel's base URL to the address that accepts the messages."
        ),
    })
}

/// The outcome of a 2xx answer whose body could not be read: the provider has accepted the
/// message, so it is SENT (without the provider's id, which later statuses would need) and
/// never sent again; sending again would deliver it twice on providers that take no
/// idempotency key.
pub fn accepted_unreadable(provider: &str) -> SendOutcome {
    tracing::warn!(provider, "a provider accepted a message with an answer Pregón could not read; recorded as sent");
    SendOutcome::Accepted { provider_message_id: None }
}

/// A permanent failure because the channel lacks what a send needs.
pub fn misconfigured(text: impl Into<String>) -> SendOutcome {
    SendOutcome::Permanent { code: "CHANNEL_MISCONFIGURED".into(), text: text.into() }
}

/// Longest provider text kept on a failed message.
pub const MAX_ERROR_TEXT: usize = 500;

/// A provider's error text, trimmed to [`MAX_ERROR_TEXT`] characters.
pub fn error_text(text: &str) -> String {
    text.trim().chars().take(MAX_ERROR_TEXT).collect()
}

/// Reads a `Retry-After` header: seconds, or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}
