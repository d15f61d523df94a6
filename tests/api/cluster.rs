//! Several instances on one PostgreSQL: subscriptions that see what another instance sent, a
//! scheduled broadcast started once, a channel's rate held by all instances together, and an
//! instance that drains on SIGTERM while the others finish its work. On SQLite (embedded, one
//! instance) these tests say so and pass without running.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::broadcasts::{
    assert_counts_match_rows, custom_channel, draft, segment, send_now, tagged_contacts, wait_done,
};
use crate::helpers::{TestApp, on_postgres, test_dispatch};
use crate::mock_provider::{MockProvider, Received, Reply};
use crate::subscriptions::{Socket, connect_as, next_json, send};

fn skip_on_sqlite(test: &str) -> bool {
    if on_postgres() {
        return false;
    }
    eprintln!("{test}: several instances need PostgreSQL (PREGON_TEST_DATABASE_URL); not run on SQLite");
    true
}

/// An instance that serves but does not dispatch (`PREGON_DISPATCH=false`).
async fn api_only(app: &TestApp) -> TestApp {
    app.peer(pregon::config::DispatcherConfig { enabled: false, ..test_dispatch() }).await
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
}

/// Every `next` payload of subscription `id` until its `complete`, or until `until` is true of
/// one (other subscriptions' messages on the socket are kept in `others`).
async fn collect(socket: &mut Socket, id: &str, others: &mut Vec<Value>, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut payloads = Vec::new();
    loop {
        let message = next_json(socket).await.expect("the socket stays open");
        if message["id"] != id {
            others.push(message);
            continue;
        }
        if message["type"] == "complete" {
            return payloads;
        }
        assert_eq!(message["type"], "next", "{message:#}");
        let payload = message["payload"].clone();
        let done = until(&payload);
        payloads.push(payload);
        if done {
            return payloads;
        }
    }
}

/// A first instance and `peers` more that dispatch, and a draft broadcast to `count` contacts
/// tagged `tag` on a CUSTOM channel at `rate` per second posting to `mock`.
async fn fleet(peers: usize, mock: &MockProvider, rate: i64, count: usize, tag: &str) -> (Vec<TestApp>, String) {
    let first = TestApp::spawn().await;
    let mut instances = Vec::with_capacity(peers + 1);
    for _ in 0..peers {
        instances.push(first.peer(test_dispatch()).await);
    }
    let channel = custom_channel(&first, mock, Some(rate), None).await;
    tagged_contacts(&first, count, tag, &channel).await;
    let segment = segment(&first, tag).await;
    let id = draft(&first, &channel, &segment, json!({})).await;
    instances.insert(0, first);
    (instances, id)
}

/// For each idempotency key the mock saw, how many requests carried it.
fn requests_per_key(mock: &MockProvider) -> HashMap<String, usize> {
    let mut keys = HashMap::new();
    for request in mock.received() {
        *keys.entry(request.idempotency_key).or_insert(0) += 1;
    }
    keys
}

#[tokio::test]
async fn subscribers_on_an_api_only_instance_follow_a_broadcast_another_instance_sends() {
    if skip_on_sqlite("subscribers_on_an_api_only_instance_follow_a_broadcast_another_instance_sends") {
        return;
    }
    let sender = TestApp::spawn().await;
    let viewer = api_only(&sender).await;
    let mock = MockProvider::start().await;
    let channel = custom_channel(&sender, &mock, Some(30), None).await;
    tagged_contacts(&sender, 30, "relay", &channel).await;
    let segment = segment(&sender, "relay").await;
    let id = draft(&sender, &channel, &segment, json!({})).await;

    let mut socket = connect_as(&viewer, "graphql-transport-ws", &viewer.token).await;
    subscribe(&mut socket, "changes", "subscription { broadcastChanged { broadcastId status } }", json!({})).await;
    subscribe(
        &mut socket,
        "messages",
        "subscription($id: ID) { messageStatusChanged(broadcastId: $id) { messageId status } }",
        json!({ "id": id }),
    )
    .await;
    subscribe(
        &mut socket,
        "progress",
        "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { status processed sent total } }",
        json!({ "id": id }),
    )
    .await;
    let mut others = Vec::new();
    let first = collect(&mut socket, "progress", &mut others, |_| true).await;
    assert_eq!(first[0]["data"]["broadcastProgress"]["status"], "DRAFT");

    // Sent through the instance that does not dispatch: the other one starts it.
    send_now(&viewer, &id).await;
    let progress = collect(&mut socket, "progress", &mut others, |_| false).await;
    let last = &progress.last().expect("progress events")["data"]["broadcastProgress"];
    assert_eq!(last["status"], "COMPLETED", "{progress:#?}");
    assert_eq!((last["processed"].as_i64(), last["sent"].as_i64()), (Some(30), Some(30)));
    assert!(
        progress.iter().any(|p| p["data"]["broadcastProgress"]["status"] == "RUNNING"
            && p["data"]["broadcastProgress"]["processed"].as_i64() < Some(30)),
        "the viewer saw the broadcast on its way: {progress:#?}"
    );

    // The other subscriptions heard the same changes, each relayed once.
    let sent_events = |others: &[Value]| {
        others
            .iter()
            .filter(|m| m["id"] == "messages" && m["payload"]["data"]["messageStatusChanged"]["status"] == "SENT")
            .count()
    };
    let statuses = |others: &[Value]| -> Vec<String> {
        others
            .iter()
            .filter(|m| m["id"] == "changes" && m["payload"]["data"]["broadcastChanged"]["broadcastId"] == id.as_str())
            .filter_map(|m| m["payload"]["data"]["broadcastChanged"]["status"].as_str().map(str::to_owned))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while (sent_events(&others) < 30 || !statuses(&others).iter().any(|s| s == "COMPLETED"))
        && Instant::now() < deadline
    {
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), next_json(&mut socket)).await {
            others.push(message);
        }
    }
    assert_eq!(sent_events(&others), 30, "one SENT event per message: {others:#?}");
    let statuses = statuses(&others);
    for status in ["SCHEDULED", "RUNNING", "COMPLETED"] {
        assert!(statuses.iter().any(|s| s == status), "broadcastChanged {status} missing: {statuses:?}");
    }
    assert_eq!(mock.received().len(), 30);
}

