//! Telegram against a mock speaking the Bot API.

use serde_json::json;

use super::{
    Answer, ProviderMock, contact_channel_state, messages_of_contact, post_webhook, send_message, wait_message,
};
use crate::broadcasts::{draft, messages_of, segment, send_now, wait_done};
use crate::helpers::{TestApp, error_code};

const TOKEN: &str = "123456:ABC-DEF";
const SECRET: &str = "tg-webhook-secret";

fn sent(chat: i64, id: i64) -> Answer {
    Answer::json(
        200,
        json!({ "ok": true, "result": { "message_id": id, "date": 1_700_000_000,
            "chat": { "id": chat, "first_name": "Ana", "type": "private" },
            "from": { "id": 42, "is_bot": true, "first_name": "Pregon" }, "text": "…" } }),
    )
}

fn failure(code: u16, description: &str) -> Answer {
    Answer::json(code, json!({ "ok": false, "error_code": code, "description": description }))
}

async fn telegram_channel(app: &TestApp, mock: &ProviderMock) -> String {
    app.channel(json!({ "name": "Bot", "kind": "TELEGRAM", "baseUrl": mock.url,
        "credentials": { "botToken": TOKEN, "secretToken": SECRET } }))
        .await
}

async fn update(app: &TestApp, channel: &str, secret: Option<&str>, body: serde_json::Value) -> u16 {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(secret) = secret {
        headers.push(("x-telegram-bot-api-secret-token", secret));
    }
    post_webhook(app, channel, &headers, body.to_string().as_bytes()).await.0
}

fn text_update(chat: i64, text: &str) -> serde_json::Value {
    json!({ "update_id": 10000, "message": { "message_id": 7, "date": chrono::Utc::now().timestamp(),
        "from": { "id": chat, "is_bot": false, "first_name": "Ana" },
        "chat": { "id": chat, "first_name": "Ana", "type": "private" }, "text": text } })
}

#[tokio::test]
async fn telegram_sends_through_the_bot_api_and_sent_is_final() {
    let app = TestApp::spawn().await;
    let mock =
        ProviderMock::start(|request, n| sent(request.json()["chat_id"].as_i64().unwrap(), 100 + n as i64)).await;
    let channel = telegram_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "tags": ["tg"], "identifiers": [{ "channelId": channel, "identifier": "987654321" }] }))
        .await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "Hola Ana" })).await;
    let message = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(message["providerMessageId"], "987654321:100");
    let request = &mock.requests()[0];
    assert_eq!(request.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(request.json(), json!({ "chat_id": 987654321, "text": "Hola Ana" }));

    // A broadcast completes on SENT: Telegram reports nothing after it.
    let broadcast = draft(&app, &channel, &segment(&app, "tg").await, json!({})).await;
    send_now(&app, &broadcast).await;
    let done = wait_done(&app, &broadcast, std::time::Duration::from_secs(15)).await;
    assert_eq!((done["status"].as_str(), done["sentCount"].as_i64()), (Some("COMPLETED"), Some(1)));
    assert_eq!(messages_of(&app, &broadcast).await[0]["status"], "SENT");
    assert_eq!(mock.requests()[1].json()["text"], "Hola");
}

