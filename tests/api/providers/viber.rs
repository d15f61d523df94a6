//! Viber against a mock speaking the REST bot API and posting signed callbacks.

use serde_json::{Value, json};

use super::{Answer, ProviderMock, contact_channel_state, hmac_sha256_hex, post_webhook, send_message, wait_message};
use crate::broadcasts::{draft, messages_of, segment, send_now, wait_done};
use crate::helpers::TestApp;

const TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
const USER: &str = "01234567890A=";

fn status(code: i64, message: &str, token: Option<i64>) -> Answer {
    let mut body = json!({ "status": code, "status_message": message, "chat_hostname": "SN-CHAT-05_" });
    if let Some(token) = token {
        body["message_token"] = json!(token);
    }
    Answer::json(200, body)
}

async fn viber_channel(app: &TestApp, mock: &ProviderMock) -> String {
    app.channel(json!({ "name": "Tienda Viber con un nombre muy largo", "kind": "VIBER", "baseUrl": mock.url,
        "credentials": { "authToken": TOKEN } }))
        .await
}

async fn callback(app: &TestApp, channel: &str, key: &str, body: Value) -> u16 {
    let body = body.to_string().into_bytes();
    let signature = hmac_sha256_hex(key, &body);
    post_webhook(
        app,
        channel,
        &[("content-type", "application/json"), ("x-viber-content-signature", &signature)],
        &body,
    )
    .await
    .0
}

#[tokio::test]
async fn viber_sends_with_its_auth_token_and_follows_delivered_and_seen() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| status(0, "ok", Some(5_741_311_803_571_721_087 + n as i64))).await;
    let channel = viber_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "tags": ["vb"], "identifiers": [{ "channelId": channel, "identifier": USER }] }))
        .await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "Hola Ana" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["providerMessageId"], "5741311803571721087");
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/pa/send_message");
    assert_eq!(request.header("x-viber-auth-token"), TOKEN);
    assert_eq!(
        request.json(),
        json!({ "receiver": USER, "min_api_version": 1, "sender": { "name": "Tienda Viber con un nombre m" },
                "tracking_data": id, "type": "text", "text": "Hola Ana" })
    );

    // Signed callbacks move it forward; a late delivered after seen is ignored; forged ones are refused.
    let event = |event: &str| {
        json!({ "event": event, "timestamp": chrono::Utc::now().timestamp_millis(),
        "chat_hostname": "SN-CHAT-05_", "message_token": 5_741_311_803_571_721_087_i64, "user_id": USER })
    };
    assert_eq!(callback(&app, &channel, "not-the-token", event("seen")).await, 401);
    assert_eq!(post_webhook(&app, &channel, &[], event("seen").to_string().as_bytes()).await.0, 401);
    assert_eq!(wait_message(&app, &contact, &id, |_| true).await["status"], "SENT");
    assert_eq!(callback(&app, &channel, TOKEN, event("delivered")).await, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "DELIVERED").await;
    assert_eq!(callback(&app, &channel, TOKEN, event("seen")).await, 200);
    wait_message(&app, &contact, &id, |m| m["status"] == "READ").await;
    assert_eq!(callback(&app, &channel, TOKEN, event("delivered")).await, 200);
    assert_eq!(wait_message(&app, &contact, &id, |_| true).await["status"], "READ");

    // A broadcast, then its message fails on the provider's side.
    let broadcast = draft(&app, &channel, &segment(&app, "vb").await, json!({})).await;
    send_now(&app, &broadcast).await;
    assert_eq!(wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await["sentCount"], 1);
    let message = messages_of(&app, &broadcast).await.remove(0);
    let failed = json!({ "event": "failed", "timestamp": 1_457_764_197_627_i64, "message_token": 5_741_311_803_571_721_088_i64,
        "user_id": USER, "desc": "failure description" });
    assert_eq!(callback(&app, &channel, TOKEN, failed).await, 200);
    let failed = wait_message(&app, &contact, message["id"].as_str().unwrap(), |m| m["status"] == "FAILED").await;
    assert_eq!(
        (failed["errorCode"].as_str(), failed["errorText"].as_str()),
        (Some("failed"), Some("failure description"))
    );
}

