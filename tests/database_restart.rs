//! PostgreSQL restarted in the middle of a broadcast: the instances reconnect and finish it,
//! and a progress subscriber on the instance that does not send still sees it end.
//!
//! A test binary of its own: cargo runs test binaries one after another, so restarting the
//! database here cannot break the other tests' connections. It needs PostgreSQL on this
//! machine (`PREGON_TEST_DATABASE_URL`) and `pg_ctlcluster` (Debian's PostgreSQL, run as root,
//! as CI does); without them it says so and passes without running.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/mock_provider.rs"]
#[allow(dead_code)]
mod mock_provider;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use helpers::{TestApp, on_postgres, phone_contacts_csv, test_dispatch};
use mock_provider::MockProvider;

/// The local cluster's version (`/etc/postgresql/<version>`), when this machine runs it.
fn local_cluster() -> Option<String> {
    let version = std::fs::read_dir("/etc/postgresql").ok()?.flatten().next()?.file_name().into_string().ok()?;
    Command::new("pg_ctlcluster").arg("--help").output().ok()?;
    Some(version)
}

fn pg_ready() -> bool {
    Command::new("pg_isready").args(["-q", "-h", "127.0.0.1", "-p", "5432"]).status().is_ok_and(|s| s.success())
}

async fn gql(app: &TestApp, query: &str, variables: Value) -> Value {
    let body = app.gql(query, variables).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_survives_a_postgresql_restart_in_its_middle() {
    const RECIPIENTS: usize = 2_000;
    let Some(version) = local_cluster().filter(|_| on_postgres()) else {
        eprintln!("database_restart: needs PostgreSQL (PREGON_TEST_DATABASE_URL) and pg_ctlcluster; not run");
        return;
    };
    let sender = TestApp::spawn().await;
    let viewer = sender.peer(pregon::config::DispatcherConfig { enabled: false, ..test_dispatch() }).await;
    let mock = MockProvider::start().await;
    let channel = gql(
        &sender,
        "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
        json!({ "input": { "name": "Custom", "kind": "CUSTOM", "baseUrl": mock.url, "credentials": { "secret": "s3cret" }, "rateLimit": { "count": 200 } } }),
    )
    .await["createChannel"]["id"]
        .clone();
    let csv = phone_contacts_csv(RECIPIENTS, "Restart", "+59399");
    let imported = gql(
        &sender,
        "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"restart\"]) { created } }",
        json!({ "csv": csv }),
    )
    .await;
    assert_eq!(imported["importContacts"]["created"], RECIPIENTS, "{imported:#}");
    let segment = gql(
        &sender,
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
        json!({ "input": { "name": "Restart", "filter": { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["restart"] } } } }),
    )
    .await["createSegment"]["id"]
        .clone();
    let id = gql(
        &sender,
        "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
        json!({ "input": { "name": "Restart", "channelId": channel, "segmentId": segment, "content": { "text": "Hola" } } }),
    )
    .await["createBroadcast"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A progress subscriber on the instance that does not send.
    let url = format!("{}/graphql/ws", viewer.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", viewer.token) } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let subscribe = json!({ "id": "p", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { status processed } }",
        "variables": { "id": id } } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let final_status = tokio::spawn(async move {
        let mut last = Value::Null;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["type"].as_str() {
                Some("next") => last = value["payload"]["data"]["broadcastProgress"].clone(),
                Some("complete") => return last,
                _ => {}
            }
        }
        last
    });

    gql(&sender, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id })).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while mock.count() < RECIPIENTS / 4 {
        assert!(Instant::now() < deadline, "the broadcast did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_restart = mock.count();
    let restarted = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart", "-m", "fast"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(restarted.success(), "PostgreSQL restarted");
    let back = Instant::now() + Duration::from_secs(30);
    while !pg_ready() {
        assert!(Instant::now() < back, "PostgreSQL did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("database_restart: PostgreSQL restarted after {at_restart} of {RECIPIENTS} messages");

    // Both instances reconnect by themselves; the broadcast completes.
    let query = "query($id: ID!) { broadcast(id: $id) { status sentCount completedRecipients totalMessages } }";
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let body = viewer.gql(query, json!({ "id": id })).await;
        let current = body["data"]["broadcast"].clone();
        if current["status"] == "COMPLETED" {
            break current;
        }
        assert!(Instant::now() < deadline, "not completed after the restart: {body:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["sentCount"], RECIPIENTS);
    assert_eq!(done["completedRecipients"], RECIPIENTS);
    let keys: HashSet<String> = mock.received().into_iter().map(|r| r.idempotency_key).collect();
    assert_eq!(keys.len(), RECIPIENTS, "every recipient got exactly one logical message");
    let row = sender.sql_row("SELECT COUNT(*) AS open FROM messages WHERE status IN ('QUEUED', 'SENDING')").await;
    assert_eq!(row.try_get::<i64>("", "open").unwrap(), 0, "every row is terminal");
    let last = tokio::time::timeout(Duration::from_secs(15), final_status)
        .await
        .expect("the viewer's progress stream ends")
        .unwrap();
    assert_eq!(last["status"], "COMPLETED", "the viewer saw the end: {last:#}");
    assert_eq!(last["processed"], RECIPIENTS);
    eprintln!(
        "database_restart: completed; {} requests for {RECIPIENTS} messages ({} repeated)",
        mock.count(),
        mock.count() - RECIPIENTS
    );
}
