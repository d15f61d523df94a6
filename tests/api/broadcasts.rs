//! Broadcasts end to end: the life cycle and its illegal transitions, the up-front rules, the
//! seed's whole-broadcast failures, recipients (dedupe, malformed identifiers, the messaging
//! window), daily limits, retries, resends, the calendar and progress.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Role, TestApp, error_code, error_message};
use crate::mock_provider::{MockProvider, Received, Reply};

pub const BROADCAST_FIELDS: &str = "id name status targetRecipients completedRecipients excludedRecipients totalMessages \
    sentCount deliveredCount readCount failedCount repliedCount failureReason { code message } \
    deliveryTime scheduledAt resendOf { id }";

/// A CUSTOM channel posting to `mock`, with the secret `s3cret`.
pub async fn custom_channel(app: &TestApp, mock: &MockProvider, rate: Option<i64>, daily_limit: Option<i64>) -> String {
    let mut input = json!({
        "name": "Custom", "kind": "CUSTOM", "baseUrl": mock.url, "credentials": { "secret": "s3cret" },
    });
    if let Some(rate) = rate {
        input["rateLimit"] = json!({ "count": rate });
    }
    if let Some(limit) = daily_limit {
        input["dailyLimit"] = json!(limit);
    }
    app.channel(input).await
}

/// A provider channel with placeholder credentials, for tests that never send on it:
/// WHATSAPP_CLOUD, MESSENGER or INSTAGRAM.
pub async fn provider_channel(app: &TestApp, kind: &str) -> String {
    let credentials = match kind {
        "WHATSAPP_CLOUD" => json!({ "accessToken": "t", "phoneNumberId": "1", "appSecret": "s" }),
        _ => json!({ "pageAccessToken": "t", "appSecret": "s" }),
    };
    app.channel(json!({ "name": kind, "kind": kind, "credentials": credentials })).await
}

/// `count` contacts tagged `tag`, each with the identifier `<tag>-<i>` on `channel`.
pub async fn tagged_contacts(app: &TestApp, count: usize, tag: &str, channel: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        ids.push(
            app.contact(json!({
                "firstName": format!("{tag} {i}"),
                "tags": [tag],
                "identifiers": [{ "channelId": channel, "identifier": format!("{tag}-{i}") }],
            }))
            .await,
        );
    }
    ids
}

/// A segment of the contacts tagged `tag`.
pub async fn segment(app: &TestApp, tag: &str) -> String {
    let data = app
        .ok(
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": format!("Tagged {tag}"), "filter": {
                "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": [tag] } } } }),
        )
        .await;
    data["createSegment"]["id"].as_str().unwrap().to_owned()
}

/// A DRAFT broadcast; `extra` is merged into the input.
pub async fn draft(app: &TestApp, channel: &str, segment: &str, extra: Value) -> String {
    let mut input =
        json!({ "name": "Promo", "channelId": channel, "segmentId": segment, "content": { "text": "Hola" } });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            input.insert(key.clone(), value.clone());
        }
    }
    let body = app
        .gql(
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id status } }",
            json!({ "input": input }),
        )
        .await;
    assert!(body.get("errors").is_none(), "createBroadcast failed: {body:#}");
    assert_eq!(body["data"]["createBroadcast"]["status"], "DRAFT");
    body["data"]["createBroadcast"]["id"].as_str().unwrap().to_owned()
}

pub async fn send_now(app: &TestApp, id: &str) -> Value {
    app.ok("mutation($id: ID!) { sendBroadcastNow(id: $id) { id status } }", json!({ "id": id })).await
}

pub async fn broadcast(app: &TestApp, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ broadcast(id: $id) {{ {BROADCAST_FIELDS} }} }}");
    app.ok(&query, json!({ "id": id })).await["broadcast"].clone()
}

