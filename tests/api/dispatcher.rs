//! The dispatcher around broadcasts: scheduling and restarts, crash-resume, resends, the
//! progress stream, status webhooks and inbound messages, single sends and the messaging
//! window, the calendar, and workspace confinement.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::broadcasts::{
    assert_counts_match_rows, broadcast, custom_channel, draft, messages_of, provider_channel, segment, send_now,
    tagged_contacts, wait_done,
};
use crate::helpers::{TestApp, TestDatabase, error_code};
use crate::mock_provider::{MockProvider, Received, Reply};
use crate::subscriptions::{connect_as, next_json, send};

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("not a time: {value}")).parse().unwrap()
}

async fn webhook(app: &TestApp, channel: &str, secret: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(format!("{}/webhooks/{channel}", app.address)).json(&body);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_scheduled_broadcast_starts_on_time_and_one_due_during_downtime_starts_on_return() {
    let mut app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 2, "s", &channel).await;
    let segment = segment(&app, "s").await;
    let schedule = "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { status } }";

    let on_time = draft(&app, &channel, &segment, json!({})).await;
    let at = Utc::now() + chrono::Duration::milliseconds(1500);
    app.ok(schedule, json!({ "id": on_time, "at": at.to_rfc3339() })).await;
    let done = wait_done(&app, &on_time, Duration::from_secs(10)).await;
    let started = time(&done["deliveryTime"]);
    assert!(started >= at && started - at < chrono::Duration::seconds(1), "started {started}, due {at}");

    // Due while the server is down: it starts when the server is back.
    let missed = draft(&app, &channel, &segment, json!({})).await;
    let at = Utc::now() + chrono::Duration::milliseconds(500);
    app.ok(schedule, json!({ "id": missed, "at": at.to_rfc3339() })).await;
    app.restart(Duration::from_millis(1500)).await;
    let done = wait_done(&app, &missed, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert!(time(&done["deliveryTime"]) > at + chrono::Duration::milliseconds(900));
    assert_eq!(mock.received().len(), 4);
}

#[tokio::test]
async fn a_message_left_sending_by_a_crash_is_resent_with_the_same_idempotency_key() {
    let db = TestDatabase::create().await;
    // The provider swallows the first attempt at one recipient and never answers it.
    let mock = MockProvider::scripted(|request: &Received| {
        if request.body["to"] == "crash-3" && request.repeat == 0 { Reply::Hang } else { Reply::Accept }
    })
    .await;
    let start = || {
        let mut command = crate::binary::pregon(&db);
        command.env("PREGON_DISPATCH_LEASE_SECS", "1").env("PREGON_DISPATCH_POLL_MS", "50").env("PREGON_LOG", "error");
        command.spawn().unwrap()
    };
    let mut child = start();
    let (token, endpoint) = crate::binary::read_banner(&mut child).await;
    let token = token.unwrap();
    let client = reqwest::Client::new();
    let gql = |endpoint: String, query: &'static str, variables: Value| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let body: Value = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body.get("errors").is_none(), "{body:#}");
            body["data"].clone()
        }
    };
    let channel = gql(
        endpoint.clone(),
        "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
        json!({ "input": { "name": "Custom", "kind": "CUSTOM", "baseUrl": mock.url, "credentials": { "secret": "s3cret" } } }),
    )
    .await["createChannel"]["id"]
        .clone();
    for i in 0..6 {
        gql(
            endpoint.clone(),
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": format!("C{i}"), "tags": ["crash"], "identifiers": [{ "channelId": channel, "identifier": format!("crash-{i}") }] } }),
        )
        .await;
    }
    let segment = gql(
        endpoint.clone(),
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
        json!({ "input": { "name": "Crash", "filter": { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["crash"] } } } }),
    )
    .await["createSegment"]["id"]
        .clone();
    let id = gql(
        endpoint.clone(),
        "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
        json!({ "input": { "name": "Crash", "channelId": channel, "segmentId": segment, "content": { "text": "Hola" } } }),
    )
    .await["createBroadcast"]["id"]
        .clone();
    gql(endpoint.clone(), "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id })).await;

    // Once the provider holds the message, the process dies without a chance to record it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !mock.received().iter().any(|r| r.body["to"] == "crash-3") {
        assert!(std::time::Instant::now() < deadline, "the provider never saw crash-3");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let mut child = start();
    let (_, endpoint) = crate::binary::read_banner(&mut child).await;
    let query = "query($id: ID!) { broadcast(id: $id) { status totalMessages sentCount completedRecipients } }";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let current = gql(endpoint.clone(), query, json!({ "id": id })).await["broadcast"].clone();
        if current["status"] == "COMPLETED" {
            break current;
        }
        assert!(std::time::Instant::now() < deadline, "not completed after the restart: {current:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["sentCount"], 6, "{done:#}");
    assert_eq!(done["completedRecipients"], 6);
    // One logical message per recipient at the provider; the held one came twice, same key.
    assert_eq!(mock.logical_messages(), 6);
    let crashed: Vec<Received> = mock.received().into_iter().filter(|r| r.body["to"] == "crash-3").collect();
    assert_eq!(crashed.len(), 2);
    assert_eq!(crashed[0].idempotency_key, crashed[1].idempotency_key);
    let _ = child.start_kill();
}

#[tokio::test]
async fn resend_goes_to_exactly_the_failed_recipients_optionally_by_error_code() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::scripted(|request: &Received| match request.body["to"].as_str().unwrap_or_default() {
        "r-0" => Reply::Error {
            status: 403,
            code: "blocked".into(),
            message: "The user blocked you".into(),
            retry_after: None,
        },
        "r-1" => {
            Reply::Error { status: 400, code: "invalid".into(), message: "No such user".into(), retry_after: None }
        }
        _ => Reply::Accept,
    })
    .await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let contacts = tagged_contacts(&app, 5, "r", &channel).await;
    let segment = segment(&app, "r").await;
    let original = draft(&app, &channel, &segment, json!({})).await;
    let resend = "mutation($id: ID!, $codes: [String!]!, $now: Boolean!) { resendBroadcast(id: $id, onlyFailed: true, errorCodes: $codes, sendNow: $now) { id status targetRecipients resendOf { id } } }";
    // Only a completed broadcast can be resent.
    let body = app.gql(resend, json!({ "id": original, "codes": [], "now": false })).await;
    assert_eq!(error_code(&body), "CONFLICT");
    send_now(&app, &original).await;
    let done = wait_done(&app, &original, Duration::from_secs(10)).await;
    assert_eq!((done["sentCount"].as_i64(), done["failedCount"].as_i64()), (Some(3), Some(2)));

    // The provider recovers; the "blocked" failure alone is resent at once.
    mock.set_script(|_: &Received| Reply::Accept);
    let created =
        app.ok(resend, json!({ "id": original, "codes": ["blocked"], "now": true })).await["resendBroadcast"].clone();
    assert_eq!(created["resendOf"]["id"], original.as_str());
    assert_eq!(created["targetRecipients"], 1);
    let first = created["id"].as_str().unwrap().to_owned();
    let done = wait_done(&app, &first, Duration::from_secs(10)).await;
    assert_eq!((done["totalMessages"].as_i64(), done["sentCount"].as_i64()), (Some(1), Some(1)));
    let recipients: Vec<Value> = messages_of(&app, &first).await.iter().map(|m| m["contact"]["id"].clone()).collect();
    assert_eq!(recipients, [json!(contacts[0])]);

    // Every failed recipient, as a draft sent later.
    let created = app.ok(resend, json!({ "id": original, "codes": [], "now": false })).await["resendBroadcast"].clone();
    assert_eq!((created["status"].as_str(), created["targetRecipients"].as_i64()), (Some("DRAFT"), Some(2)));
    let second = created["id"].as_str().unwrap().to_owned();
    send_now(&app, &second).await;
    let done = wait_done(&app, &second, Duration::from_secs(10)).await;
    assert_eq!(done["sentCount"], 2);
    let mut to: Vec<String> =
        mock.received().iter().skip(5).map(|r| r.body["to"].as_str().unwrap().to_owned()).collect();
    to.sort();
    assert_eq!(to, ["r-0", "r-0", "r-1"]);

    // Nothing failed in a broadcast that fully succeeded: nobody to resend to.
    let body = app.gql(resend, json!({ "id": second, "codes": [], "now": false })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn broadcast_progress_streams_from_a_snapshot_to_the_final_event_and_completes() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, Some(20), None).await;
    tagged_contacts(&app, 30, "p", &channel).await;
    let segment = segment(&app, "p").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    let mut socket = connect_as(&app, "graphql-transport-ws", &app.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { broadcastId status total processed sent failed currentRate estimatedCompletionAt } }",
            "variables": { "id": id } } }),
    )
    .await;
    let first = next_json(&mut socket).await.unwrap();
    assert_eq!(first["payload"]["data"]["broadcastProgress"]["status"], "DRAFT", "{first:#}");
    let started = std::time::Instant::now();
    send_now(&app, &id).await;
    let mut events = Vec::new();
    loop {
        let message = next_json(&mut socket).await.expect("the stream continues until it completes");
        if message["type"] == "complete" {
            break;
        }
        assert_eq!(message["type"], "next", "{message:#}");
        events.push(message["payload"]["data"]["broadcastProgress"].clone());
    }
    let elapsed = started.elapsed();
    let last = events.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(
        (last["processed"].as_i64(), last["sent"].as_i64(), last["total"].as_i64()),
        (Some(30), Some(30), Some(30))
    );
    assert!(events.iter().any(|e| e["status"] == "RUNNING" && e["processed"].as_i64() < Some(30)), "{events:#?}");
    let processed: Vec<i64> = events.iter().filter_map(|e| e["processed"].as_i64()).collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {processed:?}");
    // At most ten updates a second.
    let allowed = (elapsed.as_secs_f64() * 10.0).ceil() as usize + 2;
    assert!(events.len() <= allowed, "{} events in {elapsed:?}", events.len());
    assert!(events.iter().any(|e| e["currentRate"].as_f64().is_some_and(|r| r > 5.0)), "{events:#?}");
}

