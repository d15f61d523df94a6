//! WhatsApp Cloud API and 360dialog against a mock speaking the Cloud API.

use serde_json::{Value, json};

use super::{
    Answer, ProviderMock, contact_channel_state, hmac_sha256_hex, messages_of_contact, post_webhook, send_message,
    wait_message,
};
use crate::broadcasts::{draft, messages_of, segment, send_now, wait_done};
use crate::helpers::TestApp;

const APP_SECRET: &str = "whatsapp-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

fn accepted(id: &str) -> Answer {
    Answer::json(
        200,
        json!({ "messaging_product": "whatsapp", "contacts": [{ "input": "+593991112233", "wa_id": "593991112233" }],
                "messages": [{ "id": id }] }),
    )
}

fn graph_error(status: u16, code: i64, message: &str, details: &str) -> Answer {
    Answer::json(
        status,
        json!({ "error": { "message": message, "type": "OAuthException", "code": code,
                "error_data": { "messaging_product": "whatsapp", "details": details }, "fbtrace_id": "AbCdEf" } }),
    )
}

async fn cloud_channel(app: &TestApp, mock: &ProviderMock) -> String {
    app.channel(json!({ "name": "WhatsApp", "kind": "WHATSAPP_CLOUD", "baseUrl": mock.url,
        "credentials": { "accessToken": "EAAG-token", "phoneNumberId": PHONE_NUMBER_ID, "appSecret": APP_SECRET,
                         "verifyToken": "verify-me" } }))
        .await
}

/// A Cloud API notification carrying `value` (statuses or messages).
fn notification(value: Value) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({ "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID });
    json!({ "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": "messages" }] }] })
    .to_string()
    .into_bytes()
}

fn inbound(from: &str, text: &str) -> Vec<u8> {
    notification(json!({
        "contacts": [{ "profile": { "name": "Kerry Fisher" }, "wa_id": from }],
        "messages": [{ "from": from, "id": format!("wamid.in-{text}"), "timestamp": chrono::Utc::now().timestamp().to_string(),
                       "type": "text", "text": { "body": text } }],
    }))
}

fn status(wamid: &str, ours: &str, status: &str) -> Vec<u8> {
    let mut item = json!({ "id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
        "recipient_id": "593991112233", "biz_opaque_callback_data": ours });
    if status == "failed" {
        item["errors"] = json!([{ "code": 131026, "title": "Message undeliverable",
            "message": "Message undeliverable", "error_data": { "details": "Message Undeliverable." } }]);
    }
    notification(json!({ "statuses": [item] }))
}

/// Posts a Cloud API webhook signed with `secret`.
async fn signed(app: &TestApp, channel: &str, secret: &str, body: &[u8]) -> (u16, String) {
    let signature = format!("sha256={}", hmac_sha256_hex(secret, body));
    post_webhook(app, channel, &[("content-type", "application/json"), ("x-hub-signature-256", &signature)], body).await
}

/// A contact on the channel who wrote just now (inside the 24-hour window).
async fn recent_contact(app: &TestApp, channel: &str, phone: &str) -> String {
    let contact = app
        .contact(json!({ "firstName": "Kerry", "phone": phone, "tags": ["wa"],
            "identifiers": [{ "channelId": channel, "identifier": phone }] }))
        .await;
    let (status, _) = signed(app, channel, APP_SECRET, &inbound(phone.trim_start_matches('+'), "hola")).await;
    assert_eq!(status, 200);
    contact
}

#[tokio::test]
async fn whatsapp_cloud_sends_text_and_templates_in_the_cloud_api_shape() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| accepted(&format!("wamid.HBgM{n}"))).await;
    let channel = cloud_channel(&app, &mock).await;
    let contact = recent_contact(&app, &channel, "+593991112233").await;

    let id = send_message(&app, &contact, &channel, json!({ "text": "Tu pedido salió" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["providerMessageId"], "wamid.HBgM0");
    let request = &mock.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(request.header("authorization"), "Bearer EAAG-token");
    assert_eq!(
        request.json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "593991112233",
                "type": "text", "text": { "preview_url": false, "body": "Tu pedido salió" },
                "biz_opaque_callback_data": id })
    );

    // A broadcast is a template, with its body parameters as components.
    let segment = segment(&app, "wa").await;
    let broadcast = draft(
        &app,
        &channel,
        &segment,
        json!({ "content": { "template": { "name": "order_update", "language": "es", "parameters": ["Kerry", "A-12"] } } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1, "{done:#}");
    let message = messages_of(&app, &broadcast).await.remove(0);
    let request = &mock.requests()[1];
    assert_eq!(
        request.json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "593991112233",
                "type": "template", "biz_opaque_callback_data": message["id"],
                "template": { "name": "order_update", "language": { "code": "es" }, "components": [
                    { "type": "body", "parameters": [{ "type": "text", "text": "Kerry" }, { "type": "text", "text": "A-12" }] }] } })
    );
}

