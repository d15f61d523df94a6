//! Telegram: the Bot API.
//!
//! Sending: `POST {base}/bot{botToken}/sendMessage` with `{"chat_id", "text"}`. An answer
//! `{"ok": true, "result": {"message_id", "chat": {"id"}}}` accepts the message; its provider
//! id is `{chat_id}:{message_id}` (message ids are per chat). Errors come as `{"ok": false,
//! "error_code", "description", "parameters": {"retry_after"}}`: 429 is retried after
//! `retry_after` seconds, 5xx retried; 403 (the user blocked the bot, or deleted their account)
//! fails the message and marks the recipient unreachable; any other error fails it with
//! Telegram's code and description.
//!
//! Webhooks (`setWebhook` with `secret_token`): Telegram sends the secret in
//! `X-Telegram-Bot-Api-Secret-Token`; an `Update` with a `message` is an inbound message, and a
//! `my_chat_member` update whose new status is `kicked` means the user blocked the bot, and
//! `member` that they unblocked it (Bot API: in private chats this update comes only on block
//! and unblock).
//! Telegram reports no delivery or read: SENT is final (the capability table says so).

use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, accepted_unreadable, credential, error_text, misconfigured, refuse_redirect,
    retry_after, transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{WebhookError, WebhookEvents, WebhookRequest, secret_matches};

pub struct TelegramAdapter {
    client: reqwest::Client,
}

impl TelegramAdapter {
    pub fn new(client: reqwest::Client) -> TelegramAdapter {
        TelegramAdapter { client }
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

#[async_trait::async_trait]
impl ChannelAdapter for TelegramAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The Telegram channel has no API base URL.");
        };
        let Some(token) = credential(message.channel, "botToken") else {
            return misconfigured("The Telegram channel has no botToken credential.");
        };
        let Ok(chat_id) = message.address.trim().parse::<i64>() else {
            return SendOutcome::Permanent {
                code: "INVALID_CHAT_ID".into(),
                text: format!("'{}' is not a Telegram chat id.", message.address),
            };
        };
        let body = json!({ "chat_id": chat_id, "text": message.content.text.as_deref().unwrap_or_default() });
        let response = match self.client.post(format!("{base}/bot{token}/sendMessage")).json(&body).send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "Telegram"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "Telegram") {
            return refused;
        }
        let header_wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        let answer = serde_json::from_slice::<Answer>(&bytes).ok();
        if status.is_success() && answer.is_none() {
            return accepted_unreadable("Telegram");
        }
        if status.is_success() && answer.as_ref().is_some_and(|a| a.ok) {
            let result = answer.and_then(|a| a.result).unwrap_or(Value::Null);
            let id = result["message_id"]
                .as_i64()
                .map(|id| format!("{}:{id}", result["chat"]["id"].as_i64().unwrap_or(chat_id)));
            return SendOutcome::Accepted { provider_message_id: id };
        }
        let code = answer.as_ref().and_then(|a| a.error_code).unwrap_or(i64::from(status.as_u16()));
        let text = answer
            .as_ref()
            .and_then(|a| a.description.clone())
            .unwrap_or_else(|| format!("Telegram answered {status}."));
        let wait = answer
            .as_ref()
            .and_then(|a| a.parameters.as_ref())
            .and_then(|p| p.retry_after)
            .map(std::time::Duration::from_secs)
            .or(header_wait);
        match code {
            429 => SendOutcome::Transient { code: code.to_string(), text: error_text(&text), retry_after: wait },
            500..=599 => SendOutcome::Transient { code: code.to_string(), text: error_text(&text), retry_after: wait },
            403 => SendOutcome::Unreachable { code: code.to_string(), text: error_text(&text) },
            _ => SendOutcome::Permanent { code: code.to_string(), text: error_text(&text) },
        }
    }
}

#[derive(Deserialize)]
struct Update {
    message: Option<TelegramMessage>,
    my_chat_member: Option<ChatMemberUpdated>,
}

#[derive(Deserialize)]
struct TelegramMessage {
    message_id: i64,
    chat: Chat,
    date: Option<i64>,
    text: Option<String>,
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Deserialize)]
struct ChatMemberUpdated {
    chat: Chat,
    new_chat_member: ChatMember,
}

#[derive(Deserialize)]
struct ChatMember {
    status: String,
}

/// Reads a Telegram update, authenticated by the channel's `secretToken`.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    let presented = request.header("x-telegram-bot-api-secret-token").unwrap_or_default();
    if !request.credential("secretToken").is_some_and(|secret| secret_matches(secret, presented)) {
        return Err(WebhookError::Unauthorized(
            "X-Telegram-Bot-Api-Secret-Token is missing or is not the channel's secretToken (set it with setWebhook)."
                .into(),
        ));
    }
    let update: Update = request.json()?;
    let mut events = WebhookEvents::default();
    if let Some(message) = update.message {
        events.inbound.push(Inbound {
            from: message.chat.id.to_string(),
            text: message.text.or(message.caption),
            at: message.date.and_then(|s| DateTime::from_timestamp(s, 0)).unwrap_or_else(chrono::Utc::now),
            provider_message_id: Some(format!("{}:{}", message.chat.id, message.message_id)),
        });
    }
    if let Some(member) = update.my_chat_member {
        match member.new_chat_member.status.as_str() {
            "kicked" => events.unreachable.push(member.chat.id.to_string()),
            "member" => events.reachable.push(member.chat.id.to_string()),
            _ => {}
        }
    }
    Ok(events)
}
