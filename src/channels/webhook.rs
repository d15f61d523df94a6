//! What providers post to `POST /webhooks/{channelId}`, read the provider's way.
//!
//! Each provider module checks the request's signature and turns its payload into
//! [`WebhookEvents`]: statuses of messages Pregón sent, watermarks ("everything up to here was
//! read"), inbound messages and recipients that can no longer be reached. This module only
//! routes a request to its provider and holds the signature checks they share; applying the
//! events is `services::delivery`'s job.

use std::collections::HashMap;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use entity::{ChannelKind, DeliveryStatus, channel};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::adapter::StatusReport;
use super::{custom, line, messenger, telegram, twilio, viber, whatsapp};

/// One webhook request, as received.
pub struct WebhookRequest<'a> {
    pub channel: &'a channel::Model,
    /// The URL the provider called, as the provider sees it (`PREGON_PUBLIC_URL`, the path and
    /// the query): Twilio signs it.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw body: signatures are computed over these exact bytes.
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim)
    }

    /// A credential of the channel.
    pub fn credential(&self, key: &str) -> Option<&str> {
        super::adapter::credential(self.channel, key)
    }

    /// The body as JSON of type `T`, or a message saying why not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, WebhookError> {
        serde_json::from_slice(self.body)
            .map_err(|err| WebhookError::Invalid(format!("The body is not this provider's webhook payload: {err}.")))
    }
}

/// "Every message sent to `address` on the channel up to `until` was delivered (or read)":
/// Messenger reports delivery and read this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub address: String,
    pub status: DeliveryStatus,
    pub until: DateTime<Utc>,
}

/// A message a contact sent to the workspace on a channel.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The sender's identifier on the channel.
    pub from: String,
    pub text: Option<String>,
    pub at: DateTime<Utc>,
    /// The provider's id for the message: a redelivery carries the same id and is stored once.
    pub provider_message_id: Option<String>,
}

/// What one webhook request says.
#[derive(Debug, Default)]
pub struct WebhookEvents {
    pub statuses: Vec<StatusReport>,
    pub watermarks: Vec<Watermark>,
    pub inbound: Vec<Inbound>,
    /// Recipients the provider says can no longer be reached on the channel (blocked the bot,
    /// unsubscribed): marked unreachable until they write again.
    pub unreachable: Vec<String>,
    /// Recipients the provider says can be reached again (unblocked the bot, subscribed again).
    pub reachable: Vec<String>,
}