#[tokio::test]
async fn whatsapp_cloud_retries_throughput_errors_and_fails_permanent_ones_with_their_reason() {
    let app = TestApp::spawn().await;
    // The first attempt hits the throughput limit; the retry is accepted.
    let mock = ProviderMock::start(|_, n| {
        if n == 0 {
            graph_error(400, 130429, "Rate limit hit", "Cloud API message throughput has been reached.")
        } else {
            accepted("wamid.retry")
        }
    })
    .await;
    let channel = cloud_channel(&app, &mock).await;
    let contact = recent_contact(&app, &channel, "+593991112233").await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2);
    assert_eq!(mock.requests().len(), 2);

    // Re-engagement (more than 24 hours since the contact wrote, as WhatsApp counts it).
    mock.set_script(|_, _| {
        graph_error(
            400,
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        )
    });
    let id = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "131047");
    assert!(failed["errorText"].as_str().unwrap().contains("Outside the messaging window"), "{failed:#}");
    assert_eq!(failed["attempts"], 1);

    // Undeliverable: failed with WhatsApp's code and text.
    mock.set_script(|_, _| graph_error(400, 131026, "Message Undeliverable", "The recipient is not a WhatsApp user."));
    let id = send_message(&app, &contact, &channel, json!({ "text": "tres" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "131026");
    assert_eq!(failed["errorText"], "Message Undeliverable: The recipient is not a WhatsApp user.");
}

#[tokio::test]
async fn whatsapp_cloud_webhooks_are_signed_move_statuses_forward_and_open_the_window() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("wamid.ABC")).await;
    let channel = cloud_channel(&app, &mock).await;

    // The subscription check echoes the challenge only with the channel's verify token.
    let verify = |token: &str| {
        format!(
            "{}/webhooks/{channel}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            app.address
        )
    };
    let ok = app.client.get(verify("verify-me")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(app.client.get(verify("guess")).send().await.unwrap().status(), 403);

    // An inbound message from a stranger creates the contact and opens its 24-hour window.
    let (code, _) = signed(&app, &channel, APP_SECRET, &inbound("593991114455", "hola")).await;
    assert_eq!(code, 200);
    let found =
        app.ok("query { contacts(first: 10, search: \"593991114455\") { nodes { id phone } } }", json!({})).await;
    let contact = found["contacts"]["nodes"][0]["id"].as_str().expect("the stranger became a contact").to_owned();
    assert_eq!(found["contacts"]["nodes"][0]["phone"], "+593991114455");
    let (last, unreachable) = contact_channel_state(&app, &contact, &channel).await;
    assert!(last.is_some() && !unreachable);
    let incoming = messages_of_contact(&app, &contact).await;
    assert_eq!(incoming[0]["direction"], "INCOMING");
    assert_eq!(incoming[0]["content"]["text"], "hola");

    // Inside the window a text goes out; statuses then move it forward, never back.
    let id = send_message(&app, &contact, &channel, json!({ "text": "gracias" })).await;
    wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    let forged = status("wamid.ABC", &id, "read");
    let (code, _) = signed(&app, &channel, "not-the-secret", &forged).await;
    assert_eq!(code, 401);
    let (code, _) = post_webhook(&app, &channel, &[("content-type", "application/json")], &forged).await;
    assert_eq!(code, 401);
    assert_eq!(wait_message(&app, &contact, &id, |_| true).await["status"], "SENT", "a forged webhook changed nothing");
    assert_eq!(signed(&app, &channel, APP_SECRET, &status("wamid.ABC", &id, "delivered")).await.0, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "DELIVERED").await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &status("wamid.ABC", &id, "read")).await.0, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "READ").await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &status("wamid.ABC", &id, "delivered")).await.0, 200);
    let message = wait_message(&app, &contact, &id, |_| true).await;
    assert_eq!(message["status"], "READ", "a late delivered does not move a read message back");
    assert!(message["deliveredAt"].is_string() && message["readAt"].is_string());

    // A failed status carries WhatsApp's error; a status for an unknown message is acknowledged.
    let id = send_message(&app, &contact, &channel, json!({ "text": "otro" })).await;
    wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &status("wamid.ABC", &id, "failed")).await.0, 200);
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(
        (failed["errorCode"].as_str(), failed["errorText"].as_str()),
        (Some("131026"), Some("Message Undeliverable."))
    );
    let (code, body) = signed(&app, &channel, APP_SECRET, &status("wamid.unknown", "999999", "delivered")).await;
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["unknownMessages"], 1);
}