#[tokio::test]
async fn status_webhooks_move_messages_forward_only_and_inbound_messages_count_as_replies() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let contacts = tagged_contacts(&app, 2, "w", &channel).await;
    let segment = segment(&app, "w").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    wait_done(&app, &id, Duration::from_secs(10)).await;
    let messages = messages_of(&app, &id).await;
    let message_of = |contact: &str| {
        messages.iter().find(|m| m["contact"]["id"] == contact).unwrap()["id"].as_str().unwrap().to_owned()
    };
    let (m0, m1) = (message_of(&contacts[0]), message_of(&contacts[1]));

    // A forged or missing secret changes nothing.
    let delivered = json!({ "statuses": [{ "messageId": m0, "status": "DELIVERED" }] });
    assert_eq!(webhook(&app, &channel, Some("wrong"), delivered.clone()).await.0, 401);
    assert_eq!(webhook(&app, &channel, None, delivered.clone()).await.0, 401);
    assert_eq!(broadcast(&app, &id).await["deliveredCount"], 0);

    let (status, body) = webhook(&app, &channel, Some("s3cret"), delivered.clone()).await;
    assert_eq!((status, body["statuses"].as_i64()), (200, Some(1)));
    webhook(
        &app,
        &channel,
        Some("s3cret"),
        json!({ "statuses": [{ "providerMessageId": format!("prov-{m0}"), "status": "READ" }] }),
    )
    .await;
    // A late "delivered" after "read" is ignored.
    webhook(&app, &channel, Some("s3cret"), delivered).await;
    webhook(
        &app,
        &channel,
        Some("s3cret"),
        json!({ "statuses": [{ "messageId": m1, "status": "FAILED", "error": { "code": 131026, "message": "Undeliverable" } }] }),
    )
    .await;
    // A status for a message Pregón does not know is acknowledged.
    let (status, body) =
        webhook(&app, &channel, Some("s3cret"), json!({ "statuses": [{ "messageId": "999999", "status": "READ" }] }))
            .await;
    assert_eq!((status, body["unknownMessages"].as_i64()), (200, Some(1)));
    // Malformed callbacks are refused with a reason.
    let (status, _) =
        webhook(&app, &channel, Some("s3cret"), json!({ "statuses": [{ "messageId": m0, "status": "SEEN" }] })).await;
    assert_eq!(status, 400);

    let shown = app
        .ok("query($id: ID!) { message(id: $id) { status sentAt deliveredAt readAt } }", json!({ "id": m0 }))
        .await["message"]
        .clone();
    assert_eq!(shown["status"], "READ");
    assert!(shown["deliveredAt"].is_string() && shown["readAt"].is_string());
    let failed =
        app.ok("query($id: ID!) { message(id: $id) { status errorCode errorText } }", json!({ "id": m1 })).await;
    assert_eq!(failed["message"], json!({ "status": "FAILED", "errorCode": "131026", "errorText": "Undeliverable" }));

    // The first contact answers: its window opens, the channel becomes its last, and the
    // broadcast counts a reply. A stranger writing becomes a contact.
    let (status, body) = webhook(
        &app,
        &channel,
        Some("s3cret"),
        json!({ "messages": [{ "from": "w-0", "text": "Gracias", "id": "in-1" }, { "from": "stranger-1", "text": "Hola" }] }),
    )
    .await;
    assert_eq!((status, body["messages"].as_i64()), (200, Some(2)));
    let contact = app
        .ok(
            "query($id: ID!) { contact(id: $id) { lastInteractionAt lastInteractedChannel { id } identifiers { lastIncomingAt messagingWindowEndsAt } } }",
            json!({ "id": contacts[0] }),
        )
        .await["contact"]
        .clone();
    assert!(contact["lastInteractionAt"].is_string());
    assert_eq!(contact["lastInteractedChannel"]["id"], channel.as_str());
    assert!(contact["identifiers"][0]["lastIncomingAt"].is_string());
    let done = broadcast(&app, &id).await;
    assert_eq!(
        (
            done["sentCount"].as_i64(),
            done["deliveredCount"].as_i64(),
            done["readCount"].as_i64(),
            done["failedCount"].as_i64(),
            done["repliedCount"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(1), Some(1))
    );
    assert_counts_match_rows(&app, &id).await;
    let stranger = app.ok("{ contacts(search: \"\") { totalCount } }", json!({})).await;
    assert_eq!(stranger["contacts"]["totalCount"], 3);
    let incoming = app.ok("{ messages(direction: INCOMING) { totalCount } }", json!({})).await;
    assert_eq!(incoming["messages"]["totalCount"], 2);
}

