//! The CUSTOM channel: Pregón posts each message as JSON to the channel's URL.
//!
//! Request: `POST {baseUrl}` with `Authorization: Bearer {secret}`, `Idempotency-Key:
//! {messageId}` (the same on every attempt, so a provider can drop a repeat) and the body
//! `{"messageId", "to", "type", "text", "template", "messageTag", "broadcastId",
//! "contactId"}`. A 2xx accepts the message (an `{"id": "…"}` body names the provider's id);
//! 408, 429 (with `Retry-After`), 5xx, timeouts and connection failures are retried; any other
//! answer fails the message with `{"error": {"code", "message"}}` from the body when present.
//!
//! Callbacks come back on `POST /webhooks/{channelId}` with the same bearer secret and the body
//! `{"statuses": [{"messageId" | "providerMessageId", "status": "SENT" | "DELIVERED" | "READ" |
//! "FAILED", "error": {"code", "message"}}], "messages": [{"from", "text", "id",
//! "timestamp"}]}`; both lists are optional.

use chrono::{DateTime, Utc};
use entity::DeliveryStatus;
use serde::Deserialize;
use serde_json::json;

use super::adapter::{
    ChannelAdapter, MAX_ERROR_TEXT, Outgoing, SendOutcome, StatusReport, misconfigured, refuse_redirect, retry_after,
    transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{WebhookError, WebhookEvents, WebhookRequest, secret_matches};

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

#[async_trait::async_trait]
impl ChannelAdapter for CustomAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(url) = message.base_url else {
            return misconfigured("The custom channel has no URL to post messages to.");
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
            Err(err) => return transport_failure(&err, "The channel's URL"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "The channel's URL") {
            return refused;
        }
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Callback {
    #[serde(default)]
    statuses: Vec<StatusItem>,
    #[serde(default)]
    messages: Vec<InboundItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusItem {
    message_id: Option<String>,
    provider_message_id: Option<String>,
    status: String,
    error: Option<RejectedError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundItem {
    from: String,
    text: Option<String>,
    id: Option<String>,
    timestamp: Option<DateTime<Utc>>,
}

/// Reads a callback, authenticated by the channel's secret as `Authorization: Bearer`.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    let presented = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default()
        .trim();
    if !request.credential("secret").is_some_and(|secret| secret_matches(secret, presented)) {
        return Err(WebhookError::Unauthorized(
            "Send the channel's secret as `Authorization: Bearer <secret>`.".into(),
        ));
    }
    let callback: Callback = serde_json::from_slice(request.body)
        .map_err(|err| WebhookError::Invalid(format!("The body is not a status callback: {err}.")))?;
    let mut events = WebhookEvents::default();
    for (index, item) in callback.statuses.into_iter().enumerate() {
        let report = status_report(request.channel.id, item)
            .map_err(|message| WebhookError::Invalid(format!("statuses[{index}]: {message}")))?;
        events.statuses.push(report);
    }
    for (index, item) in callback.messages.into_iter().enumerate() {
        if item.from.trim().is_empty() {
            return Err(WebhookError::Invalid(format!("messages[{index}]: from is empty.")));
        }
        events.inbound.push(Inbound {
            from: item.from,
            text: item.text,
            at: item.timestamp.unwrap_or_else(Utc::now),
            provider_message_id: item.id,
        });
    }
    Ok(events)
}

fn status_report(channel_id: i64, item: StatusItem) -> Result<StatusReport, String> {
    let status = match item.status.trim().to_ascii_uppercase().as_str() {
        "SENT" => DeliveryStatus::Sent,
        "DELIVERED" => DeliveryStatus::Delivered,
        "READ" => DeliveryStatus::Read,
        "FAILED" => DeliveryStatus::Failed,
        other => return Err(format!("'{other}' is not a status; use SENT, DELIVERED, READ or FAILED.")),
    };
    let message_id = match item.message_id.as_deref().map(str::trim) {
        Some(id) => Some(id.parse::<i64>().map_err(|_| format!("'{id}' is not a Pregón message id."))?),
        None => None,
    };
    if message_id.is_none() && item.provider_message_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        return Err("give messageId (Pregón's) or providerMessageId (yours).".into());
    }
    let error = item.error.map(|e| {
        let code = match e.code {
            Some(serde_json::Value::String(code)) => code,
            Some(other) => other.to_string(),
            None => "PROVIDER_FAILED".into(),
        };
        (code, e.message.unwrap_or_else(|| "The provider reported the message failed.".into()))
    });
    Ok(StatusReport {
        channel_id,
        message_id,
        provider_message_id: item.provider_message_id.map(|id| id.trim().to_owned()),
        status,
        at: Utc::now(),
        error,
        retryable: false,
    })
}