#[tokio::test]
async fn whatsapp_via_360dialog_sends_with_its_api_key_and_takes_webhooks_with_the_channel_secret() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("wamid.360")).await;
    let channel = app
        .channel(json!({ "name": "360", "kind": "WHATSAPP_360DIALOG", "baseUrl": mock.url,
            "credentials": { "apiKey": "d360-key", "webhookSecret": "hook-secret" } }))
        .await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "phone": "+593991112266",
            "identifiers": [{ "channelId": channel, "identifier": "+593991112266" }] }))
        .await;
    // Without the secret header the webhook is refused and the window stays closed.
    let body = inbound("593991112266", "hola");
    let (code, _) = post_webhook(&app, &channel, &[("content-type", "application/json")], &body).await;
    assert_eq!(code, 401);
    assert_eq!(contact_channel_state(&app, &contact, &channel).await.0, None);
    let secret = [("content-type", "application/json"), ("x-pregon-webhook-secret", "hook-secret")];
    assert_eq!(post_webhook(&app, &channel, &secret, &body).await.0, 200);
    assert!(contact_channel_state(&app, &contact, &channel).await.0.is_some());

    let id = send_message(&app, &contact, &channel, json!({ "text": "Hola Ana" })).await;
    wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/messages");
    assert_eq!(request.header("d360-api-key"), "d360-key");
    assert_eq!(request.json()["text"], json!({ "preview_url": false, "body": "Hola Ana" }));
    assert_eq!(request.json()["messaging_product"], "whatsapp");
    assert_eq!(post_webhook(&app, &channel, &secret, &status("wamid.360", &id, "delivered")).await.0, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "DELIVERED").await;
}