/// Polls until the broadcast is COMPLETED or FAILED.
pub async fn wait_done(app: &TestApp, id: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let current = broadcast(app, id).await;
        if current["status"] == "COMPLETED" || current["status"] == "FAILED" {
            return current;
        }
        assert!(std::time::Instant::now() < deadline, "broadcast {id} still {} after {within:?}", current["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The broadcast's messages (up to 100) as JSON.
pub async fn messages_of(app: &TestApp, id: &str) -> Vec<Value> {
    let data = app
        .ok(
            "query($id: ID!) { messages(broadcastId: $id, first: 100) { nodes { id status errorCode errorText address attempts contact { id } } } }",
            json!({ "id": id }),
        )
        .await;
    data["messages"]["nodes"].as_array().unwrap().clone()
}

/// Counts over the broadcast's rows, as the database has them.
pub async fn counts_from_rows(app: &TestApp, id: &str) -> Value {
    let row = app
        .sql_row(format!(
            "SELECT COUNT(*) AS total, \
             SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END) AS sent, \
             SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered, \
             SUM(CASE WHEN read_at IS NOT NULL THEN 1 ELSE 0 END) AS read, \
             SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed, \
             SUM(CASE WHEN replied_at IS NOT NULL THEN 1 ELSE 0 END) AS replied, \
             SUM(CASE WHEN status IN ('QUEUED', 'SENDING') THEN 0 ELSE 1 END) AS completed \
             FROM messages WHERE broadcast_id = {id}"
        ))
        .await;
    let get = |name: &str| row.try_get::<Option<i64>>("", name).unwrap().unwrap_or(0);
    json!({
        "totalMessages": get("total"), "sentCount": get("sent"), "deliveredCount": get("delivered"),
        "readCount": get("read"), "failedCount": get("failed"), "repliedCount": get("replied"),
        "completedRecipients": get("completed"),
    })
}

/// Asserts the broadcast's counters equal the counts over its message rows.
pub async fn assert_counts_match_rows(app: &TestApp, id: &str) {
    let shown = broadcast(app, id).await;
    let rows = counts_from_rows(app, id).await;
    for (key, value) in rows.as_object().unwrap() {
        assert_eq!(&shown[key], value, "{key} of broadcast {id}: shown {shown:#} rows {rows:#}");
    }
}

#[tokio::test]
async fn a_broadcast_goes_from_draft_to_completed_and_every_message_reaches_the_provider() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 5, "vip", &channel).await;
    let segment = segment(&app, "vip").await;
    let id = draft(&app, &channel, &segment, json!({ "label": "Black Friday" })).await;
    let sent = send_now(&app, &id).await;
    assert_eq!(sent["sendBroadcastNow"]["status"], "SCHEDULED");
    let done = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    assert_eq!(done["targetRecipients"], 5);
    assert_eq!(done["totalMessages"], 5);
    assert_eq!(done["sentCount"], 5);
    assert_eq!(done["completedRecipients"], 5);
    assert_eq!(done["failedCount"], 0);
    assert!(done["deliveryTime"].is_string());
    let received = mock.received();
    assert_eq!(received.len(), 5);
    let mut addresses: Vec<&str> = received.iter().map(|r| r.body["to"].as_str().unwrap()).collect();
    addresses.sort();
    assert_eq!(addresses, ["vip-0", "vip-1", "vip-2", "vip-3", "vip-4"]);
    for request in &received {
        assert_eq!(request.authorization, "Bearer s3cret");
        assert_eq!(request.body["text"], "Hola");
        assert_eq!(request.body["type"], "SESSION");
        assert_eq!(request.body["broadcastId"], id.as_str());
        assert_eq!(request.idempotency_key, request.body["messageId"].as_str().unwrap());
    }
    for message in messages_of(&app, &id).await {
        assert_eq!(message["status"], "SENT");
    }
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn illegal_transitions_answer_conflict_naming_the_current_status() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 2, "a", &channel).await;
    let segment = segment(&app, "a").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    let cancel = "mutation($id: ID!) { cancelBroadcast(id: $id) { status } }";
    let body = app.gql(cancel, json!({ "id": id })).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert!(error_message(&body).contains("DRAFT"), "{body:#}");

    // DRAFT → SCHEDULED → (cancel) DRAFT, and a scheduled one cannot be edited.
    let at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let schedule = "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { status scheduledAt targetRecipients } }";
    let scheduled = app.ok(schedule, json!({ "id": id, "at": at })).await;
    assert_eq!(scheduled["scheduleBroadcast"]["status"], "SCHEDULED");
    assert_eq!(scheduled["scheduleBroadcast"]["targetRecipients"], 2);
    let update =
        "mutation($id: ID!, $input: UpdateBroadcastInput!) { updateBroadcast(id: $id, input: $input) { name } }";
    let body = app.gql(update, json!({ "id": id, "input": { "name": "New" } })).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert!(error_message(&body).contains("SCHEDULED"), "{body:#}");
    let cancelled = app.ok(cancel, json!({ "id": id })).await;
    assert_eq!(cancelled["cancelBroadcast"]["status"], "DRAFT");
    let renamed = app.ok(update, json!({ "id": id, "input": { "name": "New" } })).await;
    assert_eq!(renamed["updateBroadcast"]["name"], "New");

    // A past time is refused; a completed broadcast can be neither changed, rescheduled,
    // cancelled nor deleted.
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let body = app.gql(schedule, json!({ "id": id, "at": past })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    send_now(&app, &id).await;
    assert_eq!(wait_done(&app, &id, Duration::from_secs(10)).await["status"], "COMPLETED");
    for (query, vars) in [
        (update, json!({ "id": id, "input": { "name": "x" } })),
        (schedule, json!({ "id": id, "at": at })),
        (cancel, json!({ "id": id })),
        ("mutation($id: ID!) { sendBroadcastNow(id: $id) { status } }", json!({ "id": id })),
        ("mutation($id: ID!) { deleteBroadcast(id: $id) }", json!({ "id": id })),
    ] {
        let body = app.gql(query, vars).await;
        assert_eq!(error_code(&body), "CONFLICT", "{query}: {body:#}");
        assert!(error_message(&body).contains("COMPLETED"), "{body:#}");
    }

    // A draft can be deleted.
    let other = draft(&app, &channel, &segment, json!({})).await;
    let deleted = app.ok("mutation($id: ID!) { deleteBroadcast(id: $id) }", json!({ "id": other })).await;
    assert_eq!(deleted["deleteBroadcast"], other.as_str());
    assert!(
        app.ok("query($id: ID!) { broadcast(id: $id) { id } }", json!({ "id": other })).await["broadcast"].is_null()
    );
}

#[tokio::test]
async fn broadcasts_the_channel_cannot_carry_are_rejected_up_front() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let custom = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "a", &custom).await;
    let segment = segment(&app, "a").await;
    let instagram = provider_channel(&app, "INSTAGRAM").await;
    let whatsapp = provider_channel(&app, "WHATSAPP_CLOUD").await;
    let messenger = provider_channel(&app, "MESSENGER").await;
    let create = "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }";
    for (channel, content, field) in [
        (&instagram, json!({ "text": "Hola" }), "channelId"),
        (&whatsapp, json!({ "text": "Hola" }), "content.template"),
        (&messenger, json!({ "text": "Hola" }), "content.messageTag"),
        (&messenger, json!({ "text": "Hola", "messageTag": "PROMOTION" }), "content.messageTag"),
        (&custom, json!({ "text": "   " }), "content"),
    ] {
        let input = json!({ "name": "x", "channelId": channel, "segmentId": segment, "content": content });
        let body = app.gql(create, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{content}: {body:#}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body:#}");
    }
    // Agents cannot create or send broadcasts.
    let agent = app.token_for(Role::Agent).await;
    let input = json!({ "name": "x", "channelId": custom, "segmentId": segment, "content": { "text": "Hola" } });
    let body = app.gql_as(Some(&agent), create, json!({ "input": input })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn a_broadcast_fails_with_the_seed_reason_when_its_segment_is_gone_empty_or_over_the_plan() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 3, "many", &channel).await;

    // The segment is deleted after scheduling.
    let gone = segment(&app, "many").await;
    let id = draft(&app, &channel, &gone, json!({})).await;
    let at = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    app.ok(
        "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { id } }",
        json!({ "id": id, "at": at }),
    )
    .await;
    app.ok("mutation($id: ID!) { deleteSegment(id: $id) }", json!({ "id": gone })).await;
    let failed = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["failureReason"]["code"], "BROADCAST_SEGMENT_NOT_FOUND");
    assert_eq!(failed["failureReason"]["message"], "Broadcast error: the target segment was not found.");
    let spanish = app
        .gql_with_headers(
            &[("accept-language", "es")],
            "query($id: ID!) { broadcast(id: $id) { failureReason { message } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        spanish["data"]["broadcast"]["failureReason"]["message"],
        "Error de difusión: no se encontró el segmento de destino."
    );

    // Nobody in the segment when it starts (it had members when scheduled).
    let empty = segment(&app, "fleeting").await;
    let member = app.contact(json!({ "firstName": "Solo", "tags": ["fleeting"] })).await;
    let id = draft(&app, &channel, &empty, json!({})).await;
    let at = (chrono::Utc::now() + chrono::Duration::milliseconds(500)).to_rfc3339();
    let scheduled = app
        .ok(
            "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { targetRecipients } }",
            json!({ "id": id, "at": at }),
        )
        .await;
    assert_eq!(scheduled["scheduleBroadcast"]["targetRecipients"], 1);
    app.ok("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": member })).await;
    let failed = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(failed["failureReason"]["code"], "BROADCAST_NO_CONTACTS");
    assert_eq!(failed["failureReason"]["message"], "Broadcast error: there are no contacts in the target segment.");

    // The plan allows 4 broadcast messages a month: 3 go, the next 3 would exceed it.
    app.app
        .db
        .execute_raw(Statement::from_string(
            app.app.db.get_database_backend(),
            format!("UPDATE workspaces SET monthly_broadcast_message_limit = 4 WHERE id = {}", app.workspace_id),
        ))
        .await
        .unwrap();
    let many = segment(&app, "many").await;
    let first = draft(&app, &channel, &many, json!({})).await;
    send_now(&app, &first).await;
    assert_eq!(wait_done(&app, &first, Duration::from_secs(10)).await["status"], "COMPLETED");
    let second = draft(&app, &channel, &many, json!({})).await;
    send_now(&app, &second).await;
    let failed = wait_done(&app, &second, Duration::from_secs(10)).await;
    assert_eq!(failed["failureReason"]["code"], "BROADCAST_PLAN_LIMIT_EXCEEDED");
    assert_eq!(failed["totalMessages"], 0);
    assert_eq!(mock.received().len(), 3);
}