impl WebhookEvents {
    pub fn len(&self) -> usize {
        self.statuses.len() + self.watermarks.len() + self.inbound.len() + self.unreachable.len() + self.reachable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// Missing or wrong signature or secret: 401, nothing changes.
    Unauthorized(String),
    /// Signed correctly but not a payload this provider sends: 400.
    Invalid(String),
    /// This kind of channel does not call Pregón's webhooks (or not this way): 404.
    NotAccepted(String),
}

/// Reads a webhook for `request.channel`, checking its signature first.
pub fn read(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    match request.channel.kind {
        ChannelKind::Custom => custom::read_webhook(request),
        ChannelKind::WhatsappCloud | ChannelKind::Whatsapp360dialog => whatsapp::read_webhook(request),
        ChannelKind::TwilioSms | ChannelKind::TwilioWhatsapp => twilio::read_webhook(request),
        ChannelKind::Telegram => telegram::read_webhook(request),
        ChannelKind::Messenger => messenger::read_webhook(request),
        ChannelKind::Viber => viber::read_webhook(request),
        ChannelKind::Line => line::read_webhook(request),
        _ => Err(WebhookError::NotAccepted("This kind of channel does not call Pregón's webhooks.".into())),
    }
}

/// The body a provider expects in answer to a webhook, when it is not Pregón's JSON summary:
/// (content type, body). Twilio reads the answer to an inbound message as TwiML, and an empty
/// `<Response/>` says "no reply".
pub fn acknowledgement(kind: ChannelKind) -> Option<(&'static str, &'static str)> {
    match kind {
        ChannelKind::TwilioSms | ChannelKind::TwilioWhatsapp => Some(("text/xml", "<Response/>")),
        _ => None,
    }
}

/// Answers a provider's subscription check (`GET /webhooks/{channelId}`): Meta's
/// `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`, echoing the challenge when the
/// token is the channel's `verifyToken`.
pub fn verify_subscription(channel: &channel::Model, query: &HashMap<String, String>) -> Result<String, WebhookError> {
    match channel.kind {
        ChannelKind::WhatsappCloud | ChannelKind::Messenger => {
            let expected = super::adapter::credential(channel, "verifyToken").ok_or_else(|| {
                WebhookError::Unauthorized("Set the channel's verifyToken credential to verify this webhook.".into())
            })?;
            if query.get("hub.mode").map(String::as_str) != Some("subscribe") {
                return Err(WebhookError::Invalid("hub.mode must be 'subscribe'.".into()));
            }
            let presented = query.get("hub.verify_token").map(String::as_str).unwrap_or_default();
            if !secret_matches(expected, presented) {
                return Err(WebhookError::Unauthorized("hub.verify_token is not the channel's verifyToken.".into()));
            }
            query.get("hub.challenge").cloned().ok_or_else(|| WebhookError::Invalid("hub.challenge is missing.".into()))
        }
        _ => Err(WebhookError::NotAccepted("This kind of channel has no webhook verification request.".into())),
    }
}

/// Whether `presented` equals `expected`, compared by their SHA-256 digests so that the time
/// taken says nothing about how much of it matched.
pub fn secret_matches(expected: &str, presented: &str) -> bool {
    !presented.is_empty() && Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `key` (constant time).
pub fn hmac_sha256_hex_matches(key: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Whether `signature` (base64) is the HMAC-SHA256 of `body` under `key` (constant time).
pub fn hmac_sha256_base64_matches(key: &str, body: &[u8], signature: &str) -> bool {
    use base64::Engine;
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Whether `signature` (base64) is the HMAC-SHA1 of `data` under `key` (constant time).
pub fn hmac_sha1_base64_matches(key: &str, data: &[u8], signature: &str) -> bool {
    use base64::Engine;
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.verify_slice(&expected).is_ok()
}

/// A Unix timestamp in seconds (as text or a number) as a time; now when absent or invalid.
pub fn unix_seconds(value: Option<&serde_json::Value>) -> DateTime<Utc> {
    let seconds = match value {
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    seconds.and_then(|s| DateTime::from_timestamp(s, 0)).unwrap_or_else(Utc::now)
}

/// A Unix timestamp in milliseconds as a time; now when absent or invalid.
pub fn unix_millis(value: Option<i64>) -> DateTime<Utc> {
    value.and_then(DateTime::from_timestamp_millis).unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_exact_bytes() {
        // HMAC-SHA256("secret", "body") and HMAC-SHA1("secret", "body"), computed independently.
        let sha256_hex = "dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355";
        assert!(hmac_sha256_hex_matches("secret", b"body", sha256_hex));
        assert!(!hmac_sha256_hex_matches("secret", b"body ", sha256_hex));
        assert!(!hmac_sha256_hex_matches("other", b"body", sha256_hex));
        assert!(!hmac_sha256_hex_matches("secret", b"body", "not hex"));
        use base64::Engine;
        let sha256_b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(sha256_hex).unwrap());
        assert!(hmac_sha256_base64_matches("secret", b"body", &sha256_b64));
        assert!(!hmac_sha256_base64_matches("secret", b"bodY", &sha256_b64));
        let sha1_b64 = base64::engine::general_purpose::STANDARD
            .encode(hex::decode("a18991ff7e4513a1c2d2ee51e3a8e99ca891d9cd").unwrap());
        assert!(hmac_sha1_base64_matches("secret", b"body", &sha1_b64));
        assert!(!hmac_sha1_base64_matches("secret", b"Body", &sha1_b64));
    }
}
