//! The return path on the custom channel: redelivered callbacks, statuses that overtake the
//! provider's answer to the send, statuses naming an incoming message, replies from contacts
//! Pregón already knows by phone, and concurrent callbacks.
//!
//! The custom channel's callback format is Pregón's own (README, "Custom channel"):
//! `{"statuses": [{"messageId" | "providerMessageId", "status", "error"}], "messages": [{"from",
//! "text", "id", "timestamp"}]}` with the channel's secret as a bearer token.

use std::time::Duration;

use serde_json::{Value, json};

use crate::broadcasts::{
    assert_counts_match_rows, broadcast, custom_channel, draft, messages_of, segment, send_now, tagged_contacts,
    wait_done,
};
use crate::helpers::TestApp;
use crate::mock_provider::{MockProvider, Reply};

/// Posts a callback to a custom channel with its secret; the status and the JSON answer.
async fn callback(app: &TestApp, channel: &str, body: Value) -> (u16, Value) {
    callback_as(app, channel, "s3cret", body).await
}

/// Posts a callback with `secret` as the bearer token.
async fn callback_as(app: &TestApp, channel: &str, secret: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/webhooks/{channel}", app.address))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn count(app: &TestApp, sql: String) -> i64 {
    app.sql_row(sql).await.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn a_redelivered_inbound_message_is_stored_once_and_counts_one_reply() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "r", &channel).await;
    let id = draft(&app, &channel, &segment(&app, "r").await, json!({})).await;
    send_now(&app, &id).await;
    wait_done(&app, &id, Duration::from_secs(10)).await;

    let reply = json!({ "from": "r-0", "text": "Gracias", "id": "in-42" });
    let (status, first) = callback(&app, &channel, json!({ "messages": [reply] })).await;
    assert_eq!((status, first["messages"].as_i64()), (200, Some(1)));
    // The same message again, alone and twice in one request (a provider retrying a timeout).
    let (status, again) = callback(&app, &channel, json!({ "messages": [reply] })).await;
    assert_eq!((status, again["messages"].as_i64(), again["duplicateMessages"].as_i64()), (200, Some(0), Some(1)));
    let (_, twice) = callback(&app, &channel, json!({ "messages": [reply, reply] })).await;
    assert_eq!(twice["duplicateMessages"], 2);
    let stored = count(
        &app,
        format!("SELECT COUNT(*) AS n FROM messages WHERE direction = 'INCOMING' AND channel_id = {channel}"),
    )
    .await;
    assert_eq!(stored, 1);
    assert_eq!(broadcast(&app, &id).await["repliedCount"], 1);
    // Another id from the same contact is another message.
    let (_, other) =
        callback(&app, &channel, json!({ "messages": [{ "from": "r-0", "text": "?", "id": "in-43" }] })).await;
    assert_eq!(other["messages"], 1);
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn a_status_naming_an_incoming_message_moves_nothing() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    callback(&app, &channel, json!({ "messages": [{ "from": "walk-in", "text": "hola", "id": "in-7" }] })).await;
    let incoming = app.sql_row("SELECT id FROM messages WHERE provider_message_id = 'in-7'").await;
    let incoming_id = incoming.try_get::<i64>("", "id").unwrap();
    let (status, answer) = callback(
        &app,
        &channel,
        json!({ "statuses": [
            { "providerMessageId": "in-7", "status": "FAILED", "error": { "code": "X", "message": "no" } },
            { "messageId": incoming_id.to_string(), "status": "READ" },
        ] }),
    )
    .await;
    assert_eq!((status, answer["unknownMessages"].as_i64()), (200, Some(2)));
    let row = app.sql_row(format!("SELECT status, error_code FROM messages WHERE id = {incoming_id}")).await;
    assert_eq!(row.try_get::<String>("", "status").unwrap(), "DELIVERED");
    assert_eq!(row.try_get::<Option<String>>("", "error_code").unwrap(), None);
}

