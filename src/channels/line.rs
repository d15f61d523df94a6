//! LINE: the Messaging API's push message.
//!
//! Sending: `POST {base}/v2/bot/message/push` with `Authorization: Bearer {channelAccessToken}`,
//! `X-Line-Retry-Key` (a UUID LINE keeps for 24 hours, see [`retry_key`]) and `{"to",
//! "messages": [{"type": "text", "text"}]}`. 200 with `sentMessages[0].id` accepts the message;
//! 409 means LINE already accepted a request with this retry key (an earlier attempt whose
//! answer was lost), so the message is SENT with the id LINE repeats in `sentMessages`; 429 and
//! 5xx are retried; any other status fails the message with LINE's `message` (and the
//! `details`). Source: LINE Developers, "Retrying a failed API request" and the Messaging API
//! reference (push message).
//!
//! Webhooks are signed with `x-line-signature`, the base64 HMAC-SHA256 of the raw body keyed
//! with the channel secret: `message` events are inbound messages (a redelivery, marked
//! `deliveryContext.isRedelivery`, carries the same message id and is stored once), `unfollow`
//! (the user blocked the account) marks the user unreachable, `follow` (added as a friend, or
//! `follow.isUnblocked`: unblocked) reachable again. Push messages report no delivery or read.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, credential, error_text, misconfigured, refuse_redirect, retry_after,
    transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{WebhookError, WebhookEvents, WebhookRequest, hmac_sha256_base64_matches, unix_millis};

pub struct LineAdapter {
    client: reqwest::Client,
}

impl LineAdapter {
    pub fn new(client: reqwest::Client) -> LineAdapter {
        LineAdapter { client }
    }
}

/// The retry key of a message: the same on every attempt of that message, and different for
/// any other message, also one of another Pregón database sharing the LINE channel (a staging
/// copy, a second deployment), where the same message id stands for another message. LINE
/// remembers a key for 24 hours and answers 409 to a key it has seen: a key made from the id
/// alone made a second database's messages look already sent. The key is a UUID (version 4
/// layout) made from SHA-256 of the message id and the time the row was created, to the
/// microsecond, as stored; both are fixed for the message's life.
pub fn retry_key(id: i64, created_at: DateTime<Utc>) -> String {
    let digest = Sha256::digest(format!("pregon-line-retry:{id}:{}", created_at.timestamp_micros()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[derive(Deserialize)]
struct LineError {
    message: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    message: Option<String>,
    property: Option<String>,
}

#[async_trait::async_trait]
impl ChannelAdapter for LineAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The LINE channel has no API base URL.");
        };
        let Some(token) = credential(message.channel, "channelAccessToken") else {
            return misconfigured("The LINE channel has no channelAccessToken credential.");
        };
        let body = json!({
            "to": message.address,
            "messages": [{ "type": "text", "text": message.content.text.as_deref().unwrap_or_default() }],
        });
        let response = self
            .client
            .post(format!("{base}/v2/bot/message/push"))
            .bearer_auth(token)
            .header("X-Line-Retry-Key", retry_key(message.message_id, message.created_at))
            .json(&body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "LINE"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "LINE") {
            return refused;
        }
        let wait = retry_after(response.headers());
        let accepted_request =
            response.headers().get("x-line-accepted-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.unwrap_or_default();
        // A 409 repeats, for a push, the `sentMessages` of the request LINE accepted.
        if status.is_success() || status.as_u16() == 409 {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let id = answer["sentMessages"][0]["id"].as_str().map(str::to_owned);
            return SendOutcome::Accepted { provider_message_id: id.or(accepted_request) };
        }
        let error = serde_json::from_slice::<LineError>(&bytes).ok();
        let mut text =
            error.as_ref().and_then(|e| e.message.clone()).unwrap_or_else(|| format!("LINE answered {status}."));
        for detail in error.iter().flat_map(|e| &e.details) {
            text.push_str(&format!(
                "; {}: {}",
                detail.property.as_deref().unwrap_or("request"),
                detail.message.as_deref().unwrap_or_default()
            ));
        }
        let code = format!("HTTP_{}", status.as_u16());
        if status.as_u16() == 429 || status.is_server_error() {
            SendOutcome::Transient { code, text: error_text(&text), retry_after: wait }
        } else {
            SendOutcome::Permanent { code, text: error_text(&text) }
        }
    }
}

#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    timestamp: Option<i64>,
    source: Option<Source>,
    message: Option<EventMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct EventMessage {
    id: Option<String>,
    text: Option<String>,
}

/// Reads a LINE webhook.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    let signature = request.header("x-line-signature").unwrap_or_default();
    if !request
        .credential("channelSecret")
        .is_some_and(|secret| hmac_sha256_base64_matches(secret, request.body, signature))
    {
        return Err(WebhookError::Unauthorized(
            "x-line-signature is missing or is not the HMAC-SHA256 of the body with the channel secret.".into(),
        ));
    }
    let notification: Notification = request.json()?;
    let mut events = WebhookEvents::default();
    for event in notification.events {
        let Some(user) = event.source.and_then(|source| source.user_id) else { continue };
        match event.kind.as_str() {
            "message" => events.inbound.push(Inbound {
                from: user,
                text: event.message.as_ref().and_then(|m| m.text.clone()),
                at: unix_millis(event.timestamp),
                provider_message_id: event.message.and_then(|m| m.id),
            }),
            "unfollow" => events.unreachable.push(user),
            "follow" => events.reachable.push(user),
            _ => {}
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_key_is_a_stable_uuid_per_message_and_differs_between_databases() {
        let created = DateTime::parse_from_rfc3339("2026-12-02T10:00:00.123456Z").unwrap().with_timezone(&Utc);
        let key = retry_key(7, created);
        assert_eq!(key, retry_key(7, created), "the same on every attempt");
        assert_eq!(key.len(), 36);
        assert_eq!(&key[14..15], "4", "version 4 layout");
        assert!(matches!(&key[19..20], "8" | "9" | "a" | "b"), "RFC 4122 variant");
        assert_ne!(key, retry_key(8, created), "another message");
        let elsewhere = created + chrono::Duration::microseconds(1);
        assert_ne!(key, retry_key(7, elsewhere), "message 7 of another database");
    }
}
