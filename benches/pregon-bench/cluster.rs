//! `cluster-dispatch`: how dispatch scales with several `pregon` processes on one PostgreSQL.
//!
//! The harness seeds N contacts, then for each instance count starts that many `pregon`
//! binaries (separate processes, as deployed) on the same schema, sends a broadcast to every
//! contact on a CUSTOM channel with an unlimited rate (100,000 per second) to its loopback mock,
//! and measures the send phase at the mock (first to last arrival), and duplicates (requests
//! beyond one per idempotency key). The instances are stopped with SIGTERM between runs.
//!
//! `cluster-load`: two instances, a broadcast running on them at a set rate, and at the same
//! time a closed-loop mix of queries (a contacts page, a broadcast's counts), mutations
//! (`createContact`) and provider webhooks (DELIVERED and READ callbacks for an earlier
//! broadcast's messages), spread over both instances: latency (p50, p99) and errors per kind.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::setup::gql;
use crate::{dispatch, load, mock_provider, setup};

#[derive(clap::Args)]
pub struct Args {
    /// Recipients of each broadcast.
    #[arg(long, default_value_t = 30_000)]
    recipients: u64,
    /// Instance counts to measure, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    instances: Vec<usize>,
    /// Messages a lane has at the provider at once, per instance.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// The PostgreSQL database (a schema is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(Some(&args.database_url)).await?;
    let (app, workspace_id, token) = setup::prepare_unlimited(&database).await?;
    let seeded = setup::seed_contacts(&app, workspace_id, args.recipients, 20).await?;
    eprintln!("{} contacts seeded in {seeded:.1} s", args.recipients);
    let (mock_url, arrivals) = mock_provider::start().await?;
    let client = reqwest::Client::new();
    let concurrency = args.concurrency.to_string();
    let env = [("PREGON_DISPATCH_CONCURRENCY", concurrency.as_str()), ("PREGON_DISPATCH_POLL_MS", "50")];

    let mut rows = Vec::new();
    for &count in &args.instances {
        let mut binaries = Vec::with_capacity(count);
        for _ in 0..count {
            binaries.push(setup::spawn_binary(&database, &env).await?);
        }
        let url = format!("http://{}/graphql", binaries[0].address);
        let name = format!("{count} instance(s)");
        let id = dispatch::broadcast_to_everyone(&client, &url, &token, &mock_url, 100_000, &name).await?;
        arrivals.times.lock().expect("lock").clear();
        let done = send_and_wait(&client, &url, &token, &id).await?;
        let times = arrivals.times.lock().expect("lock").clone();
        let keys: HashSet<&str> = times.iter().map(|(_, key)| key.as_str()).collect();
        let first = times.iter().map(|(t, _)| *t).min().ok_or_else(|| anyhow::anyhow!("nothing arrived"))?;
        let last = times.iter().map(|(t, _)| *t).max().unwrap_or(first);
        let seconds = (last - first).as_secs_f64();
        rows.push((count, done["sentCount"].as_i64().unwrap_or(0), keys.len(), times.len() - keys.len(), seconds));
        for binary in &mut binaries {
            binary.stop().await;
        }
    }
    println!();
    println!(
        "cluster-dispatch: {} recipients, PostgreSQL, concurrency {} per instance",
        args.recipients, args.concurrency
    );
    println!();
    println!("| instances | sent | distinct at the mock | duplicates | send phase | messages/s | vs. one instance |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let single = rows.first().map(|row| row.1 as f64 / row.4).unwrap_or(1.0);
    for (count, sent, distinct, duplicates, seconds) in rows {
        let rate = sent as f64 / seconds;
        println!(
            "| {count} | {sent} | {distinct} | {duplicates} | {seconds:.2} s | **{rate:.0}** | {:.2}× |",
            rate / single
        );
    }
    database.drop_schema().await
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Contacts (recipients of each broadcast).
    #[arg(long, default_value_t = 20_000)]
    contacts: u64,
    /// The running broadcast's channel rate, messages per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of measured load (after a two-second warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Closed-loop clients per kind of request.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// The PostgreSQL database (a schema is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
}

/// Sends a broadcast and waits until it is COMPLETED; its final status and counts.
pub async fn send_and_wait(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<serde_json::Value> {
    gql(client, url, token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id })).await?;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let current = gql(
            client,
            url,
            token,
            "query($id: ID!) { broadcast(id: $id) { status sentCount totalMessages } }",
            json!({ "id": id }),
        )
        .await?["broadcast"]
            .clone();
        match current["status"].as_str() {
            Some("COMPLETED") => return Ok(current),
            Some("FAILED") => anyhow::bail!("the broadcast failed: {current}"),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "not done after 15 minutes: {current}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn no_errors(body: &[u8]) -> bool {
    !body.windows(9).any(|w| w == b"\"errors\"")
}

pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let database = setup::BenchDatabase::create(Some(&args.database_url)).await?;
    let (app, workspace_id, token) = setup::prepare_unlimited(&database).await?;
    setup::seed_contacts(&app, workspace_id, args.contacts, 20).await?;
    let (mock_url, arrivals) = mock_provider::start().await?;
    let env = [("PREGON_DISPATCH_POLL_MS", "50")];
    let mut binaries = Vec::new();
    for _ in 0..2 {
        binaries.push(setup::spawn_binary(&database, &env).await?);
    }
    let urls: Arc<Vec<String>> = Arc::new(binaries.iter().map(|b| format!("http://{}", b.address)).collect());
    let client = reqwest::Client::new();
    let graphql = format!("{}/graphql", urls[0]);

