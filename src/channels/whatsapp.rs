//! WhatsApp: the Cloud API (Meta's own host) and 360dialog (which hosts the same API).
//!
//! Sending: `POST {base}/{apiVersion}/{phoneNumberId}/messages` with `Authorization: Bearer
//! {accessToken}` (Cloud API), or `POST {base}/messages` with `D360-API-KEY: {apiKey}`
//! (360dialog). The body is the Cloud API's: `messaging_product: whatsapp`, the recipient's
//! number in `to`, a `text` or a `template` (name, language, body parameters), and our message
//! id in `biz_opaque_callback_data`, which WhatsApp echoes in every status webhook. An answer
//! with `messages[0].id` (the `wamid`) accepts the message. Errors come as `{"error": {"code",
//! "message", "error_data": {"details"}}}`: throughput and temporary errors (130429, 131056,
//! 80007, 4, 131000, 131016, 133004, and any 5xx) are retried; 131047 (re-engagement: the
//! contact has not written in 24 hours) fails the message as outside the messaging window;
//! 131026 (undeliverable) and every other error fail it with WhatsApp's code and text.
//!
//! Webhooks (`entry[].changes[].value`): `statuses[]` (sent, delivered, read, failed with
//! `errors[]`; a failure with one of the retried codes above sends the message again) and
//! `messages[]` (inbound; button and list replies by their title; Mexican `521…` ids as `+52…`
//! numbers; a message without `from`, from a user with a username, is skipped). Events whose
//! `metadata.phone_number_id` is not the channel's `phoneNumberId` are another number's and
//! skipped. The Cloud API signs them with `X-Hub-Signature-256:
//! sha256=<HMAC-SHA256 of the raw body, keyed with the app secret>`. 360dialog does not sign
//! its webhooks; it sends the headers configured with the webhook URL, and Pregón expects the
//! channel's `webhookSecret` in `X-Pregon-Webhook-Secret` (README, "Provider webhooks").

use entity::{ChannelKind, DeliveryStatus, MessageType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, StatusReport, credential, error_text, misconfigured, refuse_redirect,
    retry_after, transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{
    WebhookError, WebhookEvents, WebhookRequest, hmac_sha256_hex_matches, secret_matches, unix_seconds,
};

/// The Graph API version used when the channel does not name one.
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// The header 360dialog is configured to send the channel's `webhookSecret` in.
pub const WEBHOOK_SECRET_HEADER: &str = "x-pregon-webhook-secret";

pub struct WhatsappAdapter {
    client: reqwest::Client,
}

impl WhatsappAdapter {
    pub fn new(client: reqwest::Client) -> WhatsappAdapter {
        WhatsappAdapter { client }
    }
}

#[async_trait::async_trait]
impl ChannelAdapter for WhatsappAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The WhatsApp channel has no API base URL.");
        };
        let channel = message.channel;
        let request = match channel.kind {
            ChannelKind::Whatsapp360dialog => {
                let Some(key) = credential(channel, "apiKey") else {
                    return misconfigured("The 360dialog channel has no apiKey credential.");
                };
                self.client.post(format!("{base}/messages")).header("D360-API-KEY", key)
            }
            _ => {
                let (Some(token), Some(number)) =
                    (credential(channel, "accessToken"), credential(channel, "phoneNumberId"))
                else {
                    return misconfigured("The WhatsApp channel needs its accessToken and phoneNumberId credentials.");
                };
                let version = credential(channel, "apiVersion").unwrap_or(DEFAULT_API_VERSION);
                self.client.post(format!("{base}/{version}/{number}/messages")).bearer_auth(token)
            }
        };
        let response = match request.json(&body(message)).send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "WhatsApp"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "WhatsApp") {
            return refused;
        }
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let accepted: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let id = accepted["messages"][0]["id"].as_str().map(str::to_owned);
            return SendOutcome::Accepted { provider_message_id: id };
        }
        outcome_of_error(status, &bytes, wait)
    }
}

/// The Cloud API request body for `message`.
pub fn body(message: &Outgoing<'_>) -> Value {
    let to = message.address.trim_start_matches('+');
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "biz_opaque_callback_data": message.message_id.to_string(),
    });
    match (&message.content.template, message.message_type) {
        (Some(template), MessageType::WhatsappTemplate) => {
            let mut payload = json!({ "name": template.name, "language": { "code": template.language } });
            if !template.parameters.is_empty() {
                let parameters: Vec<Value> =
                    template.parameters.iter().map(|text| json!({ "type": "text", "text": text })).collect();
                payload["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = json!("template");
            body["template"] = payload;
        }
        _ => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": message.content.text.as_deref().unwrap_or_default() });
        }
    }
    body
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: Option<GraphError>,
}