#[tokio::test]
async fn duplicates_get_one_message_and_malformed_identifiers_are_excluded_and_counted() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    // Two contacts share a phone (duplicates): the custom channel addresses them by it.
    let first = app.contact(json!({ "firstName": "Ana", "phone": "+593991234567", "tags": ["dup"] })).await;
    app.contact(json!({ "firstName": "Ana B.", "phone": "+593991234567", "tags": ["dup"] })).await;
    app.contact(json!({ "firstName": "Luis", "phone": "+593991234568", "tags": ["dup"] })).await;
    // One identifier written before validation existed: malformed for the channel.
    let legacy = app.contact(json!({ "firstName": "Old", "tags": ["dup"] })).await;
    app.app
        .db
        .execute_raw(Statement::from_string(
            app.app.db.get_database_backend(),
            format!(
                "INSERT INTO contact_channels (workspace_id, contact_id, channel_id, identifier, created_at) \
                 VALUES ({}, {legacy}, {channel}, 'not valid', CURRENT_TIMESTAMP)",
                app.workspace_id
            ),
        ))
        .await
        .unwrap();
    // And one with no way to reach it on the channel.
    app.contact(json!({ "firstName": "Nobody", "email": "nobody@example.com", "tags": ["dup"] })).await;
    let segment = segment(&app, "dup").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["targetRecipients"], 5);
    assert_eq!(done["totalMessages"], 2);
    assert_eq!(done["excludedRecipients"], 3);
    let mut to: Vec<String> = mock.received().iter().map(|r| r.body["to"].as_str().unwrap().to_owned()).collect();
    to.sort();
    assert_eq!(to, ["+593991234567", "+593991234568"]);
    // The duplicate that was kept is the oldest contact.
    let kept: Vec<String> =
        messages_of(&app, &id).await.iter().map(|m| m["contact"]["id"].as_str().unwrap().to_owned()).collect();
    assert!(kept.contains(&first), "{kept:?}");
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn a_daily_limit_delivers_partially_and_fails_the_rest_with_the_reason() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, Some(10)).await;
    tagged_contacts(&app, 15, "tier", &channel).await;
    let segment = segment(&app, "tier").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["sentCount"], 10);
    assert_eq!(done["failedCount"], 5);
    assert_eq!(done["completedRecipients"], 15);
    assert_eq!(mock.received().len(), 10);
    let failed = app
        .ok(
            "query($id: ID!) { messages(broadcastId: $id, status: FAILED, first: 100) { totalCount nodes { errorCode errorText } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(failed["messages"]["totalCount"], 5);
    for message in failed["messages"]["nodes"].as_array().unwrap() {
        assert_eq!(message["errorCode"], "DAILY_LIMIT_REACHED");
        assert!(message["errorText"].as_str().unwrap().contains("10 messages per 24 hours"), "{message}");
    }
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_fail_with_the_providers_reason() {
    let app = TestApp::spawn().await;
    // "flaky-0" fails twice with a 500, "busy-0" gets a 429 asking for one second, "bad-0" is
    // refused for good.
    let mock = MockProvider::scripted(|request: &Received| match request.body["to"].as_str().unwrap_or_default() {
        "flaky-0" if request.repeat < 2 => {
            Reply::Error { status: 500, code: "upstream".into(), message: "try later".into(), retry_after: None }
        }
        "busy-0" if request.repeat == 0 => {
            Reply::Error { status: 429, code: "rate".into(), message: "slow down".into(), retry_after: Some(1) }
        }
        "bad-0" => Reply::Error {
            status: 400,
            code: "invalid_recipient".into(),
            message: "No such user".into(),
            retry_after: None,
        },
        _ => Reply::Accept,
    })
    .await;
    let channel = custom_channel(&app, &mock, None, None).await;
    for tag in ["flaky", "busy", "bad"] {
        tagged_contacts(&app, 1, tag, &channel).await;
    }
    let all = app
        .ok(
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "All three", "filter": { "condition": {
                "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["flaky", "busy", "bad"] } } } }),
        )
        .await["createSegment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = draft(&app, &channel, &all, json!({})).await;
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["sentCount"], 2);
    assert_eq!(done["failedCount"], 1);
    let received = mock.received();
    let attempts = |to: &str| received.iter().filter(|r| r.body["to"] == to).collect::<Vec<_>>();
    assert_eq!(attempts("flaky-0").len(), 3);
    let busy = attempts("busy-0");
    assert_eq!(busy.len(), 2);
    assert!(
        busy[1].at - busy[0].at >= Duration::from_millis(950),
        "Retry-After ignored: {:?}",
        busy[1].at - busy[0].at
    );
    // Every attempt of a message carries the same idempotency key.
    assert!(attempts("flaky-0").iter().all(|r| r.idempotency_key == attempts("flaky-0")[0].idempotency_key));
    assert_eq!(attempts("bad-0").len(), 1);
    let messages = messages_of(&app, &id).await;
    let bad = messages.iter().find(|m| m["address"] == "bad-0").unwrap();
    assert_eq!(bad["status"], "FAILED");
    assert_eq!(bad["errorCode"], "invalid_recipient");
    assert_eq!(bad["errorText"], "No such user");
    let flaky = messages.iter().find(|m| m["address"] == "flaky-0").unwrap();
    assert_eq!(
        (flaky["status"].as_str(), flaky["attempts"].as_i64(), flaky["errorCode"].is_null()),
        (Some("SENT"), Some(3), true)
    );
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn a_provider_that_keeps_failing_fails_the_message_after_the_last_attempt() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::scripted(|_: &Received| Reply::Error {
        status: 503,
        code: "down".into(),
        message: "maintenance".into(),
        retry_after: None,
    })
    .await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "x", &channel).await;
    let segment = segment(&app, "x").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(15)).await;
    assert_eq!(done["failedCount"], 1);
    assert_eq!(mock.received().len(), 4, "max_attempts is 4 in tests");
    let message = &messages_of(&app, &id).await[0];
    assert_eq!(message["errorCode"], "down");
    assert!(message["errorText"].as_str().unwrap().contains("gave up after 4 attempts"), "{message}");
}

#[tokio::test]
async fn the_sandbox_channel_sends_nothing_but_reports_deliveries_and_reads() {
    let app = TestApp::spawn().await;
    let sandbox = app.ok("{ channels { id kind } }", json!({})).await["channels"][0].clone();
    assert_eq!(sandbox["kind"], "SANDBOX");
    let channel = sandbox["id"].as_str().unwrap().to_owned();
    tagged_contacts(&app, 4, "demo", &channel).await;
    let segment = segment(&app, "demo").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    assert_eq!(wait_done(&app, &id, Duration::from_secs(10)).await["sentCount"], 4);
    // The simulated provider reports each message delivered, then read (100% in tests).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = broadcast(&app, &id).await;
        if current["readCount"] == 4 {
            assert_eq!(current["deliveredCount"], 4);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not all read: {current:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(messages_of(&app, &id).await.iter().all(|m| m["status"] == "READ"));
    assert_counts_match_rows(&app, &id).await;
}

#[tokio::test]
async fn a_running_or_failed_broadcast_cannot_be_changed_cancelled_rescheduled_or_deleted() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    // One message a second: the broadcast stays RUNNING long enough to try.
    let channel = custom_channel(&app, &mock, Some(1), None).await;
    tagged_contacts(&app, 4, "slow", &channel).await;
    let slow = segment(&app, "slow").await;
    let id = draft(&app, &channel, &slow, json!({})).await;
    send_now(&app, &id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broadcast(&app, &id).await["status"] != "RUNNING" {
        assert!(std::time::Instant::now() < deadline, "never RUNNING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let attempts = [
        ("mutation($id: ID!) { updateBroadcast(id: $id, input: { name: \"x\" }) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { cancelBroadcast(id: $id) { id } }", json!({ "id": id })),
        (
            "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { id } }",
            json!({ "id": id, "at": at }),
        ),
        ("mutation($id: ID!) { deleteBroadcast(id: $id) }", json!({ "id": id })),
        ("mutation($id: ID!) { resendBroadcast(id: $id) { id } }", json!({ "id": id })),
    ];
    for (query, variables) in &attempts {
        let body = app.gql(query, variables.clone()).await;
        assert_eq!(error_code(&body), "CONFLICT", "{query}: {body:#}");
        assert!(error_message(&body).contains("RUNNING"), "{body:#}");
    }

    // A broadcast that failed as a whole cannot be sent again; it can be deleted.
    let empty = segment(&app, "nobody").await;
    let failed = draft(&app, &channel, &empty, json!({})).await;
    send_now(&app, &failed).await;
    assert_eq!(wait_done(&app, &failed, Duration::from_secs(10)).await["status"], "FAILED");
    let body = app.gql("mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": failed })).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert!(error_message(&body).contains("FAILED"), "{body:#}");
    app.ok("mutation($id: ID!) { deleteBroadcast(id: $id) }", json!({ "id": failed })).await;
}

#[tokio::test]
async fn a_provider_that_times_out_is_retried_with_the_same_key() {
    let app = TestApp::spawn().await;
    // The first attempt never gets an answer; the provider timeout (2 s in tests) makes it a
    // transient error.
    let mock =
        MockProvider::scripted(|request: &Received| if request.repeat == 0 { Reply::Hang } else { Reply::Accept })
            .await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 1, "slowpoke", &channel).await;
    let segment = segment(&app, "slowpoke").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(15)).await;
    assert_eq!(done["sentCount"], 1);
    let received = mock.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].idempotency_key, received[1].idempotency_key);
    assert_eq!(mock.logical_messages(), 1);
    assert_eq!(messages_of(&app, &id).await[0]["attempts"], 2);
}