#[tokio::test]
async fn viber_retries_too_many_requests_and_fails_or_marks_unreachable_by_status() {
    let app = TestApp::spawn().await;
    let mock =
        ProviderMock::start(|_, n| if n == 0 { status(12, "tooManyRequests", None) } else { status(0, "ok", Some(7)) })
            .await;
    let channel = viber_channel(&app, &mock).await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": USER }] })).await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    assert_eq!(wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await["attempts"], 2);

    mock.set_script(|_, _| status(3, "badData", None));
    let id = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(
        (failed["errorCode"].as_str(), failed["errorText"].as_str()),
        (Some("badData"), Some("Viber status 3: badData"))
    );
    assert!(!contact_channel_state(&app, &contact, &channel).await.1);

    mock.set_script(|_, _| status(6, "notSubscribed", None));
    let id = send_message(&app, &contact, &channel, json!({ "text": "tres" })).await;
    assert_eq!(wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await["errorCode"], "notSubscribed");
    assert!(contact_channel_state(&app, &contact, &channel).await.1, "a user who is not subscribed is unreachable");
}

#[tokio::test]
async fn viber_inbound_messages_open_the_window_and_unsubscribes_close_the_door() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| status(0, "ok", Some(1))).await;
    let channel = viber_channel(&app, &mock).await;
    let message = json!({ "event": "message", "timestamp": chrono::Utc::now().timestamp_millis(), "message_token": 4_912_661_846_655_238_145_i64,
        "sender": { "id": USER, "name": "John McClane", "language": "es", "country": "EC", "api_version": 1 },
        "message": { "type": "text", "text": "hola", "tracking_data": "x" } });
    assert_eq!(callback(&app, &channel, "forged", message.clone()).await, 401);
    assert_eq!(callback(&app, &channel, TOKEN, message).await, 200);
    let contact =
        app.ok("query { contacts(first: 1) { nodes { id } } }", json!({})).await["contacts"]["nodes"][0]["id"]
            .as_str()
            .expect("the sender became a contact")
            .to_owned();
    assert!(contact_channel_state(&app, &contact, &channel).await.0.is_some());
    let unsubscribed = json!({ "event": "unsubscribed", "timestamp": chrono::Utc::now().timestamp_millis(), "user_id": USER,
        "message_token": 4_912_661_846_655_238_146_i64 });
    assert_eq!(callback(&app, &channel, TOKEN, unsubscribed).await, 200);
    assert!(contact_channel_state(&app, &contact, &channel).await.1);
    // The user subscribes again (Viber REST bot API, "Subscribed" callback): reachable.
    let subscribed = json!({ "event": "subscribed", "timestamp": chrono::Utc::now().timestamp_millis(), "chat_hostname": "SN-149_",
        "user": { "id": USER, "name": "John McClane", "avatar": "http://avatar.example.com", "country": "UK",
                  "language": "en", "api_version": 1 },
        "message_token": 4_912_661_846_655_238_147_i64 });
    assert_eq!(callback(&app, &channel, TOKEN, subscribed).await, 200);
    assert!(!contact_channel_state(&app, &contact, &channel).await.1, "a subscribed user is reachable again");
    // Viber retries a callback for an hour until it gets a 200: the same message is stored once.
    let message = json!({ "event": "message", "timestamp": chrono::Utc::now().timestamp_millis(), "message_token": 4_912_661_846_655_238_145_i64,
        "sender": { "id": USER, "name": "John McClane", "language": "es", "country": "EC", "api_version": 1 },
        "message": { "type": "text", "text": "hola", "tracking_data": "x" } });
    assert_eq!(callback(&app, &channel, TOKEN, message).await, 200);
    let incoming = super::messages_of_contact(&app, &contact).await;
    assert_eq!(incoming.iter().filter(|m| m["direction"] == "INCOMING").count(), 1, "{incoming:#?}");
    // Events with nothing to record are acknowledged.
    let started = json!({ "event": "conversation_started", "timestamp": 1, "message_token": 1, "type": "open",
        "user": { "id": USER, "name": "John" }, "subscribed": false });
    assert_eq!(callback(&app, &channel, TOKEN, started).await, 200);
}