/// A Graph API error (`{"error": {"code", "error_subcode", "message", "error_data":
/// {"details"}}}`), as WhatsApp Cloud and Messenger both answer.
#[derive(Deserialize)]
pub struct GraphError {
    pub code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

impl GraphError {
    /// The error in a Graph API answer's body, when it has one.
    pub fn parse(body: &[u8]) -> Option<GraphError> {
        serde_json::from_slice::<GraphErrorBody>(body).ok().and_then(|body| body.error)
    }

    /// The failure code Pregón records: the Graph code, else the HTTP status.
    pub fn code_text(code: Option<i64>, status: reqwest::StatusCode) -> String {
        code.map_or_else(|| format!("HTTP_{}", status.as_u16()), |code| code.to_string())
    }
}

/// Throughput and temporary errors: worth retrying.
const RETRY_CODES: &[i64] = &[1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004];

/// Re-engagement: more than 24 hours since the contact last wrote.
const REENGAGEMENT: i64 = 131047;

fn outcome_of_error(status: reqwest::StatusCode, bytes: &[u8], wait: Option<std::time::Duration>) -> SendOutcome {
    let error = GraphError::parse(bytes);
    let code = error.as_ref().and_then(|e| e.code);
    let text = error
        .as_ref()
        .map(|e| {
            let message = e.message.clone().unwrap_or_default();
            match e.error_data.as_ref().and_then(|d| d.details.as_deref()) {
                Some(details) if !details.is_empty() => format!("{message}: {details}"),
                _ => message,
            }
        })
        .filter(|text| !text.trim().is_empty())
        .unwrap_or_else(|| format!("WhatsApp answered {status}."));
    let code_text = GraphError::code_text(code, status);
    // 360dialog's own limit on its endpoint: HTTP 400 "You have exceeded the endpoint rate
    // limit." (360dialog, "API error message list"), in its `meta.developer_message` or as an
    // error message. A rate limit, so backed off and retried.
    if String::from_utf8_lossy(bytes).contains("exceeded the endpoint rate limit") {
        return SendOutcome::Transient {
            code: "RATE_LIMITED".into(),
            text: "360dialog: You have exceeded the endpoint rate limit.".into(),
            retry_after: wait,
        };
    }
    if code == Some(REENGAGEMENT) {
        return SendOutcome::Permanent {
            code: code_text,
            text: error_text(&format!(
                "Outside the messaging window: the contact has not written in the last 24 hours, so only an approved template can be sent ({text})."
            )),
        };
    }
    if code.is_some_and(|code| RETRY_CODES.contains(&code)) || status.is_server_error() || status.as_u16() == 429 {
        return SendOutcome::Transient { code: code_text, text: error_text(&text), retry_after: wait };
    }
    SendOutcome::Permanent { code: code_text, text: error_text(&text) }
}

#[derive(Deserialize)]
struct Notification {
    object: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Option<Metadata>,
    #[serde(default)]
    statuses: Vec<WebhookStatus>,
    #[serde(default)]
    messages: Vec<WebhookMessage>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct WebhookStatus {
    id: String,
    status: String,
    timestamp: Option<Value>,
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct WebhookMessage {
    /// The sender's number; absent for users with a username whose number WhatsApp withholds
    /// (they come with `from_user_id`, a business-scoped user id, instead).
    from: Option<String>,
    id: Option<String>,
    timestamp: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<TextBody>,
    button: Option<ButtonBody>,
    interactive: Option<Interactive>,
}

/// A reply to an interactive message: the button or list row the user chose.
#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Choice>,
    list_reply: Option<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    title: Option<String>,
}

#[derive(Deserialize)]
struct TextBody {
    body: Option<String>,
}

#[derive(Deserialize)]
struct ButtonBody {
    text: Option<String>,
}

/// Reads a WhatsApp webhook (Cloud API or 360dialog).
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    authenticate(request)?;
    let notification: Notification = request.json()?;
    if notification.object.as_deref().is_some_and(|object| object != "whatsapp_business_account") {
        return Err(WebhookError::Invalid(format!(
            "'{}' notifications are not WhatsApp's; expected object whatsapp_business_account.",
            notification.object.unwrap_or_default()
        )));
    }
    let mut events = WebhookEvents::default();
    let number = request.credential("phoneNumberId");
    for value in notification.entry.into_iter().flat_map(|e| e.changes).filter_map(|c| c.value) {
        // One app's webhook carries the events of all its numbers: only this channel's count.
        let for_number = value.metadata.as_ref().and_then(|m| m.phone_number_id.as_deref());
        if let (Some(ours), Some(theirs)) = (number, for_number)
            && ours != theirs
        {
            tracing::info!(channel_id = request.channel.id, "WhatsApp events of another phone number skipped");
            continue;
        }
        for status in value.statuses {
            let ours = match status.status.as_str() {
                "sent" => DeliveryStatus::Sent,
                "delivered" => DeliveryStatus::Delivered,
                "read" => DeliveryStatus::Read,
                "failed" => DeliveryStatus::Failed,
                // "deleted", "warning" and future statuses say nothing about delivery.
                _ => continue,
            };
            // A failure reported after acceptance with a throughput or temporary code is sent
            // again, as Meta's error-code table advises for those codes, like the same code
            // in a send's answer.
            let retryable = ours == DeliveryStatus::Failed
                && status.errors.first().and_then(|e| e.code).is_some_and(|code| RETRY_CODES.contains(&code));
            let error = (ours == DeliveryStatus::Failed).then(|| {
                let first = status.errors.first();
                let code = first.and_then(|e| e.code).map_or_else(|| "PROVIDER_FAILED".to_owned(), |c| c.to_string());
                let text = first
                    .and_then(|e| {
                        e.error_data.as_ref().and_then(|d| d.details.clone()).or(e.message.clone()).or(e.title.clone())
                    })
                    .unwrap_or_else(|| "WhatsApp reported the message failed.".into());
                (code, error_text(&text))
            });
            events.statuses.push(StatusReport {
                channel_id: request.channel.id,
                message_id: status.biz_opaque_callback_data.as_deref().and_then(|id| id.trim().parse().ok()),
                provider_message_id: Some(status.id),
                status: ours,
                at: unix_seconds(status.timestamp.as_ref()),
                error,
                retryable,
            });
        }
        for message in value.messages {
            let Some(from) = message.from.as_deref() else {
                // Without a number the message cannot be tied to a phone-addressed
                // conversation; the rest of the notification is applied all the same.
                tracing::info!(
                    channel_id = request.channel.id,
                    "a WhatsApp message without the sender's number skipped"
                );
                continue;
            };
            let text = match message.kind.as_deref() {
                Some("button") => message.button.and_then(|b| b.text),
                Some("interactive") => {
                    message.interactive.and_then(|i| i.button_reply.or(i.list_reply)).and_then(|choice| choice.title)
                }
                _ => message.text.and_then(|t| t.body),
            };
            events.inbound.push(Inbound {
                from: wa_id_to_e164(from),
                text,
                at: unix_seconds(message.timestamp.as_ref()),
                provider_message_id: message.id,
            });
        }
    }
    Ok(events)
}

/// A WhatsApp id as an E.164 number. Mexican mobile numbers come as `521` + ten digits, the
/// old mobile prefix WhatsApp still adds ("For Brazil and Mexico, the extra added prefix of the
/// phone number may be modified by the Cloud API", Cloud API "Phone Numbers"); the number is
/// `+52` + the ten digits, as contacts are stored, and WhatsApp accepts either form to send.
fn wa_id_to_e164(wa_id: &str) -> String {
    let digits = wa_id.trim().trim_start_matches('+');
    match digits.strip_prefix("521") {
        Some(rest) if rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()) => format!("+52{rest}"),
        _ => format!("+{digits}"),
    }
}

