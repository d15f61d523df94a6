//! Memory per idle subscription: the real `pregon` binary runs as its own process; its
//! resident memory is read from /proc before and after N WebSocket clients connect
//! (graphql-transport-ws), authenticate in `connection_init` and subscribe to
//! `contactChanged`. The difference divided by N is the cost of one idle subscriber.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Idle subscribers to open.
    #[arg(long, default_value_t = 2000)]
    connections: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let mut binary = setup::spawn_binary(&database, &[]).await?;
    let (pid, token) =
        (binary.pid, binary.token.clone().ok_or_else(|| anyhow::anyhow!("the first start prints a token"))?);
    let url = format!("ws://{}/graphql/ws", binary.address);

    // One warm-up subscriber, so that one-time allocations are not charged to the others.
    let mut sockets = vec![subscribe(&url, &token).await?];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = setup::process_resident_kib(pid)?;
    let started = Instant::now();
    for _ in 0..args.connections {
        sockets.push(subscribe(&url, &token).await?);
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = setup::process_resident_kib(pid)?;
    let per_connection = (after.saturating_sub(before)) as f64 / args.connections as f64;

    println!();
    println!("idle-subscriptions: {} subscribers, {}", args.connections, database.label);
    println!();
    println!("| subscribers | server RSS before | server RSS after | per subscriber | opened in |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {:.1?} |",
        args.connections,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_connection,
        opened_in
    );
    drop(sockets);
    binary.child.kill().await.ok();
    database.drop_schema().await
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(url: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    // Small client buffers: the client lives in this process, not in the one measured, but
    // thousands of default-sized buffers would make the harness itself heavy.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => {}
        other => anyhow::bail!("no connection_ack: {other:?}"),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { contactChanged { contactId } }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await?;
    Ok(socket)
}