#[tokio::test]
async fn telegram_honours_retry_after_fails_errors_and_marks_blocking_users_unreachable() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, n| {
        if n == 0 {
            Answer::json(
                429,
                json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } }),
            )
        } else {
            sent(987654321, 5)
        }
    })
    .await;
    let channel = telegram_channel(&app, &mock).await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": channel, "identifier": "987654321" }] }))
        .await;
    let id = send_message(&app, &contact, &channel, json!({ "text": "uno" })).await;
    let message = wait_message(&app, &contact, &id, |m| m["status"] == "SENT").await;
    assert_eq!(message["attempts"], 2);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);

    mock.set_script(|_, _| failure(400, "Bad Request: chat not found"));
    let id = send_message(&app, &contact, &channel, json!({ "text": "dos" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(
        (failed["errorCode"].as_str(), failed["errorText"].as_str()),
        (Some("400"), Some("Bad Request: chat not found"))
    );
    assert!(!contact_channel_state(&app, &contact, &channel).await.1);

    // Blocked: failed, and the contact is unreachable on the bot until it writes again.
    mock.set_script(|_, _| failure(403, "Forbidden: bot was blocked by the user"));
    let id = send_message(&app, &contact, &channel, json!({ "text": "tres" })).await;
    let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
    assert_eq!(failed["errorCode"], "403");
    assert!(contact_channel_state(&app, &contact, &channel).await.1, "a user who blocked the bot is unreachable");
    let refused = app
        .gql(
            "mutation($c: ID!, $ch: ID!) { sendMessage(contactId: $c, channelId: $ch, content: { text: \"x\" }) { id } }",
            json!({ "c": contact, "ch": channel }),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert_eq!(update(&app, &channel, Some(SECRET), text_update(987654321, "volví")).await, 200);
    assert!(!contact_channel_state(&app, &contact, &channel).await.1, "writing again makes it reachable");
}

#[tokio::test]
async fn telegram_updates_need_the_secret_token_and_open_the_window() {
    let app = TestApp::spawn().await;
    let mock = ProviderMock::start(|_, _| sent(1, 1)).await;
    let channel = telegram_channel(&app, &mock).await;
    // Forged: no token, or the wrong one. Nothing is recorded.
    assert_eq!(update(&app, &channel, None, text_update(555000111, "hola")).await, 401);
    assert_eq!(update(&app, &channel, Some("guess"), text_update(555000111, "hola")).await, 401);
    let none = app.ok("query { contacts(first: 5) { totalCount } }", json!({})).await;
    assert_eq!(none["contacts"]["totalCount"], 0);
    // A stranger's message: a new contact, its window open, the message recorded.
    assert_eq!(update(&app, &channel, Some(SECRET), text_update(555000111, "hola")).await, 200);
    let contacts = app.ok("query { contacts(first: 5) { nodes { id } } }", json!({})).await;
    let contact = contacts["contacts"]["nodes"][0]["id"].as_str().expect("a new contact").to_owned();
    assert!(contact_channel_state(&app, &contact, &channel).await.0.is_some());
    assert_eq!(messages_of_contact(&app, &contact).await[0]["content"]["text"], "hola");
    // The user blocks the bot: Telegram says so with a my_chat_member update.
    let kicked = json!({ "update_id": 10001, "my_chat_member": { "chat": { "id": 555000111, "type": "private" },
        "from": { "id": 555000111, "is_bot": false, "first_name": "Ana" }, "date": 1_700_000_100,
        "old_chat_member": { "status": "member", "user": { "id": 42, "is_bot": true, "first_name": "Pregon" } },
        "new_chat_member": { "status": "kicked", "until_date": 0, "user": { "id": 42, "is_bot": true, "first_name": "Pregon" } } } });
    assert_eq!(update(&app, &channel, Some(SECRET), kicked.clone()).await, 200);
    assert!(contact_channel_state(&app, &contact, &channel).await.1);
    // And unblocks it: the same update with the statuses the other way round (Bot API,
    // ChatMemberUpdated; in private chats it comes only on block and unblock).
    let mut unblocked = kicked;
    unblocked["update_id"] = json!(10002);
    unblocked["my_chat_member"]["old_chat_member"]["status"] = json!("kicked");
    unblocked["my_chat_member"]["new_chat_member"] =
        json!({ "status": "member", "user": { "id": 42, "is_bot": true, "first_name": "Pregon" } });
    assert_eq!(update(&app, &channel, Some(SECRET), unblocked).await, 200);
    assert!(!contact_channel_state(&app, &contact, &channel).await.1, "an unblock makes the user reachable");
    // Telegram redelivers an update it got no 2xx for: the message is stored once.
    assert_eq!(update(&app, &channel, Some(SECRET), text_update(555000111, "hola")).await, 200);
    let incoming = messages_of_contact(&app, &contact).await;
    assert_eq!(incoming.iter().filter(|m| m["direction"] == "INCOMING").count(), 1, "{incoming:#?}");
}