#[tokio::test]
async fn single_messages_go_through_the_dispatcher_and_respect_the_messaging_window() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let contact = tagged_contacts(&app, 1, "one", &channel).await.remove(0);
    let send_message = "mutation($contact: ID!, $channel: ID!, $content: MessageContentInput!) { sendMessage(contactId: $contact, channelId: $channel, content: $content) { id status source errorCode errorText } }";
    let mut socket = connect_as(&app, "graphql-transport-ws", &app.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($contact: ID!) { messageStatusChanged(contactId: $contact) { messageId status contactId } }",
            "variables": { "contact": contact } } }),
    )
    .await;
    // Send until the subscriber (registered asynchronously) sees a SENT.
    let mut seen = None;
    for _ in 0..20 {
        let sent = app
            .ok(
                send_message,
                json!({ "contact": contact, "channel": channel, "content": { "text": "Tu pedido salió" } }),
            )
            .await;
        assert_eq!(sent["sendMessage"]["source"], "API");
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(500), next_json(&mut socket)).await {
            seen = Some(event);
            break;
        }
    }
    let event = seen.expect("a messageStatusChanged event");
    assert_eq!(event["payload"]["data"]["messageStatusChanged"]["status"], "SENT", "{event:#}");
    assert_eq!(event["payload"]["data"]["messageStatusChanged"]["contactId"], contact.as_str());
    let request = &mock.received()[0];
    assert_eq!(request.body["text"], "Tu pedido salió");
    assert_eq!(request.body["contactId"], contact.as_str());
    assert!(request.body["broadcastId"].is_null());

    // A WhatsApp contact who never wrote is outside the 24-hour window: a plain message fails
    // at once with that reason.
    let whatsapp = provider_channel(&app, "WHATSAPP_CLOUD").await;
    let silent = app.contact(json!({ "firstName": "Silent", "phone": "+593991112233" })).await;
    let failed =
        app.ok(send_message, json!({ "contact": silent, "channel": whatsapp, "content": { "text": "Hola" } })).await;
    assert_eq!(failed["sendMessage"]["status"], "FAILED");
    assert_eq!(failed["sendMessage"]["errorCode"], "OUTSIDE_MESSAGING_WINDOW");
    assert!(failed["sendMessage"]["errorText"].as_str().unwrap().contains("24 hours"));
    // No identifier on the channel: a clear error.
    let unknown = app.contact(json!({ "firstName": "Nowhere", "email": "n@example.com" })).await;
    let body =
        app.gql(send_message, json!({ "contact": unknown, "channel": channel, "content": { "text": "x" } })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn last_interacted_channel_broadcasts_fail_contacts_outside_their_channels_window() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let whatsapp = provider_channel(&app, "WHATSAPP_CLOUD").await;
    // One contact wrote on the custom channel; another last wrote on WhatsApp two days ago.
    let recent = tagged_contacts(&app, 1, "last", &channel).await.remove(0);
    webhook(&app, &channel, Some("s3cret"), json!({ "messages": [{ "from": "last-0", "text": "hola" }] })).await;
    let stale = app
        .contact(json!({ "firstName": "Stale", "tags": ["last"], "identifiers": [{ "channelId": whatsapp, "identifier": "+593991112244" }] }))
        .await;
    let two_days_ago = (Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d %H:%M:%S").to_string();
    let backend = app.app.db.get_database_backend();
    for sql in [
        format!(
            "UPDATE contacts SET last_interacted_channel_id = {whatsapp}, last_interaction_at = '{two_days_ago}+00:00' WHERE id = {stale}"
        ),
        format!("UPDATE contact_channels SET last_incoming_at = '{two_days_ago}+00:00' WHERE contact_id = {stale}"),
    ] {
        app.app.db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();
    }
    let segment = segment(&app, "last").await;
    let input = json!({ "name": "Last", "useLastInteractedChannel": true, "segmentId": segment, "content": { "text": "Hola" } });
    let id = app
        .ok(
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await["createBroadcast"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(
        (done["totalMessages"].as_i64(), done["sentCount"].as_i64(), done["failedCount"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    let messages = messages_of(&app, &id).await;
    let of = |contact: &str| messages.iter().find(|m| m["contact"]["id"] == contact).unwrap().clone();
    assert_eq!(of(&recent)["status"], "SENT");
    assert_eq!(of(&stale)["status"], "FAILED");
    assert_eq!(of(&stale)["errorCode"], "OUTSIDE_MESSAGING_WINDOW");
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn the_calendar_places_broadcasts_on_the_workspaces_days_and_the_table_filters_them() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "c", &channel).await;
    let segment = segment(&app, "c").await;
    app.ok(r#"mutation { updateWorkspace(input: { timeZone: "America/Guayaquil" }) { timeZone } }"#, json!({})).await;
    let tz: chrono_tz::Tz = "America/Guayaquil".parse().unwrap();
    let plain = draft(&app, &channel, &segment, json!({ "name": "Draft" })).await;
    // 03:30 UTC, two days ahead, is the evening before in Guayaquil (UTC−5).
    let day = (Utc::now() + chrono::Duration::days(2)).date_naive();
    let at = day.and_hms_opt(3, 30, 0).unwrap().and_utc();
    let scheduled = draft(&app, &channel, &segment, json!({ "name": "Later" })).await;
    app.ok(
        "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { id } }",
        json!({ "id": scheduled, "at": at.to_rfc3339() }),
    )
    .await;
    let calendar = "query($month: String!) { broadcastCalendar(month: $month) { date broadcasts { id name } } }";
    let mut found = std::collections::HashMap::new();
    for when in [Utc::now(), at] {
        let month = when.with_timezone(&tz).format("%Y-%m").to_string();
        for entry in app.ok(calendar, json!({ "month": month })).await["broadcastCalendar"].as_array().unwrap() {
            for b in entry["broadcasts"].as_array().unwrap() {
                found.insert(b["id"].as_str().unwrap().to_owned(), entry["date"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        found[&plain],
        Utc::now().with_timezone(&tz).date_naive().to_string(),
        "a draft shows on its creation day"
    );
    assert_eq!(found[&scheduled], at.with_timezone(&tz).date_naive().to_string());
    let body = app.gql(calendar, json!({ "month": "2026-13" })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let list = "query($status: BroadcastStatus, $from: DateTime) { broadcasts(status: $status, from: $from) { totalCount nodes { id } } }";
    let only_scheduled = app.ok(list, json!({ "status": "SCHEDULED" })).await;
    assert_eq!(only_scheduled["broadcasts"]["nodes"], json!([{ "id": scheduled }]));
    let later = app.ok(list, json!({ "from": (Utc::now() + chrono::Duration::days(1)).to_rfc3339() })).await;
    assert_eq!(later["broadcasts"]["totalCount"], 1);
    let all = app.ok(list, json!({})).await;
    assert_eq!(all["broadcasts"]["totalCount"], 2);
}

#[tokio::test]
async fn another_workspace_can_neither_see_nor_act_on_a_broadcast() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "t", &channel).await;
    let segment = segment(&app, "t").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    let (_, other) = app.other_workspace().await;
    let read = app.gql_as(Some(&other), "query($id: ID!) { broadcast(id: $id) { id } }", json!({ "id": id })).await;
    assert!(read["data"]["broadcast"].is_null());
    for mutation in [
        "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }",
        "mutation($id: ID!) { deleteBroadcast(id: $id) }",
        "mutation($id: ID!) { cancelBroadcast(id: $id) { id } }",
    ] {
        let body = app.gql_as(Some(&other), mutation, json!({ "id": id })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}: {body:#}");
    }
    // Its own broadcasts cannot target this workspace's channel or segment.
    let input = json!({ "name": "x", "channelId": channel, "segmentId": segment, "content": { "text": "x" } });
    let body = app
        .gql_as(
            Some(&other),
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert!(matches!(error_code(&body), "BAD_USER_INPUT" | "NOT_FOUND"), "{body:#}");
    let mut socket = connect_as(&app, "graphql-transport-ws", &other).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { status } }", "variables": { "id": id } } }),
    )
    .await;
    let answer = next_json(&mut socket).await.unwrap();
    assert!(answer["payload"]["data"].is_null(), "{answer:#}");
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let messages = app
        .gql_as(Some(&other), "query($id: ID!) { messages(broadcastId: $id) { totalCount } }", json!({ "id": id }))
        .await;
    assert_eq!(messages["data"]["messages"]["totalCount"], 0);
}

#[tokio::test]
async fn deleting_a_user_keeps_their_messages_without_a_sender() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    let contact = tagged_contacts(&app, 1, "u", &channel).await.remove(0);
    let manager = app.token_for(crate::helpers::Role::Manager).await;
    let viewer = app.gql_as(Some(&manager), "{ viewer { user { id } } }", json!({})).await;
    let user = viewer["data"]["viewer"]["user"]["id"].as_str().unwrap().to_owned();
    let sent = app
        .gql_as(
            Some(&manager),
            "mutation($contact: ID!, $channel: ID!) { sendMessage(contactId: $contact, channelId: $channel, content: { text: \"Hola\" }, source: USER) { id source sentBy { id } } }",
            json!({ "contact": contact, "channel": channel }),
        )
        .await;
    let message = sent["data"]["sendMessage"].clone();
    assert_eq!(
        (message["source"].as_str(), message["sentBy"]["id"].as_str()),
        (Some("USER"), Some(user.as_str())),
        "{sent:#}"
    );
    app.ok("mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": user })).await;
    let after =
        app.ok("query($id: ID!) { message(id: $id) { id sentBy { id } } }", json!({ "id": message["id"] })).await;
    assert_eq!(after["message"]["id"], message["id"]);
    assert!(after["message"]["sentBy"].is_null());
}

#[tokio::test]
async fn a_broadcast_whose_channel_is_deleted_before_it_starts_fails_with_that_reason() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "gone", &channel).await;
    let segment = segment(&app, "gone").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    let at = (Utc::now() + chrono::Duration::milliseconds(500)).to_rfc3339();
    app.ok(
        "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { id } }",
        json!({ "id": id, "at": at }),
    )
    .await;
    app.ok("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": channel })).await;
    let failed = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(failed["failureReason"]["code"], "BROADCAST_CHANNEL_UNAVAILABLE", "{failed:#}");
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn stopping_the_server_hands_claimed_messages_back_and_a_restart_finishes_the_broadcast() {
    let mut app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    // Two messages a second: most of the batch is still waiting for the limiter at the stop.
    let channel = custom_channel(&app, &mock, Some(2), None).await;
    tagged_contacts(&app, 6, "drain", &channel).await;
    let segment = segment(&app, "drain").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while mock.received().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop_and_wait().await;
    let sending = app
        .sql_row(format!("SELECT COUNT(*) AS n FROM messages WHERE broadcast_id = {id} AND status = 'SENDING'"))
        .await
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(sending, 0, "claimed messages are handed back on a graceful stop");
    let sent_before_restart = mock.received().len();
    assert!(sent_before_restart < 6, "the stop came before the end");
    app.restart(Duration::ZERO).await;
    let done = wait_done(&app, &id, Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 6);
    assert_eq!(mock.logical_messages(), 6);
    assert_eq!(mock.received().len(), 6, "nothing was sent twice");
}
