//! The CUSTOM channel: Pregón posts each message as JSON to the channel's URL.
//!
//! Request: `POST {baseUrl}` with `Authorization: Bearer {secret}`, `Idempotency-Key:
//! {messageId}` (the same on every attempt, so a provider can drop a repeat) and the body
//! `{"messageId", "to", "type", "text", "template", "messageTag", "broadcastId",
//! "contactId"}`. A 2xx accepts the message (an `{"id": "…"}` body names the provider's id);
//! 408, 429 (with `Retry-After`), 5xx, timeouts and connection failures are retried; any other
//! answer fails the message with `{"error": {"code", "message"}}` from the body when present.
//! Status callbacks come back on `POST /webhooks/{channelId}` (see `http::webhooks`).

use serde::Deserialize;
use serde_json::json;

use super::adapter::{ChannelAdapter, Outgoing, SendOutcome, retry_after};

pub struct CustomAdapter {
    client: reqwest::Client,
}

impl CustomAdapter {
    pub fn new(client: reqwest::Client) -> CustomAdapter {
        CustomAdapter { client }
    }
}

#[derive(Deserialize)]
struct Accepted {
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Rejected {
    error: Option<RejectedError>,
}

#[derive(Deserialize)]
struct RejectedError {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

/// Longest provider text kept on a failed message.
const MAX_ERROR_TEXT: usize = 500;

#[async_trait::async_trait]
impl ChannelAdapter for CustomAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(url) = message.base_url else {
            return SendOutcome::Permanent {
                code: "CHANNEL_MISCONFIGURED".into(),
                text: "The custom channel has no URL to post messages to.".into(),
            };
        };
        let secret = message.channel.credentials.get("secret").and_then(|s| s.as_str()).unwrap_or_default();
        let type_name = match message.message_type {
            entity::MessageType::Session => "SESSION",
            entity::MessageType::FacebookMessageTag => "FACEBOOK_MESSAGE_TAG",
            entity::MessageType::WhatsappTemplate => "WHATSAPP_TEMPLATE",
        };
        let body = json!({
            "messageId": message.message_id.to_string(),
            "to": message.address,
            "type": type_name,
            "text": message.content.text,
            "template": message.content.template,
            "messageTag": message.content.message_tag,
            "broadcastId": message.broadcast_id.map(|id| id.to_string()),
            "contactId": message.contact_id.map(|id| id.to_string()),
        });
        let response = self
            .client
            .post(url)
            .bearer_auth(secret)
            .header("Idempotency-Key", message.message_id.to_string())
            .json(&body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) if err.is_timeout() => {
                return SendOutcome::Transient {
                    code: "TIMEOUT".into(),
                    text: "The channel's URL did not answer in time.".into(),
                    retry_after: None,
                };
            }
            Err(_) => {
                return SendOutcome::Transient {
                    code: "CONNECTION_FAILED".into(),
                    text: "Could not connect to the channel's URL.".into(),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let id = serde_json::from_slice::<Accepted>(&bytes).ok().and_then(|a| a.id).and_then(|id| match id {
                serde_json::Value::String(s) if !s.is_empty() => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            return SendOutcome::Accepted { provider_message_id: id };
        }
        let (code, text) = describe(status, &bytes);
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            SendOutcome::Transient { code, text, retry_after: wait }
        } else {
            SendOutcome::Permanent { code, text }
        }
    }
}

/// The provider's code and text from an error body, else the HTTP status.
fn describe(status: reqwest::StatusCode, body: &[u8]) -> (String, String) {
    let parsed = serde_json::from_slice::<Rejected>(body).ok().and_then(|r| r.error);
    let code = parsed
        .as_ref()
        .and_then(|e| e.code.as_ref())
        .map(|c| match c {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| format!("HTTP_{}", status.as_u16()));
    let text = parsed.and_then(|e| e.message).unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(body);
        let raw = raw.trim();
        if raw.is_empty() { format!("The channel's URL answered {status}.") } else { raw.to_owned() }
    });
    (code, text.chars().take(MAX_ERROR_TEXT).collect())
}