#[tokio::test]
async fn whatsapp_via_360dialog_broadcasts_templates_retries_and_fails_like_the_cloud_api() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| {
        if n == 0 {
            graph_error(503, 131016, "Service unavailable", "A service is temporarily unavailable.")
        } else {
            accepted("wamid.360t")
        }
    })
    .await;
    let channel = app
        .channel(json!({ "name": "360", "kind": "WHATSAPP_360DIALOG", "baseUrl": mock.url,
            "credentials": { "apiKey": "d360-key", "webhookSecret": "hook-secret" } }))
        .await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "phone": "+593991112277", "tags": ["d360"],
            "identifiers": [{ "channelId": channel, "identifier": "+593991112277" }] }))
        .await;
    // A template broadcast goes out although the contact never wrote; the first attempt is retried.
    let broadcast = draft(
        &app,
        &channel,
        &segment(&app, "d360").await,
        json!({ "content": { "template": { "name": "welcome", "language": "es" } } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1, "{done:#}");
    let message = messages_of(&app, &broadcast).await.remove(0);
    assert_eq!(message["attempts"], 2);
    let request = &mock.requests()[1];
    assert_eq!(request.header("d360-api-key"), "d360-key");
    assert_eq!(
        request.json(),
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "593991112277", "type": "template",
                "biz_opaque_callback_data": message["id"], "template": { "name": "welcome", "language": { "code": "es" } } })
    );
    // Undeliverable: failed with WhatsApp's code.
    mock.set_script(|_, _| graph_error(400, 131026, "Message Undeliverable", "Not a WhatsApp user."));
    let secret = [("content-type", "application/json"), ("x-pregon-webhook-secret", "hook-secret")];
    assert_eq!(post_webhook(&app, &channel, &secret, &inbound("593991112277", "hola")).await.0, 200);
    let id = send_message(&app, &contact, &channel, json!({ "text": "hola" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "131026");
}

#[tokio::test]
async fn an_imported_contact_who_writes_on_whatsapp_stays_one_contact_with_its_window_open() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("wamid.OUT")).await;
    let channel = cloud_channel(&app, &mock).await;
    // Imported with a phone only: no identifier on the WhatsApp channel yet.
    let contact = app.contact(json!({ "firstName": "Inés", "phone": "+593 99 765 4321" })).await;
    let before = send_message(&app, &contact, &channel, json!({ "text": "¿Sigues ahí?" })).await;
    let closed = wait_message(&app, &contact, &before, |m| m["status"] == "FAILED").await;
    assert_eq!(closed["errorCode"], "OUTSIDE_MESSAGING_WINDOW");

    // The contact writes (Cloud API "Text messages" webhook example: `from` is the wa_id
    // without "+"). Delivered twice, as Meta redelivers a callback it got no 200 for.
    let body = inbound("593997654321", "hola");
    for _ in 0..2 {
        let (status, answer) = signed(&app, &channel, APP_SECRET, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let all = app.ok("query { contacts(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(all["contacts"]["totalCount"], 1, "no duplicate contact was created");
    let (last, unreachable) = contact_channel_state(&app, &contact, &channel).await;
    assert!(last.is_some() && !unreachable, "the identifier is linked to the imported contact");
    let incoming: Vec<Value> =
        messages_of_contact(&app, &contact).await.into_iter().filter(|m| m["direction"] == "INCOMING").collect();
    assert_eq!(incoming.len(), 1, "the redelivery is stored once: {incoming:#?}");

    // Inside the window now: the next message goes out.
    let after = send_message(&app, &contact, &channel, json!({ "text": "¡Hola Inés!" })).await;
    wait_message(&app, &contact, &after, |m| m["status"] == "SENT").await;
}

#[tokio::test]
async fn one_whatsapp_notification_with_odd_but_valid_messages_is_applied_whole() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("wamid.OUT1")).await;
    let channel = cloud_channel(&app, &mock).await;
    let known = recent_contact(&app, &channel, "+16505551234").await;
    let id = send_message(&app, &known, &channel, json!({ "text": "¿Qué envío prefieres?" })).await;
    wait_message(&app, &known, &id, |m| m["status"] == "SENT").await;
    // Imported without a WhatsApp identifier; WhatsApp writes Mexican mobiles as 521 + 10 digits.
    let paco = app.contact(json!({ "firstName": "Paco", "phone": "+52 55 1234 5678" })).await;
    let now = chrono::Utc::now().timestamp().to_string();
    let ours = json!({ "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID });
    // Payloads from Meta's webhook reference: "Business-scoped user IDs" (a user with a username
    // and no `from`), "interactive" (button_reply and list_reply), and a status for our message.
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": [
        { "field": "messages", "value": { "messaging_product": "whatsapp", "metadata": ours,
            "contacts": [{ "profile": { "name": "Sheena Nelson", "username": "@realsheenanelson" },
                           "user_id": "US.13491208655302741918", "parent_user_id": "US.ENT.11815799212886844830" },
                         { "profile": { "name": "Paco" }, "wa_id": "5215512345678", "user_id": "MX.99" }],
            "messages": [
                { "from_user_id": "US.13491208655302741918", "from_parent_user_id": "US.ENT.11815799212886844830",
                  "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "timestamp": now,
                  "type": "text", "text": { "body": "Does it come in another color?" } },
                { "context": { "from": "15550783881", "id": "wamid.OUT1" }, "from": "16505551234",
                  "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=", "timestamp": now,
                  "type": "interactive", "interactive": { "type": "button_reply",
                      "button_reply": { "id": "cancel-button", "title": "Cancel" } } },
                { "context": { "from": "15550783881", "id": "wamid.OUT1" }, "from": "16505551234",
                  "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "timestamp": now,
                  "type": "interactive", "interactive": { "type": "list_reply",
                      "list_reply": { "id": "priority_express", "title": "Priority Mail Express", "description": "Next Day to 2 Days" } } },
                { "from": "5215512345678", "id": "wamid.MX1", "timestamp": now, "type": "text", "text": { "body": "¿Tienen envío?" } }
            ],
            "statuses": [{ "id": "wamid.OUT1", "status": "delivered", "timestamp": now, "recipient_id": "16505551234",
                           "recipient_user_id": "US.13491208655302741918", "biz_opaque_callback_data": id }] } },
        // The same app's other phone number: not this channel's.
        { "field": "messages", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550000000", "phone_number_id": "999999999999999" },
            "contacts": [{ "profile": { "name": "Other" }, "wa_id": "593990000000" }],
            "messages": [{ "from": "593990000000", "id": "wamid.OTHER", "timestamp": now, "type": "text", "text": { "body": "hola" } }] } }
    ] }] });
    let (status, answer) = signed(&app, &channel, APP_SECRET, body.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    wait_message(&app, &known, &id, |m| m["status"] == "DELIVERED").await;
    let texts: Vec<Value> = messages_of_contact(&app, &known)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "INCOMING")
        .map(|m| m["content"]["text"].clone())
        .collect();
    assert!(texts.contains(&json!("Cancel")) && texts.contains(&json!("Priority Mail Express")), "{texts:?}");
    let (window, _) = contact_channel_state(&app, &paco, &channel).await;
    assert!(window.is_some(), "the Mexican number matched the imported contact");
    let all = app.ok("query { contacts(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(all["contacts"]["totalCount"], 2, "no contact for the username-only user nor the other number");
}