#[tokio::test]
async fn the_preview_shows_the_content_as_each_channel_would_send_it() {
    let app = TestApp::spawn().await;
    let mock = MockProvider::start().await;
    let custom = custom_channel(&app, &mock, None, None).await;
    let messenger = provider_channel(&app, "MESSENGER").await;
    tagged_contacts(&app, 1, "pv", &custom).await;
    let segment = segment(&app, "pv").await;
    let input = json!({ "name": "Preview", "useLastInteractedChannel": true, "segmentId": segment,
        "content": { "text": "Tu pedido salió", "messageTag": "POST_PURCHASE_UPDATE" } });
    let id = app
        .ok(
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await["createBroadcast"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = "query($id: ID!, $channel: ID) { broadcast(id: $id) { preview(channelId: $channel) } }";
    let plain = app.ok(preview, json!({ "id": id })).await;
    assert_eq!(plain["broadcast"]["preview"], "Tu pedido salió");
    let on_messenger = app.ok(preview, json!({ "id": id, "channel": messenger })).await;
    assert_eq!(on_messenger["broadcast"]["preview"], "[POST_PURCHASE_UPDATE] Tu pedido salió");
    let on_custom = app.ok(preview, json!({ "id": id, "channel": custom })).await;
    assert_eq!(on_custom["broadcast"]["preview"], "Tu pedido salió");
}