#[tokio::test]
async fn statuses_that_arrive_before_the_providers_answer_are_kept() {
    let app = TestApp::spawn().await;
    // The provider takes a second to answer the send, and calls back at once.
    let mock = MockProvider::scripted(|_| Reply::AcceptAfter(Duration::from_millis(1500))).await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 2, "e", &channel).await;
    let id = draft(&app, &channel, &segment(&app, "e").await, json!({})).await;
    send_now(&app, &id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while mock.count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the sends never reached the provider");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages = messages_of(&app, &id).await;
    assert!(messages.iter().all(|m| m["status"] == "SENDING"), "{messages:#?}");
    let (first, second) = (messages[0]["id"].as_str().unwrap(), messages[1]["id"].as_str().unwrap());
    // The first is named by the provider's id, which Pregón does not know yet: held.
    let (status, answer) = callback(
        &app,
        &channel,
        json!({ "statuses": [{ "providerMessageId": format!("prov-{first}"), "status": "DELIVERED" }] }),
    )
    .await;
    assert_eq!((status, answer["heldStatuses"].as_i64()), (200, Some(1)));
    // The second is named by our id: READ at once, before the send's answer.
    let (_, answer) =
        callback(&app, &channel, json!({ "statuses": [{ "messageId": second, "status": "READ" }] })).await;
    assert_eq!(answer["unknownMessages"], 0);

    wait_done(&app, &id, Duration::from_secs(10)).await;
    // The held status is applied right after the acceptance that names its message commits,
    // in the next transaction: the broadcast may show COMPLETED a moment before it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let done = loop {
        let done = broadcast(&app, &id).await;
        if done["deliveredCount"] == 2 || std::time::Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((done["deliveredCount"].as_i64(), done["readCount"].as_i64()), (Some(2), Some(1)), "{done:#}");
    let shown = |id: &str| format!("SELECT status, provider_message_id FROM messages WHERE id = {id}");
    let row = app.sql_row(shown(first)).await;
    assert_eq!(row.try_get::<String>("", "status").unwrap(), "DELIVERED");
    let row = app.sql_row(shown(second)).await;
    assert_eq!(row.try_get::<String>("", "status").unwrap(), "READ");
    // The late answer still recorded the provider's id, so later statuses find the message.
    assert_eq!(row.try_get::<Option<String>>("", "provider_message_id").unwrap(), Some(format!("prov-{second}")));
    let held = count(&app, "SELECT COUNT(*) AS n FROM early_statuses".into()).await;
    assert_eq!(held, 0, "the held status was claimed");
    let (_, answer) = callback(
        &app,
        &channel,
        json!({ "statuses": [{ "providerMessageId": format!("prov-{first}"), "status": "READ" }] }),
    )
    .await;
    assert_eq!(answer["unknownMessages"], 0);
    assert_eq!(broadcast(&app, &id).await["readCount"], 2);
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn a_contact_known_by_phone_who_writes_on_a_custom_channel_is_linked_not_duplicated() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    // Imported with a phone only: the custom channel addresses it by that phone.
    let contact = app.contact(json!({ "firstName": "Lucía", "phone": "+593991234567", "tags": ["p"] })).await;
    let id = draft(&app, &channel, &segment(&app, "p").await, json!({})).await;
    send_now(&app, &id).await;
    wait_done(&app, &id, Duration::from_secs(10)).await;

    let (status, _) = callback(
        &app,
        &channel,
        json!({ "messages": [{ "from": "+593991234567", "text": "Sí, gracias", "id": "sms-1" }] }),
    )
    .await;
    assert_eq!(status, 200);
    let all = app.ok("query { contacts(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(all["contacts"]["totalCount"], 1);
    let shown = app
        .ok(
            "query($id: ID!) { contact(id: $id) { identifiers { identifier lastIncomingAt channel { id } } } }",
            json!({ "id": contact }),
        )
        .await;
    let identifiers = &shown["contact"]["identifiers"];
    assert_eq!(identifiers[0]["identifier"], "+593991234567", "{identifiers:#}");
    assert_eq!(identifiers[0]["channel"]["id"], channel.as_str());
    assert!(identifiers[0]["lastIncomingAt"].is_string());
    assert_eq!(broadcast(&app, &id).await["repliedCount"], 1, "the answer counts as a reply");
}

#[tokio::test]
async fn concurrent_callbacks_during_a_broadcast_never_fail() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let csv = crate::helpers::phone_contacts_csv(300, "Load", "+59398");
    app.ok(
        "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"load\"]) { created } }",
        json!({ "csv": csv }),
    )
    .await;
    let id = draft(&app, &channel, &segment(&app, "load").await, json!({})).await;
    send_now(&app, &id).await;
    // Four clients post inbound messages (walk-ins and replies) while the broadcast sends.
    let mut clients = Vec::new();
    for client in 0..4 {
        let url = format!("{}/webhooks/{channel}", app.address);
        let http = app.client.clone();
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..60 {
                let from =
                    if i % 2 == 0 { format!("+59398{:07}", client * 60 + i) } else { format!("walk-{client}-{i}") };
                let body = json!({ "messages": [{ "from": from, "text": "hola", "id": format!("c{client}-{i}") }] });
                let response = http.post(&url).bearer_auth("s3cret").json(&body).send().await.unwrap();
                if response.status() != 200 {
                    failures.push(response.status().as_u16());
                }
            }
            failures
        }));
    }
    for client in clients {
        let failures = client.await.unwrap();
        assert!(failures.is_empty(), "callbacks failed: {failures:?}");
    }
    wait_done(&app, &id, Duration::from_secs(30)).await;
    let stored = count(
        &app,
        format!("SELECT COUNT(*) AS n FROM messages WHERE direction = 'INCOMING' AND channel_id = {channel}"),
    )
    .await;
    assert_eq!(stored, 240);
    assert_counts_match_rows(&app, &id).await;
}