#[tokio::test]
async fn a_scheduled_broadcast_starts_once_and_each_message_is_sent_once_with_three_instances() {
    if skip_on_sqlite("a_scheduled_broadcast_starts_once_and_each_message_is_sent_once_with_three_instances") {
        return;
    }
    let mock = MockProvider::start().await;
    let (instances, id) = fleet(2, &mock, 200, 120, "once").await;
    let [first, second, third] = &instances[..] else { unreachable!("three instances") };
    let at = Utc::now() + chrono::Duration::milliseconds(800);
    first
        .ok(
            "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, at: $at) { status } }",
            json!({ "id": id, "at": at.to_rfc3339() }),
        )
        .await;
    let done = wait_done(second, &id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["totalMessages"], 120);
    assert_eq!(done["sentCount"], 120);
    let keys = requests_per_key(&mock);
    assert_eq!(keys.len(), 120, "one logical message per recipient");
    assert!(keys.values().all(|&n| n == 1), "no message was sent twice: {keys:?}");
    assert_counts_match_rows(third, &id).await;
}

// Three instances, the mock and the client in one process: on the default single-threaded
// test runtime their timers wait for one another, which no deployment does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_rate_holds_for_three_instances_together() {
    if skip_on_sqlite("a_channel_rate_holds_for_three_instances_together") {
        return;
    }
    let mock = MockProvider::start().await;
    let (instances, id) = fleet(2, &mock, 20, 70, "rate").await;
    send_now(&instances[0], &id).await;
    let done = wait_done(&instances[0], &id, Duration::from_secs(20)).await;
    assert_eq!(done["sentCount"], 70);

    let mut times: Vec<Instant> = mock.received().iter().map(|r: &Received| r.at).collect();
    times.sort();
    // No window of one second holds more than 20, whichever instance sent.
    for (i, start) in times.iter().enumerate() {
        let within = times[i..].iter().take_while(|t| t.duration_since(*start) < Duration::from_secs(1)).count();
        let gaps: Vec<u128> = times.windows(2).take(25).map(|w| w[1].duration_since(w[0]).as_millis()).collect();
        assert!(within <= 20, "{within} messages within one second from message {i}; first gaps (ms): {gaps:?}");
    }
    // And the rate is used: 70 messages at 20/s take about 3.5 s, not three times less.
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(span >= Duration::from_millis(3200) && span < Duration::from_millis(5000), "70 messages took {span:?}");
}

#[tokio::test]
async fn an_instance_stopped_by_sigterm_hands_its_messages_back_and_the_others_finish_them() {
    if skip_on_sqlite("an_instance_stopped_by_sigterm_hands_its_messages_back_and_the_others_finish_them") {
        return;
    }
    let mock = MockProvider::scripted(|_| Reply::AcceptAfter(Duration::from_millis(100))).await;
    let (mut instances, id) = fleet(1, &mock, 40, 120, "drain").await;
    let [first, second] = &mut instances[..] else { unreachable!("two instances") };
    send_now(first, &id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.count() < 30 {
        assert!(Instant::now() < deadline, "the broadcast did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop_and_wait().await;
    let at_stop = mock.count();
    assert!(at_stop < 120, "the first instance had not sent everything yet");

    let done = wait_done(second, &id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["sentCount"], 120);
    let keys = requests_per_key(&mock);
    assert_eq!(keys.len(), 120);
    assert!(keys.values().all(|&n| n == 1), "a drained instance leaves nothing to send twice: {keys:?}");
    assert_counts_match_rows(second, &id).await;
}
