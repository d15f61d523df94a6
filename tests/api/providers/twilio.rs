//! Twilio (SMS and WhatsApp) against a mock speaking the Programmable Messaging API.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::{
    Answer, ProviderMock, contact_channel_state, hmac_sha1_base64, messages_of_contact, post_webhook, send_message,
    wait_message,
};
use crate::broadcasts::{draft, messages_of, segment, send_now, wait_done};
use crate::helpers::TestApp;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";

fn created(sid: &str, to: &str) -> Answer {
    Answer::json(
        201,
        json!({ "account_sid": SID, "api_version": "2010-04-01", "body": "…", "direction": "outbound-api",
                "error_code": null, "error_message": null, "from": "+14155550100", "num_segments": "1",
                "sid": sid, "status": "queued", "to": to,
                "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json") }),
    )
}

fn twilio_error(status: u16, code: i64, message: &str) -> Answer {
    Answer::json(
        status,
        json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status }),
    )
}

async fn twilio_channel(app: &TestApp, mock: &ProviderMock, kind: &str, from: &str) -> String {
    app.channel(json!({ "name": kind, "kind": kind, "baseUrl": mock.url,
        "credentials": { "accountSid": SID, "authToken": TOKEN, "from": from } }))
        .await
}

/// Posts form `fields` to the channel's webhook, signed the Twilio way with `token`.
async fn callback(app: &TestApp, channel: &str, token: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{}/webhooks/{channel}", app.address);
    let sorted: BTreeMap<&str, &str> = fields.iter().copied().collect();
    let mut signed = url.clone();
    for (name, value) in &sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let signature = hmac_sha1_base64(token, signed.as_bytes());
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    post_webhook(
        app,
        channel,
        &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
        body.as_bytes(),
    )
    .await
}

async fn status(app: &TestApp, channel: &str, sid: &str, status: &str, error: Option<&str>) -> u16 {
    let mut fields =
        vec![("MessageSid", sid), ("MessageStatus", status), ("AccountSid", SID), ("ApiVersion", "2010-04-01")];
    if let Some(code) = error {
        fields.push(("ErrorCode", code));
    }
    callback(app, channel, TOKEN, &fields).await.0
}

