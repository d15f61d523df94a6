//! Viber: the REST bot API.
//!
//! Sending: `POST {base}/pa/send_message` with `X-Viber-Auth-Token: {authToken}` and
//! `{"receiver", "min_api_version": 1, "sender": {"name"}, "tracking_data", "type": "text",
//! "text"}` (`sender.name` is the channel's `senderName` or its name, at most 28 characters;
//! `tracking_data` carries our message id). Viber answers HTTP 200 with a `status`: 0 accepts
//! the message (`message_token` is its id); 12 (too many requests) is retried, as are 5xx;
//! 5 (receiver not registered) and 6 (not subscribed) fail it and mark the recipient
//! unreachable; any other fails it with Viber's `status_message`.
//!
//! Callbacks are signed with `X-Viber-Content-Signature`, the hex HMAC-SHA256 of the raw body
//! keyed with the auth token: `delivered`, `seen` (read) and `failed` (with `desc`) move a
//! message found by its `message_token`; `message` is an inbound message; `unsubscribed` marks
//! the user unreachable and `subscribed` (the user subscribed again) reachable;
//! `conversation_started` and `webhook` are acknowledged. Viber retries a callback for an hour
//! until it gets a 200 (Viber REST bot API, "Callbacks"): a redelivered `message` carries the
//! same `message_token` and is stored once.

use entity::DeliveryStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, StatusReport, accepted_unreadable, credential, error_text, misconfigured,
    refuse_redirect, retry_after, transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{WebhookError, WebhookEvents, WebhookRequest, hmac_sha256_hex_matches, unix_millis};

/// Longest sender name Viber takes.
const MAX_SENDER_NAME: usize = 28;

pub struct ViberAdapter {
    client: reqwest::Client,
}

impl ViberAdapter {
    pub fn new(client: reqwest::Client) -> ViberAdapter {
        ViberAdapter { client }
    }
}

/// The send_message body for `message`.
pub fn body(message: &Outgoing<'_>) -> Value {
    let name = credential(message.channel, "senderName").unwrap_or(&message.channel.name);
    json!({
        "receiver": message.address,
        "min_api_version": 1,
        "sender": { "name": name.chars().take(MAX_SENDER_NAME).collect::<String>() },
        "tracking_data": message.message_id.to_string(),
        "type": "text",
        "text": message.content.text.as_deref().unwrap_or_default(),
    })
}

#[derive(Deserialize)]
struct Answer {
    status: Option<i64>,
    status_message: Option<String>,
    message_token: Option<Value>,
}

#[async_trait::async_trait]
impl ChannelAdapter for ViberAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The Viber channel has no API base URL.");
        };
        let Some(token) = credential(message.channel, "authToken") else {
            return misconfigured("The Viber channel has no authToken credential.");
        };
        let request = self.client.post(format!("{base}/pa/send_message")).header("X-Viber-Auth-Token", token);
        let response = match request.json(&body(message)).send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "Viber"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "Viber") {
            return refused;
        }
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let code = format!("HTTP_{}", status.as_u16());
            let text = format!("Viber answered {status}.");
            return if status.is_server_error() || status.as_u16() == 429 {
                SendOutcome::Transient { code, text, retry_after: wait }
            } else {
                SendOutcome::Permanent { code, text }
            };
        }
        let Ok(answer) = serde_json::from_slice::<Answer>(&bytes) else {
            return accepted_unreadable("Viber");
        };
        let text = answer.status_message.clone().unwrap_or_default();
        let code = if text.is_empty() { answer.status.unwrap_or(-1).to_string() } else { text.clone() };
        let text = error_text(&format!("Viber status {}: {text}", answer.status.unwrap_or(-1)));
        match answer.status {
            Some(0) => SendOutcome::Accepted {
                provider_message_id: answer.message_token.map(|token| match token {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
            },
            Some(12) => SendOutcome::Transient { code, text, retry_after: wait },
            Some(5) | Some(6) => SendOutcome::Unreachable { code, text },
            _ => SendOutcome::Permanent { code, text },
        }
    }
}

#[derive(Deserialize)]
struct Callback {
    event: String,
    timestamp: Option<i64>,
    message_token: Option<Value>,
    user_id: Option<String>,
    desc: Option<String>,
    sender: Option<Sender>,
    /// The subscriber, on `subscribed`.
    user: Option<Sender>,
    message: Option<InboundMessage>,
}

#[derive(Deserialize)]
struct Sender {
    id: String,
}

#[derive(Deserialize)]
struct InboundMessage {
    text: Option<String>,
}

/// Reads a Viber callback.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    let signature = request.header("x-viber-content-signature").unwrap_or_default();
    if !request.credential("authToken").is_some_and(|token| hmac_sha256_hex_matches(token, request.body, signature)) {
        return Err(WebhookError::Unauthorized(
            "X-Viber-Content-Signature is missing or is not the HMAC-SHA256 of the body with the auth token.".into(),
        ));
    }
    let callback: Callback = request.json()?;
    let token = callback.message_token.map(|token| match token {
        Value::String(s) => s,
        other => other.to_string(),
    });
    let at = unix_millis(callback.timestamp);
    let mut events = WebhookEvents::default();
    let status = match callback.event.as_str() {
        "delivered" => Some(DeliveryStatus::Delivered),
        "seen" => Some(DeliveryStatus::Read),
        "failed" => Some(DeliveryStatus::Failed),
        "message" => {
            let Some(sender) = callback.sender else {
                return Err(WebhookError::Invalid("A message callback without a sender.".into()));
            };
            events.inbound.push(Inbound {
                from: sender.id,
                text: callback.message.and_then(|m| m.text),
                at,
                provider_message_id: token.clone(),
            });
            None
        }
        "unsubscribed" => {
            events.unreachable.extend(callback.user_id.clone());
            None
        }
        "subscribed" => {
            events.reachable.extend(callback.user.map(|user| user.id));
            None
        }
        _ => None,
    };
    if let (Some(status), Some(token)) = (status, token) {
        let error = (status == DeliveryStatus::Failed).then(|| {
            ("failed".to_owned(), error_text(callback.desc.as_deref().unwrap_or("Viber reported the message failed.")))
        });
        events.statuses.push(StatusReport {
            channel_id: request.channel.id,
            message_id: None,
            provider_message_id: Some(token),
            status,
            at,
            error,
            retryable: false,
        });
    }
    Ok(events)
}
