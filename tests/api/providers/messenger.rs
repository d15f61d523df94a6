//! Messenger against a mock speaking the Send API and posting page webhooks.

use serde_json::{Value, json};

use super::{
    Answer, ProviderMock, contact_channel_state, hmac_sha256_hex, messages_of_contact, post_webhook, send_message,
    wait_message,
};
use crate::broadcasts::{draft, messages_of, segment, send_now, wait_done};
use crate::helpers::TestApp;

const APP_SECRET: &str = "messenger-app-secret";
const PAGE: &str = "104620331234567";
const PSID: &str = "6543210987654321";

fn accepted(mid: &str) -> Answer {
    Answer::json(200, json!({ "recipient_id": PSID, "message_id": mid }))
}

fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> Answer {
    Answer::json(
        400,
        json!({ "error": { "message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "Az9" } }),
    )
}

async fn messenger_channel(app: &TestApp, mock: &ProviderMock) -> String {
    // Messenger's default rate is 200 an hour: the tests raise it.
    app.channel(json!({ "name": "Page", "kind": "MESSENGER", "baseUrl": mock.url, "rateLimit": { "count": 100 },
        "credentials": { "pageAccessToken": "EAAB-page", "appSecret": APP_SECRET, "pageId": PAGE, "verifyToken": "verify-page" } }))
        .await
}

fn page_event(messaging: Value) -> Vec<u8> {
    json!({ "object": "page", "entry": [{ "id": PAGE, "time": chrono::Utc::now().timestamp_millis(), "messaging": [messaging] }] })
        .to_string()
        .into_bytes()
}

fn inbound(psid: &str, text: &str) -> Vec<u8> {
    page_event(
        json!({ "sender": { "id": psid }, "recipient": { "id": PAGE }, "timestamp": chrono::Utc::now().timestamp_millis(),
        "message": { "mid": format!("m_in_{text}"), "text": text } }),
    )
}

async fn signed(app: &TestApp, channel: &str, secret: &str, body: &[u8]) -> u16 {
    let signature = format!("sha256={}", hmac_sha256_hex(secret, body));
    post_webhook(app, channel, &[("content-type", "application/json"), ("x-hub-signature-256", &signature)], body)
        .await
        .0
}

#[tokio::test]
async fn messenger_answers_in_the_window_and_broadcasts_with_a_message_tag() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| accepted(&format!("m_out_{n}"))).await;
    let channel = messenger_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "tags": ["fb"], "identifiers": [{ "channelId": channel, "identifier": PSID }] }))
        .await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let id = send_message(&app, &contact, &channel, json!({ "text": "¿En qué te ayudo?" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["providerMessageId"], "m_out_0");
    let request = &mock.requests()[0];
    assert_eq!(request.path, format!("/v21.0/{PAGE}/messages"));
    assert_eq!(request.header("authorization"), "Bearer EAAB-page");
    assert_eq!(
        request.json(),
        json!({ "recipient": { "id": PSID }, "messaging_type": "RESPONSE", "message": { "text": "¿En qué te ayudo?" } })
    );

    let broadcast = draft(
        &app,
        &channel,
        &segment(&app, "fb").await,
        json!({ "content": { "text": "Tu pedido salió", "messageTag": "POST_PURCHASE_UPDATE" } }),
    )
    .await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1, "{done:#}");
    assert_eq!(
        mock.requests()[1].json(),
        json!({ "recipient": { "id": PSID }, "messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE",
                "message": { "text": "Tu pedido salió" } })
    );
    assert_eq!(messages_of(&app, &broadcast).await[0]["status"], "SENT");
}