#[tokio::test]
async fn twilio_sms_sends_a_signed_form_and_follows_status_callbacks() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|request, n| created(&format!("SM{n:032}"), &request.form()["To"])).await;
    let channel = twilio_channel(&app, &mock, "TWILIO_SMS", "+14155550100").await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "phone": "+593991112233", "tags": ["sms"],
            "identifiers": [{ "channelId": channel, "identifier": "+593991112233" }] }))
        .await;

    // SMS has no messaging window: a text goes out at once.
    let id = send_message(&app, &contact, &channel, json!({ "text": "Tu código es 1234" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["providerMessageId"], format!("SM{:032}", 0));
    let request = &mock.requests()[0];
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(request.header("authorization"), format!("Basic {basic}"));
    assert_eq!(request.header("content-type"), "application/x-www-form-urlencoded");
    let form: BTreeMap<String, String> = request.form().into_iter().collect();
    let expected: BTreeMap<String, String> = [
        ("To", "+593991112233".to_owned()),
        ("From", "+14155550100".to_owned()),
        ("Body", "Tu código es 1234".to_owned()),
        ("StatusCallback", format!("{}/webhooks/{channel}", app.address)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(form, expected);

    // Callbacks move it forward; a forged one (wrong token, or no signature) changes nothing.
    let sid = format!("SM{:032}", 0);
    let forged =
        callback(&app, &channel, "guessed-token", &[("MessageSid", &sid), ("MessageStatus", "delivered")]).await;
    assert_eq!(forged.0, 401);
    let unsigned = post_webhook(
        &app,
        &channel,
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("MessageSid={sid}&MessageStatus=delivered").as_bytes(),
    )
    .await;
    assert_eq!(unsigned.0, 401);
    assert_eq!(wait_message(&app, &contact, &id, |_| true).await["status"], "SENT");
    assert_eq!(status(&app, &channel, &sid, "sent", None).await, 200);
    assert_eq!(status(&app, &channel, &sid, "delivered", None).await, 200);
    let delivered = wait_message(&app, &contact, &id, |m| m["status"] == "DELIVERED").await;
    assert!(delivered["deliveredAt"].is_string());

    // A broadcast; one recipient's message comes back undelivered.
    let segment = segment(&app, "sms").await;
    let broadcast = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1, "{done:#}");
    let message = messages_of(&app, &broadcast).await.remove(0);
    assert_eq!(mock.requests()[1].form()["Body"], "Hola");
    let sid = format!("SM{:032}", 1);
    assert_eq!(status(&app, &channel, &sid, "undelivered", Some("30003")).await, 200);
    let failed = wait_message(&app, &contact, message["id"].as_str().unwrap(), |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "30003");
    assert!(failed["errorText"].as_str().unwrap().contains("Unreachable destination handset"), "{failed:#}");

    // An inbound SMS from a stranger: a new contact, answered with empty TwiML.
    let (code, body) = callback(
        &app,
        &channel,
        TOKEN,
        &[
            ("MessageSid", "SMinbound1"),
            ("SmsStatus", "received"),
            ("From", "+593991119999"),
            ("To", "+14155550100"),
            ("Body", "STOP?"),
        ],
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "<Response/>"));
    let found = app.ok("query { contacts(first: 5, search: \"593991119999\") { nodes { id } } }", json!({})).await;
    let stranger = found["contacts"]["nodes"][0]["id"].as_str().expect("the sender became a contact").to_owned();
    assert!(contact_channel_state(&app, &stranger, &channel).await.0.is_some());
    assert_eq!(messages_of_contact(&app, &stranger).await[0]["content"]["text"], "STOP?");
}

#[tokio::test]
async fn twilio_retries_429_fails_errors_with_their_code_and_marks_opted_out_recipients_unreachable() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| {
        if n == 0 { twilio_error(429, 20429, "Too Many Requests") } else { created("SMretried", "+593991112233") }
    })
    .await;
    let channel = twilio_channel(&app, &mock, "TWILIO_SMS", "+14155550100").await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "phone": "+593991112233",
            "identifiers": [{ "channelId": channel, "identifier": "+593991112233" }] }))
        .await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!((sent["attempts"].as_i64(), sent["providerMessageId"].as_str()), (Some(2), Some("SMretried")));

    mock.set_script(|_, _| twilio_error(400, 21211, "Invalid 'To' Phone Number: +593991112233"));
    let id = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "21211");
    assert_eq!(failed["errorText"], "Invalid 'To' Phone Number: +593991112233");
    assert_eq!(failed["attempts"], 1);
    assert!(!contact_channel_state(&app, &contact, &channel).await.1);

    mock.set_script(|_, _| twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"));
    let id = send_message(&app, &contact, &channel, json!({ "text": "tres" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "21610");
    assert!(contact_channel_state(&app, &contact, &channel).await.1, "an opted-out recipient is unreachable");
}

#[tokio::test]
async fn twilio_whatsapp_prefixes_numbers_and_sends_templates_by_content_sid() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|request, n| created(&format!("MM{n:032}"), &request.form()["To"])).await;
    let channel = twilio_channel(&app, &mock, "TWILIO_WHATSAPP", "+14155238886").await;
    let contact = app
        .contact(json!({ "firstName": "Kerry", "phone": "+593991112233", "tags": ["twa"],
            "identifiers": [{ "channelId": channel, "identifier": "+593991112233" }] }))
        .await;
    // Outside the 24-hour window a text fails at once; the contact's message opens it.
    let id = send_message(&app, &contact, &channel, json!({ "text": "Hola" })).await;
    let refused = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(refused["errorCode"], "OUTSIDE_MESSAGING_WINDOW");
    assert!(mock.requests().is_empty());
    let (code, _) = callback(
        &app,
        &channel,
        TOKEN,
        &[
            ("MessageSid", "SMin"),
            ("From", "whatsapp:+593991112233"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "hola"),
        ],
    )
    .await;
    assert_eq!(code, 200);
    assert!(contact_channel_state(&app, &contact, &channel).await.0.is_some());
    let id = send_message(&app, &contact, &channel, json!({ "text": "¿En qué te ayudo?" })).await;
    wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    let form = mock.requests()[0].form();
    assert_eq!(form["To"], "whatsapp:+593991112233");
    assert_eq!(form["From"], "whatsapp:+14155238886");
    assert_eq!(form["Body"], "¿En qué te ayudo?");

    // A broadcast is a template named by its Content SID, parameters as ContentVariables.
    let content_sid = format!("HX{}", "b5c1".repeat(8));
    let segment = segment(&app, "twa").await;
    let broadcast = draft(
        &app,
        &channel,
        &segment,
        json!({ "content": { "template": { "name": content_sid, "language": "es", "parameters": ["Kerry", "A-12"] } } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1, "{done:#}");
    let form = mock.requests()[1].form();
    assert_eq!(form["ContentSid"], content_sid);
    assert_eq!(serde_json::from_str::<Value>(&form["ContentVariables"]).unwrap(), json!({ "1": "Kerry", "2": "A-12" }));
    assert!(!form.contains_key("Body"));
    // WhatsApp on Twilio reports read.
    let message = messages_of(&app, &broadcast).await.remove(0);
    assert_eq!(status(&app, &channel, &format!("MM{:032}", 1), "read", None).await, 200);
    wait_message(&app, &contact, message["id"].as_str().unwrap(), |m| m["status"] == "READ").await;
}

#[tokio::test]
async fn twilio_signatures_are_accepted_with_or_without_the_port_and_over_repeated_fields() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| created("SM0000", "+593991112233")).await;
    let channel = twilio_channel(&app, &mock, "TWILIO_SMS", "+14155550100").await;
    // An inbound SMS (Twilio, "Messaging webhook request parameters"), signed over the URL
    // without its port, as Twilio sometimes computes it; `MediaUrl0` repeated with two values,
    // which Twilio's validators sign as each distinct value in order.
    let without_port = format!("{}/webhooks/{channel}", app.address.rsplit_once(':').unwrap().0);
    let fields = [
        ("MessageSid", "SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"),
        ("AccountSid", SID),
        ("From", "+593991112233"),
        ("To", "+14155550100"),
        ("Body", "hola"),
        ("NumMedia", "0"),
        ("MediaUrl0", "https://api.twilio.com/b"),
        ("MediaUrl0", "https://api.twilio.com/a"),
    ];
    let mut sorted: Vec<(&str, &str)> = fields.to_vec();
    sorted.sort();
    sorted.dedup();
    let signed: String = sorted.iter().fold(without_port, |acc, (k, v)| format!("{acc}{k}{v}"));
    let signature = hmac_sha1_base64(TOKEN, signed.as_bytes());
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", signature.as_str())];
    let (status, answer) = post_webhook(&app, &channel, &headers, body.as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, "<Response/>");
    let found = app.ok("query { contacts(first: 5) { totalCount } }", json!({})).await;
    assert_eq!(found["contacts"]["totalCount"], 1);
    // Twilio retries a webhook that timed out: the same MessageSid is stored once.
    assert_eq!(post_webhook(&app, &channel, &headers, body.as_bytes()).await.0, 200);
    let stored = app
        .sql_row(format!("SELECT COUNT(*) AS n FROM messages WHERE direction = 'INCOMING' AND channel_id = {channel}"))
        .await;
    assert_eq!(stored.try_get::<i64>("", "n").unwrap(), 1);
    // A signature over other fields is still refused.
    let forged =
        [("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")];
    assert_eq!(post_webhook(&app, &channel, &forged, body.as_bytes()).await.0, 401);
}