fn authenticate(request: &WebhookRequest<'_>) -> Result<(), WebhookError> {
    if request.channel.kind == ChannelKind::Whatsapp360dialog {
        let presented = request.header(WEBHOOK_SECRET_HEADER).unwrap_or_default();
        return match request.credential("webhookSecret") {
            Some(secret) if secret_matches(secret, presented) => Ok(()),
            _ => Err(WebhookError::Unauthorized(format!(
                "Configure the 360dialog webhook to send the channel's webhookSecret in the {WEBHOOK_SECRET_HEADER} header."
            ))),
        };
    }
    meta_signature(request, "appSecret")
}

/// Checks Meta's `X-Hub-Signature-256: sha256=<hex>` over the raw body with the app secret in
/// credential `key` (WhatsApp Cloud API and Messenger).
pub fn meta_signature(request: &WebhookRequest<'_>, key: &str) -> Result<(), WebhookError> {
    let signature = request.header("x-hub-signature-256").and_then(|v| v.strip_prefix("sha256=")).unwrap_or_default();
    match request.credential(key) {
        Some(secret) if hmac_sha256_hex_matches(secret, request.body, signature) => Ok(()),
        _ => Err(WebhookError::Unauthorized(
            "X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body with the app secret.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::wa_id_to_e164;

    #[test]
    fn mexican_wa_ids_lose_the_old_mobile_prefix_and_others_keep_their_digits() {
        assert_eq!(wa_id_to_e164("5215512345678"), "+525512345678");
        assert_eq!(wa_id_to_e164("525512345678"), "+525512345678");
        assert_eq!(wa_id_to_e164("16505551234"), "+16505551234");
        assert_eq!(wa_id_to_e164("+593991234567"), "+593991234567");
        // Not 521 followed by ten digits: left as it is.
        assert_eq!(wa_id_to_e164("52155123456"), "+52155123456");
    }
}