#[tokio::test]
async fn messenger_retries_rate_limits_and_fails_the_rest_with_graph_codes() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| {
        if n == 0 {
            graph_error(613, None, "Calls to this api have exceeded the rate limit.")
        } else {
            accepted("m_retry")
        }
    })
    .await;
    let channel = messenger_channel(&app, &mock).await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": PSID }] })).await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let id = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    assert_eq!(wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await["attempts"], 2);

    mock.set_script(|_, _| graph_error(10, Some(2_018_278), "Message sent outside of allowed window."));
    let id = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "10");
    assert!(failed["errorText"].as_str().unwrap().starts_with("Outside the messaging window"), "{failed:#}");

    mock.set_script(|_, _| graph_error(100, None, "(#100) Invalid parameter"));
    let id = send_message(&app, &contact, &channel, json!({ "text": "tres" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(
        (failed["errorCode"].as_str(), failed["errorText"].as_str()),
        (Some("100"), Some("(#100) Invalid parameter"))
    );
    assert!(!contact_channel_state(&app, &contact, &channel).await.1);

    mock.set_script(|_, _| graph_error(551, Some(1_545_041), "This person isn't available right now."));
    let id = send_message(&app, &contact, &channel, json!({ "text": "cuatro" })).await;
    assert_eq!(wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await["errorCode"], "551");
    assert!(contact_channel_state(&app, &contact, &channel).await.1, "551 marks the person unreachable");
}

#[tokio::test]
async fn messenger_webhooks_verify_sign_deliver_by_mid_and_read_by_watermark() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| accepted(&format!("m_out_{n}"))).await;
    let channel = messenger_channel(&app, &mock).await;
    let verify = |token: &str| {
        format!(
            "{}/webhooks/{channel}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=CHALLENGE_ACCEPTED",
            app.address
        )
    };
    let ok = app.client.get(verify("verify-page")).send().await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text().await.unwrap()), (200, "CHALLENGE_ACCEPTED".to_owned()));
    assert_eq!(app.client.get(verify("nope")).send().await.unwrap().status(), 403);

    // A stranger writes: a new contact with its window open; a forged copy changes nothing.
    assert_eq!(signed(&app, &channel, "wrong-secret", &inbound(PSID, "hola")).await, 401);
    assert_eq!(
        post_webhook(&app, &channel, &[("content-type", "application/json")], &inbound(PSID, "hola")).await.0,
        401
    );
    assert_eq!(app.ok("query { contacts(first: 1) { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let contact =
        app.ok("query { contacts(first: 1) { nodes { id } } }", json!({})).await["contacts"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(contact_channel_state(&app, &contact, &channel).await.0.is_some());
    // Meta redelivers a notification it got no 200 for: the same `mid` is stored once.
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let incoming = messages_of_contact(&app, &contact).await;
    assert_eq!(incoming.iter().filter(|m| m["direction"] == "INCOMING").count(), 1, "{incoming:#?}");

    let first = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    let second = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    for id in [&first, &second] {
        wait_message(&app, &contact, id, |m| m["status"] == "SENT").await;
    }
    let mids: Vec<String> = {
        let mut by_id: Vec<(String, String)> = messages_of_contact(&app, &contact)
            .await
            .into_iter()
            .filter(|m| m["direction"] == "OUTGOING")
            .map(|m| (m["id"].as_str().unwrap().to_owned(), m["providerMessageId"].as_str().unwrap().to_owned()))
            .collect();
        by_id.sort();
        by_id.into_iter().map(|(_, mid)| mid).collect()
    };
    // Delivered by mid (the first message only, watermark before the second was sent).
    let delivered = page_event(json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE },
        "delivery": { "mids": [mids[0]], "watermark": 1 } }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &delivered).await, 200);
    wait_message(&app, &contact, &first, |m| m["status"] == "DELIVERED").await;
    assert_eq!(wait_message(&app, &contact, &second, |_| true).await["status"], "SENT");
    // Read up to now: both are read (the second without a delivery of its own).
    let read = page_event(json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE },
        "timestamp": chrono::Utc::now().timestamp_millis(), "read": { "watermark": chrono::Utc::now().timestamp_millis() + 1000 } }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &read).await, 200);
    wait_message(&app, &contact, &first, |m| m["status"] == "READ").await;
    wait_message(&app, &contact, &second, |m| m["status"] == "READ").await;
    // The page's own echo is not an inbound message.
    let echo = page_event(json!({ "sender": { "id": PAGE }, "recipient": { "id": PSID }, "timestamp": 1,
        "message": { "mid": "m_echo", "text": "dos", "is_echo": true } }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &echo).await, 200);
    let incoming =
        messages_of_contact(&app, &contact).await.into_iter().filter(|m| m["direction"] == "INCOMING").count();
    assert_eq!(incoming, 1);
}

/// An inbound message the person sent `hours_ago` hours ago (Meta's `timestamp` is in ms).
fn inbound_at(psid: &str, text: &str, hours_ago: i64) -> Vec<u8> {
    let at = (chrono::Utc::now() - chrono::Duration::hours(hours_ago)).timestamp_millis();
    page_event(json!({ "sender": { "id": psid }, "recipient": { "id": PAGE }, "timestamp": at,
        "message": { "mid": format!("m_in_{text}_{hours_ago}"), "text": text } }))
}

async fn send_as(app: &TestApp, contact: &str, channel: &str, text: &str, source: &str) -> Value {
    app.ok(
        "mutation($c: ID!, $ch: ID!, $t: String!, $s: SendSource!) { sendMessage(contactId: $c, channelId: $ch, content: { text: $t }, source: $s) { id status errorCode errorText } }",
        json!({ "c": contact, "ch": channel, "t": text, "s": source }),
    )
    .await["sendMessage"]
        .clone()
}

