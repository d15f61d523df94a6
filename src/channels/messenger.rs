//! Facebook Messenger: the Send API of the Graph API.
//!
//! Sending: `POST {base}/{apiVersion}/{pageId or me}/messages` with `Authorization: Bearer
//! {pageAccessToken}` and `{"recipient": {"id": PSID}, "messaging_type", "message": {"text"}}`:
//! `messaging_type` is `MESSAGE_TAG` with the `tag` for tagged messages (broadcasts, outside
//! the 7-day window) and `RESPONSE` otherwise. An answer with `message_id` accepts it. Graph
//! errors (`{"error": {"code", "error_subcode", "message"}}`): rate limits and temporary
//! errors (1, 2, 4, 17, 32, 613, 1200, any 5xx) are retried; 551 (the person is not available)
//! fails the message and marks the recipient unreachable; 10/2018278 and 200/2018108 (outside
//! the window the page may message in) fail it as outside the messaging window; any other
//! fails it with the Graph code and message.
//!
//! Webhooks (`object: page`), signed like WhatsApp's (`X-Hub-Signature-256` with the app
//! secret), with Meta's `hub.challenge` check on GET: `messaging[].message` is an inbound
//! message (echoes of the page's own messages are skipped), `delivery` names delivered message
//! ids (`mids`, which Meta may leave out) and a watermark, `read` a watermark: everything sent
//! to that person up to it has been read. A message counts as sent at the moment its request
//! went out, never after Meta's time of receipt, so the newest message is covered by a
//! watermark. With the channel's `pageId` set, events of other Pages (`entry.id`,
//! `recipient.id`) are skipped.
//!
//! Windows (Meta, "Messenger Platform policy" and "Message Tags"): an automated message may go
//! within 24 hours of the person's last message; a person's reply (`sendMessage` with source
//! USER) between 24 hours and 7 days goes with the HUMAN_AGENT tag, and not at all after 7
//! days; a broadcast carries one of the other tags.

use entity::{DeliveryStatus, MessageType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, StatusReport, credential, error_text, misconfigured, refuse_redirect,
    retry_after, transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{Watermark, WebhookError, WebhookEvents, WebhookRequest, unix_millis};
use super::whatsapp::{DEFAULT_API_VERSION, GraphError, meta_signature};

pub struct MessengerAdapter {
    client: reqwest::Client,
}

impl MessengerAdapter {
    pub fn new(client: reqwest::Client) -> MessengerAdapter {
        MessengerAdapter { client }
    }
}

/// The Send API request body for `message`.
pub fn body(message: &Outgoing<'_>) -> Value {
    let text = message.content.text.as_deref().unwrap_or_default();
    match (&message.content.message_tag, message.message_type) {
        (Some(tag), MessageType::FacebookMessageTag) => json!({
            "recipient": { "id": message.address },
            "messaging_type": "MESSAGE_TAG",
            "tag": tag,
            "message": { "text": text },
        }),
        _ => json!({
            "recipient": { "id": message.address },
            "messaging_type": "RESPONSE",
            "message": { "text": text },
        }),
    }
}

const RETRY_CODES: &[i64] = &[1, 2, 4, 17, 32, 613, 1200];

#[async_trait::async_trait]
impl ChannelAdapter for MessengerAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The Messenger channel has no API base URL.");
        };
        let channel = message.channel;
        let Some(token) = credential(channel, "pageAccessToken") else {
            return misconfigured("The Messenger channel has no pageAccessToken credential.");
        };
        let version = credential(channel, "apiVersion").unwrap_or(DEFAULT_API_VERSION);
        let page = credential(channel, "pageId").unwrap_or("me");
        let request = self.client.post(format!("{base}/{version}/{page}/messages")).bearer_auth(token);
        let response = match request.json(&body(message)).send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "Messenger"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "Messenger") {
            return refused;
        }
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let accepted: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return SendOutcome::Accepted { provider_message_id: accepted["message_id"].as_str().map(str::to_owned) };
        }
        let error = GraphError::parse(&bytes);
        let (code, subcode) = (error.as_ref().and_then(|e| e.code), error.as_ref().and_then(|e| e.error_subcode));
        let text = error
            .and_then(|e| e.message)
            .filter(|text| !text.trim().is_empty())
            .unwrap_or_else(|| format!("Messenger answered {status}."));
        let code_text = GraphError::code_text(code, status);
        match (code, subcode) {
            (Some(code), _) if RETRY_CODES.contains(&code) => {
                SendOutcome::Transient { code: code_text, text: error_text(&text), retry_after: wait }
            }
            _ if status.is_server_error() || status.as_u16() == 429 => {
                SendOutcome::Transient { code: code_text, text: error_text(&text), retry_after: wait }
            }
            (Some(551), _) => SendOutcome::Unreachable { code: code_text, text: error_text(&text) },
            (Some(10), Some(2_018_278)) | (Some(200), Some(2_018_108)) => SendOutcome::Permanent {
                code: code_text,
                text: error_text(&format!(
                    "Outside the messaging window: the person has not written to the page in the last 7 days and the message has no tag ({text})."
                )),
            },
            _ => SendOutcome::Permanent { code: code_text, text: error_text(&text) },
        }
    }
}

