//! Twilio: SMS and WhatsApp through the Programmable Messaging API.
//!
//! Sending: `POST {base}/2010-04-01/Accounts/{accountSid}/Messages.json`, form-encoded, with
//! HTTP basic auth (`accountSid:authToken`): `To`, `From` (or `MessagingServiceSid` when the
//! channel has one), `Body`, and `StatusCallback`, the channel's webhook URL, where Twilio
//! reports each status. On WhatsApp both numbers carry the `whatsapp:` prefix, and a template
//! is sent by its Content SID (`ContentSid`, `HX…`, given as the template's name) with its
//! parameters as `ContentVariables` (`{"1": …, "2": …}`). A 201 with the message's `sid`
//! accepts it. Errors come as `{"code", "message", "more_info", "status"}`: 429 (20429) and
//! 5xx are retried; 21610 (the recipient replied STOP) fails the message and marks the
//! recipient unreachable; any other fails it with Twilio's code and message.
//!
//! Callbacks (status and inbound) are form-encoded and signed: `X-Twilio-Signature` is the
//! base64 HMAC-SHA1, keyed with the auth token, of the URL Twilio called followed by every
//! POST field's name and value, sorted by name. The URL is the one Twilio sees, so
//! `PREGON_PUBLIC_URL` must be the address Twilio reaches. `MessageStatus` sent, delivered,
//! read, undelivered and failed move the message (found by its `MessageSid`); queued, sending
//! and accepted say nothing new. A callback with a `Body` and no status other than `received`
//! is an inbound message.

use std::collections::{BTreeMap, BTreeSet};

use entity::{ChannelKind, DeliveryStatus, MessageType};
use serde::Deserialize;

use super::adapter::{
    ChannelAdapter, Outgoing, SendOutcome, StatusReport, credential, error_text, misconfigured, refuse_redirect,
    retry_after, transport_failure,
};
use super::webhook::Inbound;
use super::webhook::{WebhookError, WebhookEvents, WebhookRequest, hmac_sha1_base64_matches};

/// Twilio's error for a recipient who opted out (replied STOP).
const UNSUBSCRIBED: i64 = 21610;

pub struct TwilioAdapter {
    client: reqwest::Client,
}

impl TwilioAdapter {
    pub fn new(client: reqwest::Client) -> TwilioAdapter {
        TwilioAdapter { client }
    }
}

/// `number` as Twilio addresses it on `kind`: WhatsApp numbers carry `whatsapp:`.
fn address(kind: ChannelKind, number: &str) -> String {
    let number = number.trim();
    if kind == ChannelKind::TwilioWhatsapp && !number.starts_with("whatsapp:") {
        format!("whatsapp:{number}")
    } else {
        number.to_owned()
    }
}

/// The form fields of `message`.
pub fn form(message: &Outgoing<'_>) -> Result<Vec<(&'static str, String)>, SendOutcome> {
    let channel = message.channel;
    let mut fields = vec![("To", address(channel.kind, message.address))];
    match (credential(channel, "messagingServiceSid"), credential(channel, "from")) {
        (Some(service), _) => fields.push(("MessagingServiceSid", service.to_owned())),
        (None, Some(from)) => fields.push(("From", address(channel.kind, from))),
        (None, None) => return Err(misconfigured("The Twilio channel needs a from number or a messagingServiceSid.")),
    }
    match (&message.content.template, message.message_type) {
        (Some(template), MessageType::WhatsappTemplate) => {
            fields.push(("ContentSid", template.name.clone()));
            if !template.parameters.is_empty() {
                let variables: BTreeMap<String, &String> =
                    template.parameters.iter().enumerate().map(|(i, value)| ((i + 1).to_string(), value)).collect();
                fields.push(("ContentVariables", serde_json::to_string(&variables).unwrap_or_default()));
            }
        }
        _ => fields.push(("Body", message.content.text.clone().unwrap_or_default())),
    }
    fields.push(("StatusCallback", message.webhook_url.to_owned()));
    Ok(fields)
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[async_trait::async_trait]
impl ChannelAdapter for TwilioAdapter {
    async fn send(&self, message: &Outgoing<'_>) -> SendOutcome {
        let Some(base) = message.base_url else {
            return misconfigured("The Twilio channel has no API base URL.");
        };
        let channel = message.channel;
        let (Some(sid), Some(token)) = (credential(channel, "accountSid"), credential(channel, "authToken")) else {
            return misconfigured("The Twilio channel needs its accountSid and authToken credentials.");
        };
        let fields = match form(message) {
            Ok(fields) => fields,
            Err(outcome) => return outcome,
        };
        let response = self
            .client
            .post(format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"))
            .basic_auth(sid, Some(token))
            .form(&fields)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return transport_failure(&err, "Twilio"),
        };
        let status = response.status();
        if let Some(refused) = refuse_redirect(status, "Twilio") {
            return refused;
        }
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_slice::<Created>(&bytes).ok().and_then(|created| created.sid);
            return SendOutcome::Accepted { provider_message_id: sid };
        }
        let error = serde_json::from_slice::<TwilioError>(&bytes).ok();
        let number = error.as_ref().and_then(|e| e.code);
        let code = number.map_or_else(|| format!("HTTP_{}", status.as_u16()), |code| code.to_string());
        let text = error
            .and_then(|e| e.message)
            .filter(|text| !text.trim().is_empty())
            .unwrap_or_else(|| format!("Twilio answered {status}."));
        if status.as_u16() == 429 || status.is_server_error() {
            SendOutcome::Transient { code, text: error_text(&text), retry_after: wait }
        } else if number == Some(UNSUBSCRIBED) {
            SendOutcome::Unreachable { code, text: error_text(&text) }
        } else {
            SendOutcome::Permanent { code, text: error_text(&text) }
        }
    }
}

