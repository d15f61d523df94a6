//! `callbacks`: the return path against the send path, in one run of the `pregon` binary.
//!
//! 1. A broadcast to N contacts on a CUSTOM channel (unlimited rate) to the loopback mock: the
//!    send rate, first to last arrival at the mock.
//! 2. One status per POST, DELIVERED for every message and then READ for every message, from
//!    `clients` concurrent keep-alive clients: callbacks applied per second, p50 and p99.
//! 3. One inbound message per POST from every recipient (the contacts are known by phone): the
//!    inbound rate; each links the contact's identifier and counts as a reply.
//! 4. The broadcast's counters against its rows.
//! 5. A second broadcast, a DELIVERED storm, and `kill -9` of the server in the middle of it;
//!    after a restart every callback that was answered 200 must be stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::cluster::send_and_wait;
use crate::setup::{self, gql};
use crate::{dispatch, mock_provider};

#[derive(clap::Args)]
pub struct Args {
    /// Recipients of the broadcast.
    #[arg(long, default_value_t = 20_000)]
    contacts: u64,
    /// Concurrent keep-alive clients posting callbacks.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// SQLite (default) or `postgres://…` (a schema is created and dropped).
    #[arg(long)]
    database_url: Option<String>,
}

/// What a fixed list of POSTs did.
struct Storm {
    seconds: f64,
    ok: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
    /// The indexes of the requests answered 2xx.
    acknowledged: Vec<usize>,
}

impl Storm {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// Posts every body of `bodies` to `url` (with the channel's secret) from `clients` keep-alive
/// clients, each taking the next body when its answer has come.
async fn storm(url: &str, bodies: Arc<Vec<Value>>, clients: usize) -> Storm {
    storm_with(url, bodies, clients, "bench").await
}

async fn storm_with(url: &str, bodies: Arc<Vec<Value>>, clients: usize, secret: &'static str) -> Storm {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, url, bodies, next) = (client.clone(), url.to_owned(), bodies.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut acknowledged, mut errors) = (Vec::new(), 0);
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else { break };
                let sent = Instant::now();
                let answer = client.post(&url).bearer_auth(secret).json(body).send().await;
                match answer {
                    Ok(response) if response.status().is_success() || secret != "bench" => {
                        let _ = response.bytes().await;
                        acknowledged.push(index);
                    }
                    _ => errors += 1,
                }
                histogram.saturating_record(sent.elapsed().as_micros() as u64);
            }
            (histogram, acknowledged, errors)
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut acknowledged, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (h, a, e) = worker.await.expect("worker");
        histogram.add(h).expect("same bounds");
        acknowledged.extend(a);
        errors += e;
    }
    Storm {
        seconds: started.elapsed().as_secs_f64(),
        ok: acknowledged.len(),
        errors,
        p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        acknowledged,
    }
}

/// One integer a statement selects.
async fn scalar(db: &sea_orm::DatabaseConnection, sql: String) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The message ids of a broadcast, in order.
async fn message_ids(db: &sea_orm::DatabaseConnection, broadcast: &str) -> anyhow::Result<Vec<i64>> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT id FROM messages WHERE broadcast_id = {broadcast} ORDER BY id"),
        ))
        .await?;
    rows.iter().map(|row| Ok(row.try_get_by_index::<i64>(0)?)).collect()
}

