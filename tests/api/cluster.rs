//! Several instances on one PostgreSQL: subscriptions that see what another instance sent, a
//! scheduled broadcast started once, a channel's rate, a broadcast's send rate and a daily
//! limit held by all instances together, and an instance that drains on SIGTERM while the
//! others finish its work. On SQLite (embedded, one
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

/// Dispatcher settings for the instances here: the tests' quick ones, with leases long enough
/// that a busy machine cannot make a message in flight look abandoned.
fn dispatch() -> pregon::config::DispatcherConfig {
    pregon::config::DispatcherConfig { lease_secs: 10, ..test_dispatch() }
}

/// An instance that serves but does not dispatch (`PREGON_DISPATCH=false`).
async fn api_only(app: &TestApp) -> TestApp {
    app.peer(pregon::config::DispatcherConfig { enabled: false, ..dispatch() }).await
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
    let first = TestApp::spawn_with_dispatch(Default::default(), dispatch()).await;
    let mut instances = Vec::with_capacity(peers + 1);
    for _ in 0..peers {
        instances.push(first.peer(dispatch()).await);
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
    let sender = TestApp::spawn_with_dispatch(Default::default(), dispatch()).await;
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
    let gaps: Vec<u128> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_millis()).collect();
    assert!(busiest_second(&times) <= 20, "{} messages within one second; gaps (ms): {gaps:?}", busiest_second(&times));
    // And the rate is used: 70 messages at 20/s take about 3.5 s, not three times less.
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(span >= Duration::from_millis(3200) && span < Duration::from_millis(5000), "70 messages took {span:?}");
}

/// Arrival times at `mock` of the messages of `broadcast`, sorted.
fn arrivals_of(mock: &MockProvider, broadcast: &str) -> Vec<Instant> {
    let mut times: Vec<Instant> =
        mock.received().iter().filter(|r: &&Received| r.body["broadcastId"] == broadcast).map(|r| r.at).collect();
    times.sort();
    times
}

/// The most arrivals within any one second, give or take the way to the mock: arrival times
/// are taken in this test process, which shares two cores with the instances and the database,
/// so a window of 950 ms stands for the second the instances paced.
fn busiest_second(times: &[Instant]) -> usize {
    let window = Duration::from_millis(950);
    (0..times.len())
        .map(|i| times[i..].iter().take_while(|t| t.duration_since(times[i]) < window).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_send_rate_holds_for_two_instances_together_and_leaves_the_channel_to_others() {
    if skip_on_sqlite("a_broadcast_send_rate_holds_for_two_instances_together_and_leaves_the_channel_to_others") {
        return;
    }
    let first = TestApp::spawn_with_dispatch(Default::default(), dispatch()).await;
    let _second = first.peer(dispatch()).await;
    let mock = MockProvider::start().await;
    // One channel at 100/s: a broadcast capped at 10/s and an uncapped one on it at once.
    let channel = custom_channel(&first, &mock, Some(100), None).await;
    tagged_contacts(&first, 25, "capped", &channel).await;
    tagged_contacts(&first, 150, "free", &channel).await;
    let capped =
        draft(&first, &channel, &segment(&first, "capped").await, json!({ "sendRate": { "count": 10 } })).await;
    let free = draft(&first, &channel, &segment(&first, "free").await, json!({})).await;
    send_now(&first, &capped).await;
    send_now(&first, &free).await;
    for id in [&capped, &free] {
        assert_eq!(wait_done(&first, id, Duration::from_secs(20)).await["status"], "COMPLETED");
    }
    let (slow, fast) = (arrivals_of(&mock, &capped), arrivals_of(&mock, &free));
    assert_eq!((slow.len(), fast.len()), (25, 150));
    assert!(busiest_second(&slow) <= 10, "{} messages of a 10/s broadcast in one second", busiest_second(&slow));
    let span = slow.last().unwrap().duration_since(slow[0]);
    assert!(span >= Duration::from_millis(2300), "25 messages at 10/s took only {span:?}");
    let mut all: Vec<Instant> = slow.iter().chain(&fast).copied().collect();
    all.sort();
    assert!(busiest_second(&all) <= 100, "the channel carried {} in one second", busiest_second(&all));
    // The capped broadcast takes the channel's slots one at a time, as it needs them: the other
    // gets the rest of the 100/s and its 150 messages are out (in about 1.7 s) long before the
    // capped 25 (2.5 s), rather than waiting on what a slow lane left of the channel.
    assert!(
        fast.last().unwrap() < slow.last().unwrap(),
        "150 messages beside a 10/s broadcast took {:?}, the 25 capped ones {:?}",
        fast.last().unwrap().duration_since(fast[0]),
        slow.last().unwrap().duration_since(slow[0])
    );
}

#[tokio::test]
async fn a_daily_limit_holds_for_three_instances_together() {
    if skip_on_sqlite("a_daily_limit_holds_for_three_instances_together") {
        return;
    }
    let first = TestApp::spawn_with_dispatch(Default::default(), dispatch()).await;
    let _others = [first.peer(dispatch()).await, first.peer(dispatch()).await];
    let mock = MockProvider::start().await;
    // A 30-per-24-hours tier sending 50: 30 go, 20 fail with the reason (seed 000), whichever
    // instances claim them.
    let channel = custom_channel(&first, &mock, Some(50), Some(30)).await;
    tagged_contacts(&first, 50, "tier", &channel).await;
    let id = draft(&first, &channel, &segment(&first, "tier").await, json!({})).await;
    send_now(&first, &id).await;
    let done = wait_done(&first, &id, Duration::from_secs(20)).await;
    assert_eq!((done["sentCount"].as_i64(), done["failedCount"].as_i64()), (Some(30), Some(20)), "{done:#}");
    assert_eq!(mock.count(), 30);
    let failed = first
        .ok(
            "query($id: ID!) { messages(broadcastId: $id, status: FAILED, first: 100) { nodes { errorCode } } }",
            json!({ "id": id }),
        )
        .await;
    let codes: Vec<&Value> = failed["messages"]["nodes"].as_array().unwrap().iter().map(|n| &n["errorCode"]).collect();
    assert!(codes.len() == 20 && codes.iter().all(|c| *c == "DAILY_LIMIT_REACHED"), "{codes:?}");
    assert_counts_match_rows(&first, &id).await;
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