/// The URLs a Twilio signature may cover: Twilio signs the URL it called, sometimes with the
/// port and sometimes without, so its own validators (twilio-python `RequestValidator`,
/// twilio-node `validateRequest`) accept either: the URL without any port, and with its port
/// (`:443` for https, `:80` for http when none is written). The URL exactly as configured is
/// tried too.
fn signed_urls(url: &str) -> Vec<String> {
    let mut urls = vec![url.to_owned()];
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(host) = parsed.host_str()
    {
        let rest = &parsed[url::Position::BeforePath..];
        let scheme = parsed.scheme();
        urls.push(format!("{scheme}://{host}{rest}"));
        if let Some(port) = parsed.port_or_known_default() {
            urls.push(format!("{scheme}://{host}:{port}{rest}"));
        }
    }
    urls.dedup();
    urls
}

/// What Twilio signs after the URL: every field in key order (byte order), each distinct value
/// of a repeated field in order, as `name` + `value` with no separators.
fn signed_fields(pairs: &[(String, String)]) -> String {
    let mut fields: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in pairs {
        fields.entry(name).or_default().insert(value);
    }
    let mut signed = String::new();
    for (name, values) in fields {
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    signed
}

/// Whether `signature` is Twilio's for a request to `url` with the form fields `pairs`.
fn signature_matches(token: &str, url: &str, pairs: &[(String, String)], signature: &str) -> bool {
    let fields = signed_fields(pairs);
    signed_urls(url).iter().any(|url| hmac_sha1_base64_matches(token, format!("{url}{fields}").as_bytes(), signature))
}

/// Reads a Twilio status callback or inbound message.
pub fn read_webhook(request: &WebhookRequest<'_>) -> Result<WebhookEvents, WebhookError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(request.body).into_owned().collect();
    let signature = request.header("x-twilio-signature").unwrap_or_default();
    if !request.credential("authToken").is_some_and(|token| signature_matches(token, request.url, &pairs, signature)) {
        return Err(WebhookError::Unauthorized(
            "X-Twilio-Signature is missing or does not match: it must sign this URL (PREGON_PUBLIC_URL) and the fields with the auth token."
                .into(),
        ));
    }
    // A repeated field's first value is the one read.
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in pairs {
        fields.entry(name).or_insert(value);
    }
    let field = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let sid = field("MessageSid").or(field("SmsMessageSid")).or(field("SmsSid"));
    let status = field("MessageStatus").or(field("SmsStatus"));
    let mut events = WebhookEvents::default();
    let inbound = matches!(status, Some("received") | None) && fields.contains_key("Body");
    if inbound {
        let Some(from) = field("From") else {
            return Err(WebhookError::Invalid("An inbound message without From.".into()));
        };
        events.inbound.push(Inbound {
            from: from.trim_start_matches("whatsapp:").to_owned(),
            text: fields.get("Body").cloned(),
            at: chrono::Utc::now(),
            provider_message_id: sid.map(str::to_owned),
        });
        return Ok(events);
    }
    let Some(status) = status else {
        return Err(WebhookError::Invalid("Neither a MessageStatus nor an inbound Body.".into()));
    };
    let Some(sid) = sid else {
        return Err(WebhookError::Invalid("A status callback without MessageSid.".into()));
    };
    let ours = match status {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" | "failed" => DeliveryStatus::Failed,
        // queued, sending, accepted, scheduled: nothing Pregón does not know already.
        _ => return Ok(events),
    };
    let error = (ours == DeliveryStatus::Failed).then(|| {
        let code = field("ErrorCode").unwrap_or("PROVIDER_FAILED").to_owned();
        let text = field("ErrorMessage").map(str::to_owned).unwrap_or_else(|| describe(status, &code));
        (code, error_text(&text))
    });
    events.statuses.push(StatusReport {
        channel_id: request.channel.id,
        message_id: None,
        provider_message_id: Some(sid.to_owned()),
        status: ours,
        at: chrono::Utc::now(),
        error,
        retryable: false,
    });
    Ok(events)
}

/// Twilio's description of the delivery errors its callbacks name by code only.
fn describe(status: &str, code: &str) -> String {
    let known = match code {
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Message filtered by the carrier",
        "30008" => "Unknown error",
        "63016" => {
            "Outside the messaging window: a free-form WhatsApp message needs the contact to have written in the last 24 hours"
        }
        _ => return format!("Twilio reported the message {status} (error {code})."),
    };
    format!("{known} (Twilio error {code}, {status}).")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Test vectors of Twilio's own validators: twilio-python
    /// `tests/unit/test_request_validator.py` and twilio-node `spec/validation.spec.js`.
    #[test]
    fn signatures_validate_as_twilios_own_validators_do() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(signature_matches("12345", url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!signature_matches("12345", url, &params, "kvajT1Ptam85bY51eRf/AJRuM3w=x"));
        assert!(!signature_matches("other", url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        // Signed with a port, checked without; signed without, checked with another port.
        assert!(signature_matches("12345", url, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(signature_matches("12345", with_port, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(signature_matches("12345", http, &params, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
        // Repeated fields: each distinct value, sorted.
        let repeated = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(signed_fields(&repeated), "Digits1234Digits5678SidCA123SidAccountAC123");
        assert!(signature_matches("12345", url, &repeated, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }
}