fn statuses(ids: &[i64], status: &str) -> Arc<Vec<Value>> {
    Arc::new(ids.iter().map(|id| json!({ "statuses": [{ "messageId": id.to_string(), "status": status }] })).collect())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = setup::prepare_unlimited(&database).await?;
    setup::seed_contacts(&app, workspace_id, args.contacts, 20).await?;
    // Phone numbers that are valid E.164 (the seeded +1415… are not all valid), so that an
    // inbound message from one matches its contact.
    let renumber = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "UPDATE contacts SET phone = '+59399' || lpad(id::text, 7, '0')",
        _ => "UPDATE contacts SET phone = printf('+59399%07d', id)",
    };
    app.db.execute_unprepared(renumber).await?;
    let (mock_url, arrivals) = mock_provider::start().await?;
    let mut binary = setup::spawn_binary(&database, &[("PREGON_DISPATCH_POLL_MS", "50")]).await?;
    let client = reqwest::Client::new();
    let graphql = format!("http://{}/graphql", binary.address);

    // 1. The send path.
    let broadcast = dispatch::broadcast_to_everyone(&client, &graphql, &token, &mock_url, 100_000, "send").await?;
    arrivals.times.lock().expect("lock").clear();
    send_and_wait(&client, &graphql, &token, &broadcast).await?;
    let send_rate = {
        let times = arrivals.times.lock().expect("lock");
        let first = times.iter().map(|(t, _)| *t).min().ok_or_else(|| anyhow::anyhow!("nothing arrived"))?;
        let last = times.iter().map(|(t, _)| *t).max().unwrap_or(first);
        times.len() as f64 / (last - first).as_secs_f64()
    };
    let channel = scalar(&app.db, format!("SELECT channel_id FROM broadcasts WHERE id = {broadcast}")).await?;
    let webhook = format!("http://{}/webhooks/{channel}", binary.address);
    let ids = message_ids(&app.db, &broadcast).await?;

    // The HTTP path alone, for reference: the same POSTs with a wrong secret, refused (401)
    // after the channel's lookup and the secret's check, before anything is applied.
    let ceiling = storm_with(&webhook, statuses(&ids, "DELIVERED"), args.clients, "wrong").await;

    // 2. Statuses, one per POST.
    eprintln!("callbacks: status storm starting on pid {}", binary.pid);
    let delivered = storm(&webhook, statuses(&ids, "DELIVERED"), args.clients).await;
    let read = storm(&webhook, statuses(&ids, "READ"), args.clients).await;
    let callbacks_per_second = (delivered.ok + read.ok) as f64 / (delivered.seconds + read.seconds);

    // 3. Inbound messages from the recipients.
    let replies: Vec<Value> = (1..=args.contacts)
        .map(|i| json!({ "messages": [{ "from": format!("+59399{i:07}"), "text": "¡Gracias!", "id": format!("in-{i}") }] }))
        .collect();
    eprintln!("callbacks: inbound storm starting on pid {}", binary.pid);
    let inbound = storm(&webhook, Arc::new(replies), args.clients).await;

    // 4. Counters against rows.
    let counted = gql(
        &client,
        &graphql,
        &token,
        "query($id: ID!) { broadcast(id: $id) { sentCount deliveredCount readCount repliedCount } }",
        json!({ "id": broadcast }),
    )
    .await?["broadcast"]
        .clone();
    let rows = |column: &str| {
        format!("SELECT COUNT(*) FROM messages WHERE broadcast_id = {broadcast} AND {column} IS NOT NULL")
    };
    let from_rows = json!({
        "sentCount": scalar(&app.db, rows("sent_at")).await?,
        "deliveredCount": scalar(&app.db, rows("delivered_at")).await?,
        "readCount": scalar(&app.db, rows("read_at")).await?,
        "repliedCount": scalar(&app.db, rows("replied_at")).await?,
    });
    let contacts_after =
        scalar(&app.db, format!("SELECT COUNT(*) FROM contacts WHERE workspace_id = {workspace_id}")).await?;

    // 5. kill -9 during a callback storm.
    let crash = dispatch::broadcast_to_everyone(&client, &graphql, &token, &mock_url, 100_000, "crash").await?;
    send_and_wait(&client, &graphql, &token, &crash).await?;
    let crash_ids = message_ids(&app.db, &crash).await?;
    let bodies = statuses(&crash_ids, "DELIVERED");
    let crash_channel = scalar(&app.db, format!("SELECT channel_id FROM broadcasts WHERE id = {crash}")).await?;
    let crash_webhook = format!("http://{}/webhooks/{crash_channel}", binary.address);
    let pid = binary.pid;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    });
    let stormed = storm(&crash_webhook, bodies, args.clients).await;
    killer.await?;
    let _ = binary.child.wait().await;
    let mut restarted = setup::spawn_binary(&database, &[]).await?;
    let acknowledged: Vec<i64> = stormed.acknowledged.iter().map(|&index| crash_ids[index]).collect();
    let mut lost = 0;
    for chunk in acknowledged.chunks(1000) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let kept =
            scalar(&app.db, format!("SELECT COUNT(*) FROM messages WHERE id IN ({list}) AND delivered_at IS NOT NULL"))
                .await?;
        lost += chunk.len() as i64 - kept;
    }
    let crash_counted = scalar(&app.db, format!("SELECT delivered_count FROM broadcasts WHERE id = {crash}")).await?;
    let crash_rows = scalar(
        &app.db,
        format!("SELECT COUNT(*) FROM messages WHERE broadcast_id = {crash} AND delivered_at IS NOT NULL"),
    )
    .await?;
    restarted.stop().await;

    println!();
    println!(
        "callbacks: {} recipients, {}, {} clients, one callback per POST",
        args.contacts, database.label, args.clients
    );
    println!();
    println!("| phase | requests | errors | per second | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| send (at the mock) | {} | – | **{send_rate:.0}** | – | – |", ids.len());
    println!(
        "| refused callbacks (HTTP path only) | {} | – | {:.0} | {:.1} ms | {:.1} ms |",
        ceiling.ok,
        ceiling.per_second(),
        ceiling.p50_ms,
        ceiling.p99_ms
    );
    for (name, result) in
        [("DELIVERED callbacks", &delivered), ("READ callbacks", &read), ("inbound messages", &inbound)]
    {
        println!(
            "| {name} | {} | {} | **{:.0}** | {:.1} ms | {:.1} ms |",
            result.ok,
            result.errors,
            result.per_second(),
            result.p50_ms,
            result.p99_ms
        );
    }
    println!();
    println!(
        "Status callbacks applied per second: **{callbacks_per_second:.0}**, {:.2}× the send rate, {:.2}× the refused ones.",
        callbacks_per_second / send_rate,
        callbacks_per_second / ceiling.per_second()
    );
    println!(
        "Counters {counted} — rows {from_rows}; contacts after the replies: {contacts_after} (no duplicates: {}).",
        contacts_after as u64 == args.contacts
    );
    println!(
        "kill -9 after 0.7 s of a DELIVERED storm: {} answered 200, {lost} of them lost; counter {crash_counted}, rows {crash_rows}.",
        acknowledged.len()
    );
    database.drop_schema().await
}
