//! LINE against a mock speaking the Messaging API and posting signed webhooks.

use serde_json::{Value, json};

use super::{
    Answer, ProviderMock, contact_channel_state, hmac_sha256_base64, post_webhook, send_message, wait_message,
};
use crate::broadcasts::{draft, segment, send_now, wait_done};
use crate::helpers::TestApp;

const SECRET: &str = "line-channel-secret";
const USER: &str = "U4af4980629abcdef4af4980629abcdef";

fn pushed(id: &str) -> Answer {
    Answer::json(200, json!({ "sentMessages": [{ "id": id, "quoteToken": "IStG5h1Tz7b..." }] }))
}

async fn line_channel(app: &TestApp, mock: &ProviderMock) -> String {
    app.channel(json!({ "name": "LINE", "kind": "LINE", "baseUrl": mock.url,
        "credentials": { "channelAccessToken": "line-access-token", "channelSecret": SECRET } }))
        .await
}

async fn webhook(app: &TestApp, channel: &str, secret: &str, events: Value) -> u16 {
    let body = json!({ "destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "events": events }).to_string().into_bytes();
    let signature = hmac_sha256_base64(secret, &body);
    post_webhook(app, channel, &[("content-type", "application/json"), ("x-line-signature", &signature)], &body).await.0
}

fn text_event(user: &str, text: &str) -> Value {
    json!([{ "type": "message", "mode": "active", "timestamp": chrono::Utc::now().timestamp_millis(),
        "source": { "type": "user", "userId": user }, "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
        "deliveryContext": { "isRedelivery": false }, "replyToken": "b60d432864f44d079f6d8efe86cf404b",
        "message": { "id": "444573844083572737", "type": "text", "quoteToken": "q3Plxr4AgKd...", "text": text } }])
}

#[tokio::test]
async fn line_pushes_with_a_stable_retry_key_and_a_409_on_retry_means_sent() {
    let app = TestApp::spawn().await;
    // The first answer is lost (500); LINE had accepted it, so the retry gets 409.
    let mock = ProviderMock::start(|_, n| match n {
        0 => Answer::json(500, json!({ "message": "An error occurred in the API server" })),
        // LINE Developers, "Retrying a failed API request": a push's 409 repeats the accepted
        // request's `sentMessages`.
        1 => Answer::json(
            409,
            json!({ "message": "The retry key is already accepted",
                    "sentMessages": [{ "id": "461230966842064897", "quoteToken": "IStG5h1Tz7b..." }] }),
        )
        .header("x-line-request-id", "123e4567-e89b-12d3-a456-426655440002")
        .header("x-line-accepted-request-id", "123e4567-e89b-12d3-a456-426655440001"),
        _ => pushed("461230966842064898"),
    })
    .await;
    let channel = line_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "tags": ["ln"], "identifiers": [{ "channelId": channel, "identifier": USER }] }))
        .await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "Hola Ana" })).await;
    let sent = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(sent["attempts"], 2);
    assert_eq!(sent["providerMessageId"], "461230966842064897", "the id LINE repeats in the 409");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v2/bot/message/push");
    assert_eq!(requests[0].header("authorization"), "Bearer line-access-token");
    let key = requests[0].header("x-line-retry-key");
    assert_eq!(key, requests[1].header("x-line-retry-key"), "the same retry key on every attempt");
    assert!(uuid_like(key), "{key}");
    assert_eq!(requests[0].json(), json!({ "to": USER, "messages": [{ "type": "text", "text": "Hola Ana" }] }));

    // A broadcast: accepted with LINE's message id.
    let broadcast = draft(&app, &channel, &segment(&app, "ln").await, json!({})).await;
    send_now(&app, &broadcast).await;
    assert_eq!(wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await["sentCount"], 1);
    assert_ne!(mock.requests()[2].header("x-line-retry-key"), key, "each message has its own key");
}

fn uuid_like(key: &str) -> bool {
    let parts: Vec<&str> = key.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn line_fails_bad_requests_with_their_details() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| {
        Answer::json(
            400,
            json!({ "message": "The request body has 1 error(s)", "details": [{ "message": "May not be empty", "property": "messages[0].text" }] }),
        )
    })
    .await;
    let channel = line_channel(&app, &mock).await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": USER }] })).await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "x" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "HTTP_400");
    assert_eq!(failed["errorText"], "The request body has 1 error(s); messages[0].text: May not be empty");
    assert_eq!(failed["attempts"], 1);
}