/// (kind, credentials, an identifier of a recipient) for the providers without a messaging
/// window, so that `sendMessage` goes out at once.
fn windowless_channels() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("CUSTOM", json!({ "secret": "s3cret" }), "x-1"),
        ("TELEGRAM", json!({ "botToken": "123:abc", "secretToken": "tg-secret" }), "412345678"),
        ("VIBER", json!({ "authToken": "445da6az1s345z78" }), "01234567890A="),
        ("LINE", json!({ "channelAccessToken": "t", "channelSecret": "s" }), "U4af4980629e4c4b2f3a1b4d5c6e7f809"),
        ("TWILIO_SMS", json!({ "accountSid": "AC123", "authToken": "tok", "from": "+15005550006" }), "+593991112233"),
    ]
}

#[tokio::test]
async fn no_provider_send_follows_a_redirect() {
    use crate::providers::{Answer, ProviderMock, send_message, wait_message};
    for (kind, credentials, identifier) in windowless_channels() {
        let app = TestApp::spawn().await;
        let mock = ProviderMock::start(|_, _| Answer::json(200, json!({}))).await;
        let elsewhere = format!("{}/elsewhere", mock.url);
        mock.set_script(move |_, _| Answer::json(302, json!({})).header("location", &elsewhere));
        let channel =
            app.channel(json!({ "name": kind, "kind": kind, "baseUrl": mock.url, "credentials": credentials })).await;
        let contact = app
            .contact(json!({ "firstName": "R", "identifiers": [{ "channelId": channel, "identifier": identifier }] }))
            .await;
        let id = send_message(&app, &contact, &channel, json!({ "text": "hola" })).await;
        let failed = wait_message(&app, &contact, &id, |m| m["status"] == "FAILED").await;
        assert_eq!(failed["errorCode"], "REDIRECT_REFUSED", "{kind}: {failed:#}");
        assert!(failed["errorText"].as_str().unwrap().contains("redirect"), "{kind}");
        let requests = mock.requests();
        assert_eq!(
            requests.len(),
            1,
            "{kind}: the redirect was not followed: {:?}",
            requests.iter().map(|r| &r.path).collect::<Vec<_>>()
        );
        assert_eq!(requests[0].method, "POST");
    }
}

#[tokio::test]
async fn a_2xx_answer_that_cannot_be_read_is_sent_once_and_never_again() {
    use crate::providers::{Answer, ProviderMock, send_message, wait_message};
    for (kind, credentials, identifier) in windowless_channels() {
        let app = TestApp::spawn().await;
        // A gateway in front of the provider answered for it: 200 with a page, not the API's JSON.
        let mock = ProviderMock::start(|_, _| Answer {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: "<html><body>OK</body></html>".into(),
        })
        .await;
        let channel =
            app.channel(json!({ "name": kind, "kind": kind, "baseUrl": mock.url, "credentials": credentials })).await;
        let contact = app
            .contact(json!({ "firstName": "R", "identifiers": [{ "channelId": channel, "identifier": identifier }] }))
            .await;
        let id = send_message(&app, &contact, &channel, json!({ "text": "hola" })).await;
        let sent = wait_message(&app, &contact, &id, |m| m["status"] != "QUEUED" && m["status"] != "SENDING").await;
        assert_eq!(sent["status"], "SENT", "{kind}: {sent:#}");
        // Longer than the retries' backoff in tests: nothing is sent again.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(mock.requests().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn a_rotated_secret_or_a_deleted_channel_takes_effect_on_the_next_callback() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let hello = json!({ "messages": [{ "from": "walk-in", "text": "hola" }] });
    assert_eq!(callback(&app, &channel, hello.clone()).await.0, 200);
    app.ok(
        "mutation($id: ID!) { updateChannel(id: $id, input: { credentials: { secret: \"n3w\" } }) { id } }",
        json!({ "id": channel }),
    )
    .await;
    assert_eq!(callback(&app, &channel, hello.clone()).await.0, 401, "the old secret no longer passes");
    app.ok("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": channel })).await;
    assert_eq!(callback_as(&app, &channel, "n3w", hello).await.0, 404, "a deleted channel takes no callbacks");
}

#[tokio::test]
async fn an_inbound_text_a_spreadsheet_would_run_is_neutralised_in_the_messages_export() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    // Anyone can write to a channel: the text is stored as sent, and exported harmless.
    let formula = "=cmd|' /C calc'!A0";
    callback(&app, &channel, json!({ "messages": [{ "from": "stranger", "text": formula, "id": "x-1" }] })).await;
    let export =
        app.ok("mutation { exportMessages(list: INCOMING, range: { preset: LAST_7_DAYS }) { url } }", json!({})).await;
    let url = format!("{}{}", app.address, export["exportMessages"]["url"].as_str().unwrap());
    let csv = app.client.get(url).bearer_auth(&app.token).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains(&format!("'{formula}")), "{csv}");
    let stored =
        app.sql_row("SELECT CAST(content AS TEXT) AS content FROM messages WHERE provider_message_id = 'x-1'").await;
    let content: String = stored.try_get("", "content").unwrap();
    assert!(content.contains(formula), "{content}");
    assert!(!content.contains(&format!("'{formula}")), "the stored text is unchanged: {content}");
}