    // An earlier broadcast, sent at full speed: the webhooks report on its messages.
    let earlier = dispatch::broadcast_to_everyone(&client, &graphql, &token, &mock_url, 100_000, "earlier").await?;
    send_and_wait(&client, &graphql, &token, &earlier).await?;
    let (first_id, last_id): (i64, i64) = {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                format!("SELECT MIN(id) AS low, MAX(id) AS high FROM messages WHERE broadcast_id = {earlier}"),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no messages"))?;
        (row.try_get("", "low")?, row.try_get("", "high")?)
    };
    let channel: i64 = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT channel_id AS id FROM broadcasts WHERE id = {earlier}"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no channel"))?
        .try_get("", "id")?;

    let running =
        dispatch::broadcast_to_everyone(&client, &graphql, &token, &mock_url, args.rate, "under load").await?;
    arrivals.times.lock().expect("lock").clear();
    gql(&client, &graphql, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": running }))
        .await?;
    let (warm_up, duration) = (Duration::from_secs(2), Duration::from_secs(args.seconds));
    let next = Arc::new(AtomicUsize::new(0));
    let pick = move |urls: &[String]| urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()].clone();

    let queries = {
        let (urls, token, running, pick) = (urls.clone(), token.clone(), running.clone(), pick.clone());
        let turn = Arc::new(AtomicUsize::new(0));
        load::run(
            args.clients,
            warm_up,
            duration,
            move |client| {
                let query = if turn.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                    json!({ "query": "{ contacts(first: 20) { totalCount edges { node { id displayName tags { name } } } } }" })
                } else {
                    json!({ "query": "query($id: ID!) { broadcast(id: $id) { status sentCount deliveredCount failedCount } }", "variables": { "id": running } })
                };
                client.post(format!("{}/graphql", pick(&urls))).bearer_auth(&token).json(&query)
            },
            no_errors,
        )
    };
    let mutations = {
        let (urls, token, pick) = (urls.clone(), token.clone(), pick.clone());
        let serial = Arc::new(AtomicUsize::new(0));
        load::run(
            args.clients,
            warm_up,
            duration,
            move |client| {
                let n = serial.fetch_add(1, Ordering::Relaxed);
                let body = json!({
                    "query": "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                    "variables": { "input": { "firstName": format!("Load {n}"), "tags": ["load"] } },
                });
                client.post(format!("{}/graphql", pick(&urls))).bearer_auth(&token).json(&body)
            },
            no_errors,
        )
    };
    let webhooks = {
        let (urls, pick) = (urls.clone(), pick.clone());
        let serial = Arc::new(AtomicUsize::new(0));
        load::run(
            args.clients,
            warm_up,
            duration,
            move |client| {
                let n = serial.fetch_add(1, Ordering::Relaxed) as i64;
                let span = last_id - first_id + 1;
                let id = first_id + (n * 7919) % span;
                let status = if n / span % 2 == 0 { "DELIVERED" } else { "READ" };
                let body = json!({ "statuses": [{ "messageId": id.to_string(), "status": status }] });
                client.post(format!("{}/webhooks/{channel}", pick(&urls))).bearer_auth("bench").json(&body)
            },
            |_| true,
        )
    };
    let sent_before = arrivals.times.lock().expect("lock").len();
    let measured_from = Instant::now();
    let (queries, mutations, webhooks) = tokio::join!(queries, mutations, webhooks);
    let sent_during = arrivals.times.lock().expect("lock").len() - sent_before;
    let sending_rate = sent_during as f64 / measured_from.elapsed().as_secs_f64();
    println!();
    println!(
        "cluster-load: 2 instances, PostgreSQL, a broadcast to {} at {}/s running, {} clients per kind, {} s",
        args.contacts, args.rate, args.clients, args.seconds
    );
    println!();
    println!("| requests | count | errors | per second | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, result) in [("queries", queries), ("mutations", mutations), ("webhooks", webhooks)] {
        println!(
            "| {name} | {} | {} | {:.0} | {:.1} ms | **{:.1} ms** |",
            result.requests,
            result.errors,
            result.per_second(),
            result.p50_ms,
            result.p99_ms
        );
    }
    println!();
    println!("The broadcast meanwhile: {sent_during} messages, {sending_rate:.0}/s (channel rate {}/s).", args.rate);
    for binary in &mut binaries {
        binary.stop().await;
    }
    database.drop_schema().await
}