#[tokio::test]
async fn three_sixty_dialogs_own_rate_limit_answer_is_backed_off_and_retried() {
    let app = TestApp::spawn().await;
    // 360dialog, "API error message list": HTTP 400 "You have exceeded the endpoint rate limit."
    // in its `meta` envelope.
    let mock = ProviderMock::start(|_, n| {
        if n == 0 {
            Answer::json(
                400,
                json!({ "meta": { "success": false, "http_code": 400,
                    "developer_message": "You have exceeded the endpoint rate limit.",
                    "360dialog_trace_id": "TOZFYLoh3xrUq2FsREQ" } }),
            )
        } else {
            accepted("wamid.360rl")
        }
    })
    .await;
    let channel = app
        .channel(json!({ "name": "360", "kind": "WHATSAPP_360DIALOG", "baseUrl": mock.url,
            "credentials": { "apiKey": "d360-key", "webhookSecret": "hook-secret" } }))
        .await;
    app.contact(json!({ "firstName": "Ana", "phone": "+593991112277", "tags": ["rl"],
            "identifiers": [{ "channelId": channel, "identifier": "+593991112277" }] }))
        .await;
    let broadcast = draft(
        &app,
        &channel,
        &segment(&app, "rl").await,
        json!({ "content": { "template": { "name": "welcome", "language": "es" } } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!((done["sentCount"].as_i64(), done["failedCount"].as_i64()), (Some(1), Some(0)), "{done:#}");
    let message = messages_of(&app, &broadcast).await.remove(0);
    assert_eq!(message["attempts"], 2);
}

#[tokio::test]
async fn a_throughput_failure_reported_after_acceptance_sends_the_message_again() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| accepted(&format!("wamid.try{n}"))).await;
    let channel = cloud_channel(&app, &mock).await;
    app.contact(json!({ "firstName": "Ana", "phone": "+593991112288", "tags": ["tp"],
        "identifiers": [{ "channelId": channel, "identifier": "+593991112288" }] }))
        .await;
    let broadcast = draft(
        &app,
        &channel,
        &segment(&app, "tp").await,
        json!({ "content": { "template": { "name": "welcome", "language": "es" } } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    assert_eq!(wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await["sentCount"], 1);
    let message = messages_of(&app, &broadcast).await.remove(0);
    let ours = message["id"].as_str().unwrap().to_owned();
    // Meta, webhooks reference "errors": 130429 "Rate limit hit", here on the message's status.
    let failed = notification(json!({ "statuses": [{ "id": "wamid.try0", "status": "failed",
        "timestamp": chrono::Utc::now().timestamp().to_string(), "recipient_id": "593991112288",
        "biz_opaque_callback_data": ours,
        "errors": [{ "code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
            "error_data": { "details": "Message failed to send because there were too many messages sent from this phone number in a short period of time" },
            "href": "/documentation/business-messaging/whatsapp/support/error-codes" }] }] }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &failed).await.0, 200);
    // Sent again: a second request, the broadcast completes again with nothing failed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while mock.requests().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the message was not sent again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!((done["sentCount"].as_i64(), done["failedCount"].as_i64()), (Some(1), Some(0)), "{done:#}");
    let again = messages_of(&app, &broadcast).await.remove(0);
    assert_eq!(again["status"], "SENT");
    assert_eq!(again["attempts"], 2);
    crate::broadcasts::assert_counts_match_rows(&app, &broadcast).await;
    // A permanent failure stays failed.
    let undeliverable = status("wamid.try1", &ours, "failed");
    assert_eq!(signed(&app, &channel, APP_SECRET, &undeliverable).await.0, 200);
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(5)).await;
    assert_eq!(done["failedCount"], 1);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn whatsapp_never_follows_a_redirect() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("wamid.X")).await;
    let elsewhere = format!("{}/elsewhere", mock.url);
    let channel = cloud_channel(&app, &mock).await;
    let contact = recent_contact(&app, &channel, "+593991112299").await;
    mock.set_script(move |_, _| Answer::json(301, json!({})).header("location", &elsewhere));
    let id = send_message(&app, &contact, &channel, json!({ "text": "hola" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "REDIRECT_REFUSED");
    assert_eq!(mock.requests().len(), 1, "only the send, no request to the redirect's target");
}