#[tokio::test]
async fn line_webhooks_are_signed_open_the_window_and_unfollow_marks_unreachable() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| pushed("1")).await;
    let channel = line_channel(&app, &mock).await;
    assert_eq!(webhook(&app, &channel, "forged-secret", text_event(USER, "hola")).await, 401);
    assert_eq!(post_webhook(&app, &channel, &[], b"{\"events\": []}").await.0, 401);
    assert_eq!(app.ok("query { contacts(first: 1) { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);
    assert_eq!(webhook(&app, &channel, SECRET, text_event(USER, "hola")).await, 200);
    let contact =
        app.ok("query { contacts(first: 1) { nodes { id } } }", json!({})).await["contacts"]["nodes"][0]["id"]
            .as_str()
            .expect("the user became a contact")
            .to_owned();
    let (window, unreachable) = contact_channel_state(&app, &contact, &channel).await;
    assert!(window.is_some() && !unreachable);
    let unfollow = json!([{ "type": "unfollow", "mode": "active", "timestamp": chrono::Utc::now().timestamp_millis(),
        "source": { "type": "user", "userId": USER }, "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZS",
        "deliveryContext": { "isRedelivery": false } }]);
    assert_eq!(webhook(&app, &channel, SECRET, unfollow).await, 200);
    assert!(contact_channel_state(&app, &contact, &channel).await.1, "an unfollow marks the user unreachable");
    // Messaging API reference, "Follow event": "When the user has unblocked the LINE Official
    // Account" (follow.isUnblocked true). The user can be reached again.
    let unblocked = json!([{ "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "follow", "mode": "active",
        "timestamp": chrono::Utc::now().timestamp_millis(), "source": { "type": "user", "userId": USER },
        "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZT", "deliveryContext": { "isRedelivery": false },
        "follow": { "isUnblocked": true } }]);
    assert_eq!(webhook(&app, &channel, SECRET, unblocked).await, 200);
    assert!(!contact_channel_state(&app, &contact, &channel).await.1, "an unblock makes the user reachable");
    // A redelivered message event (same message, `isRedelivery: true`) is stored once.
    let mut again = text_event(USER, "hola");
    again[0]["deliveryContext"]["isRedelivery"] = json!(true);
    assert_eq!(webhook(&app, &channel, SECRET, again).await, 200);
    let incoming = super::messages_of_contact(&app, &contact).await;
    assert_eq!(incoming.iter().filter(|m| m["direction"] == "INCOMING").count(), 1, "{incoming:#?}");
}

/// A mock of LINE's retry-key memory: a key seen before gets 409 with the `sentMessages` of
/// the request first accepted with it, as LINE answers for 24 hours.
fn remembering_line() -> impl Fn(&super::Request, usize) -> Answer + Send + Sync + 'static {
    let seen = std::sync::Mutex::new(std::collections::HashMap::<String, String>::new());
    move |request, n| {
        let key = request.header("x-line-retry-key").to_owned();
        let mut seen = seen.lock().unwrap();
        match seen.get(&key) {
            Some(id) => Answer::json(
                409,
                json!({ "message": "The retry key is already accepted", "sentMessages": [{ "id": id }] }),
            ),
            None => {
                let id = format!("4612309668420{n:05}");
                seen.insert(key, id.clone());
                pushed(&id)
            }
        }
    }
}

#[tokio::test]
async fn two_databases_sharing_a_line_channel_never_share_a_retry_key() {
    let mock = ProviderMock::start(remembering_line()).await;
    let mut sent = Vec::new();
    // Two Pregón databases (production and a staging copy, say) on the same LINE channel: their
    // message ids are the same numbers for different messages.
    for _ in 0..2 {
        let app = TestApp::spawn().await;
        let channel = line_channel(&app, &mock).await;
        for i in 0..8 {
            let user = format!("U{:032x}", i + 1);
            app.contact(json!({ "firstName": format!("User {i}"), "tags": ["ln"],
                "identifiers": [{ "channelId": channel, "identifier": user }] }))
                .await;
        }
        let broadcast = draft(&app, &channel, &segment(&app, "ln").await, json!({})).await;
        send_now(&app, &broadcast).await;
        let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
        assert_eq!(done["sentCount"], 8);
        sent.push(app);
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 16, "one request per message");
    let keys: std::collections::HashSet<&str> = requests.iter().map(|r| r.header("x-line-retry-key")).collect();
    assert_eq!(keys.len(), 16, "every message has its own retry key, across databases");
    assert!(keys.iter().all(|key| uuid_like(key)));
}
