//! `broadcastProgress` at scale: the real `pregon` binary runs as its own process; N WebSocket
//! clients (graphql-transport-ws) subscribe to the progress of one broadcast, first idle (the
//! server's resident memory per subscriber), then while it runs on the sandbox channel. Every
//! update's lag is the client's receive time minus the snapshot's `updatedAt` (the moment the
//! dispatcher recorded it; one clock, one machine). Reported: how many subscribers saw the final
//! event, and the lag's p50, p99 and maximum.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::setup::{self, gql};

#[derive(clap::Args)]
pub struct Args {
    /// Subscribers to open.
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Recipients of the broadcast they follow.
    #[arg(long, default_value_t = 2_000)]
    recipients: usize,
    /// The sandbox channel's rate during the run, messages per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let mut binary = setup::spawn_binary(
        &database,
        &[
            ("PREGON_SANDBOX_LATENCY_MS", "5"),
            ("PREGON_SANDBOX_FAILURE_PERCENT", "2"),
            ("PREGON_SANDBOX_DELIVERY_MS", "500"),
        ],
    )
    .await?;
    let (pid, token, address) = (
        binary.pid,
        binary.token.clone().ok_or_else(|| anyhow::anyhow!("the first start prints a token"))?,
        binary.address.clone(),
    );
    let http = format!("http://{address}/graphql");
    let ws = format!("ws://{address}/graphql/ws");
    let client = reqwest::Client::new();

    // Contacts on the sandbox channel, a segment of them, a broadcast.
    let channel =
        gql(&client, &http, &token, "{ channels { id kind } }", json!({})).await?["channels"][0]["id"].clone();
    gql(
        &client,
        &http,
        &token,
        "mutation($id: ID!, $input: UpdateChannelInput!) { updateChannel(id: $id, input: $input) { id } }",
        json!({ "id": channel, "input": { "rateLimit": { "count": args.rate } } }),
    )
    .await?;
    let mut csv = String::from("first_name,phone\n");
    for i in 0..args.recipients {
        // Exchanges from 200 up: valid numbers in the North American plan.
        csv.push_str(&format!("Person {i},+1415{:07}\n", 2_000_000 + i));
    }
    let imported = gql(
        &client,
        &http,
        &token,
        "mutation($csv: String!) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"live\"]) { created } }",
        json!({ "csv": csv }),
    )
    .await?;
    anyhow::ensure!(imported["importContacts"]["created"] == args.recipients, "import: {imported}");
    let segment = gql(
        &client,
        &http,
        &token,
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
        json!({ "input": { "name": "Live", "filter": { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["live"] } } } }),
    )
    .await?["createSegment"]["id"]
        .clone();
    let broadcast = gql(
        &client,
        &http,
        &token,
        "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
        json!({ "input": { "name": "Live", "channelId": channel, "segmentId": segment, "content": { "text": "Hola" } } }),
    )
    .await?["createBroadcast"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Idle subscribers: each gets the DRAFT snapshot, then waits.
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000, 3)?));
    let finals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut sockets = Vec::with_capacity(args.subscribers);
    sockets.push(subscribe(&ws, &token, &broadcast).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = setup::process_resident_kib(pid)?;
    let opened = Instant::now();
    for _ in 1..args.subscribers {
        sockets.push(subscribe(&ws, &token, &broadcast).await?);
    }
    let opened_in = opened.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = setup::process_resident_kib(pid)?;
    let per_subscriber = after.saturating_sub(before) as f64 * 1024.0 / (args.subscribers - 1) as f64;

    let mut readers = Vec::with_capacity(sockets.len());
    for mut socket in sockets {
        let (lags, finals) = (lags.clone(), finals.clone());
        readers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(120), socket.next()).await {
                let Message::Text(text) = message else { continue };
                let received = Utc::now();
                // Read by hand rather than parsed: the harness shares the machine with the
                // server it measures, so its own work per message is kept small.
                let text = text.as_str();
                if text.contains("\"complete\"") {
                    break;
                }
                if text.contains("\"DRAFT\"") || text.contains("\"SCHEDULED\"") || !text.contains("\"next\"") {
                    continue;
                }
                let updated_at = text
                    .split_once("\"updatedAt\":\"")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .and_then(|(at, _)| at.parse::<DateTime<Utc>>().ok());
                if let Some(at) = updated_at {
                    local.push((received - at).num_microseconds().unwrap_or(0).max(1) as u64);
                }
                if text.contains("\"COMPLETED\"") || text.contains("\"FAILED\"") {
                    finals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let mut histogram = lags.lock().expect("lock");
            for lag in local {
                histogram.saturating_record(lag);
            }
        }));
    }
    let started = Instant::now();
    gql(&client, &http, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": broadcast }))
        .await?;
    for reader in readers {
        reader.await?;
    }
    let ran = started.elapsed();
    let histogram = lags.lock().expect("lock").clone();
    let outcome = gql(
        &client,
        &http,
        &token,
        "query($id: ID!) { broadcast(id: $id) { status totalMessages sentCount failedCount } }",
        json!({ "id": broadcast }),
    )
    .await?;
    eprintln!("the broadcast: {}", outcome["broadcast"]);
    anyhow::ensure!(outcome["broadcast"]["status"] == "COMPLETED", "the broadcast did not complete: {outcome}");
    println!();
    println!(
        "progress-subscribers: {} subscribers, {} recipients at {}/s, {}",
        args.subscribers, args.recipients, args.rate, database.label
    );
    println!();
    println!(
        "| subscribers | saw the final event | updates | lag p50 | lag p99 | lag max | server RSS per idle subscriber | opened in | run |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.1} ms | **{:.1} ms** | {:.1} ms | **{:.1} KB** | {:.1?} | {:.1?} |",
        args.subscribers,
        finals.load(std::sync::atomic::Ordering::Relaxed),
        histogram.len(),
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        per_subscriber / 1000.0,
        opened_in,
        ran
    );
    binary.child.kill().await.ok();
    database.drop_schema().await
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(url: &str, token: &str, broadcast: &str) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => {}
        other => anyhow::bail!("no connection_ack: {other:?}"),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { status processed sent updatedAt } }",
        "variables": { "id": broadcast } } });
    socket.send(Message::Text(subscribe.to_string().into())).await?;
    // The snapshot arrives at once.
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("broadcastProgress") => Ok(socket),
        other => anyhow::bail!("no snapshot: {other:?}"),
    }
}