#[tokio::test]
async fn messenger_holds_automated_messages_to_24_hours_and_a_persons_reply_to_7_days_with_human_agent() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| accepted(&format!("m_out_{n}"))).await;
    let channel = messenger_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "tags": ["fb"], "identifiers": [{ "channelId": channel, "identifier": PSID }] }))
        .await;
    // The person wrote 30 hours ago: past the standard 24 hours, inside the 7 days.
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound_at(PSID, "hola", 30)).await, 200);
    let automated = send_as(&app, &contact, &channel, "Oferta", "API").await;
    assert_eq!(
        (automated["status"].as_str(), automated["errorCode"].as_str()),
        (Some("FAILED"), Some("OUTSIDE_MESSAGING_WINDOW"))
    );
    assert!(automated["errorText"].as_str().unwrap().contains("24 hours"), "{automated:#}");
    assert!(mock.requests().is_empty(), "nothing went to Meta");
    let reply = send_as(&app, &contact, &channel, "Perdón la demora", "USER").await;
    let id = reply["id"].as_str().unwrap();
    wait_message(&app, &contact, id, |m| m["status"] == "SENT").await;
    // Meta, Send API with a message tag: messaging_type MESSAGE_TAG and tag HUMAN_AGENT.
    assert_eq!(
        mock.requests()[0].json(),
        json!({ "recipient": { "id": PSID }, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                "message": { "text": "Perdón la demora" } })
    );
    // HUMAN_AGENT is never a broadcast's tag.
    let refused = app
        .gql(
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "x", "channelId": channel, "segmentId": segment(&app, "fb").await,
                "content": { "text": "x", "messageTag": "HUMAN_AGENT" } } }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&refused), "BAD_USER_INPUT", "{refused:#}");

    // Another person wrote 8 days ago: not even a person's reply may go.
    let late = "7654321098765432";
    let other =
        app.contact(json!({ "firstName": "Bea", "identifiers": [{ "channelId": channel, "identifier": late }] })).await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound_at(late, "hola", 8 * 24)).await, 200);
    let refused = send_as(&app, &other, &channel, "¿Sigues ahí?", "USER").await;
    assert_eq!(refused["errorCode"], "OUTSIDE_MESSAGING_WINDOW");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_messenger_watermark_covers_the_newest_message_and_other_pages_are_ignored() {
    let app = TestApp::spawn().await;
    // Meta takes its time to answer the send: its time of receipt is well before its answer.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let seen = received.clone();
    let mock = ProviderMock::start(move |_, n| {
        seen.lock().unwrap().push(chrono::Utc::now().timestamp_millis());
        std::thread::sleep(std::time::Duration::from_millis(300));
        accepted(&format!("m_out_{n}"))
    })
    .await;
    let channel = messenger_channel(&app, &mock).await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": PSID }] })).await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let id = send_message(&app, &contact, &channel, json!({ "text": "¿En qué te ayudo?" })).await;
    wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    let receipt = received.lock().unwrap()[0];
    // Another Page of the same app: its delivery names our person but is not this channel's.
    let other = json!({ "object": "page", "entry": [{ "id": "999999999999999", "time": receipt, "messaging": [{
        "sender": { "id": PSID }, "recipient": { "id": "999999999999999" }, "timestamp": receipt,
        "delivery": { "watermark": receipt } }] }] });
    assert_eq!(signed(&app, &channel, APP_SECRET, other.to_string().as_bytes()).await, 200);
    assert_eq!(wait_message(&app, &contact, &id, |_| true).await["status"], "SENT");
    // Messenger Platform, "message_deliveries": `mids` may be absent; the watermark is Meta's
    // time of receipt of the newest delivered message.
    let delivered =
        page_event(json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE }, "timestamp": receipt + 50,
        "delivery": { "watermark": receipt } }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &delivered).await, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "DELIVERED").await;
    let read = page_event(json!({ "sender": { "id": PSID }, "recipient": { "id": PAGE }, "timestamp": receipt + 90,
        "read": { "watermark": receipt } }));
    assert_eq!(signed(&app, &channel, APP_SECRET, &read).await, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "READ").await;
}

#[tokio::test]
async fn messenger_never_follows_a_redirect() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| accepted("m_x")).await;
    let elsewhere = format!("{}/elsewhere", mock.url);
    mock.set_script(move |_, _| Answer::json(307, json!({})).header("location", &elsewhere));
    let channel = messenger_channel(&app, &mock).await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": PSID }] })).await;
    assert_eq!(signed(&app, &channel, APP_SECRET, &inbound(PSID, "hola")).await, 200);
    let id = send_message(&app, &contact, &channel, json!({ "text": "¿En qué te ayudo?" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "REDIRECT_REFUSED");
    assert_eq!(mock.requests().len(), 1, "only the send, no request to the redirect's target");
}