#[derive(Deserialize)]
struct Notification {
    object: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    /// The Page's id (a string, sometimes a number).
    id: Option<Value>,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<InboundMessage>,
    delivery: Option<Delivery>,
    read: Option<Read>,
}

#[derive(Deserialize)]
struct Party {
    #[serde(deserialize_with = "id_text")]
    id: String,
}

/// An id Meta may send as a string or as a number.
fn id_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        other => other.to_string(),
    })
}

#[derive(Deserialize)]
struct InboundMessage {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct Read {
    watermark: Option<i64>,
}

/// Reads a Messenger webhook.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    meta_signature(request, "appSecret")?;
    let notification: Notification = request.json()?;
    if notification.object.as_deref().is_some_and(|object| object != "page") {
        return Err(WebhookError::Invalid("Messenger notifications have object 'page'.".into()));
    }
    let mut events = WebhookEvents::default();
    // One app's webhook carries the events of all its Pages: only this channel's Page counts
    // (`entry.id` and `recipient.id` are the Page's id).
    let page = request.credential("pageId");
    let other_page = |id: Option<String>| page.is_some_and(|page| id.is_some_and(|id| id != page));
    for entry in notification.entry {
        let entry_page = entry.id.map(|id| match id {
            Value::String(text) => text,
            other => other.to_string(),
        });
        if other_page(entry_page) {
            tracing::info!(channel_id = request.channel.id, "Messenger events of another Page skipped");
            continue;
        }
        read_entry(request, entry.messaging, &mut events, &other_page);
    }
    Ok(events)
}

fn read_entry(
    request: &WebhookRequest<'_>,
    messaging: Vec<Messaging>,
    events: &mut WebhookEvents,
    other_page: &dyn Fn(Option<String>) -> bool,
) {
    for item in messaging {
        let Some(sender) = item.sender else { continue };
        if other_page(item.recipient.map(|recipient| recipient.id)) {
            continue;
        }
        if let Some(message) = item.message
            && !message.is_echo
        {
            events.inbound.push(Inbound {
                from: sender.id.clone(),
                text: message.text,
                at: unix_millis(item.timestamp),
                provider_message_id: message.mid,
            });
        }
        if let Some(delivery) = item.delivery {
            let at = unix_millis(delivery.watermark.or(item.timestamp));
            for mid in delivery.mids {
                events.statuses.push(StatusReport {
                    channel_id: request.channel.id,
                    message_id: None,
                    provider_message_id: Some(mid),
                    status: DeliveryStatus::Delivered,
                    at,
                    error: None,
                    retryable: false,
                });
            }
            if let Some(watermark) = delivery.watermark {
                events.watermarks.push(Watermark {
                    address: sender.id.clone(),
                    status: DeliveryStatus::Delivered,
                    until: unix_millis(Some(watermark)),
                });
            }
        }
        if let Some(watermark) = item.read.and_then(|read| read.watermark) {
            events.watermarks.push(Watermark {
                address: sender.id.clone(),
                status: DeliveryStatus::Read,
                until: unix_millis(Some(watermark)),
            });
        }
    }
}
