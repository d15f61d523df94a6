//! `cluster-dispatch`: how dispatch scales with several `pregon` processes on one PostgreSQL.
//!
//! The harness seeds N contacts, then for each instance count starts that many `pregon`
//! binaries (separate processes, as deployed) on the same schema, sends a broadcast to every
//! contact on a CUSTOM channel with an unlimited rate (100,000 per second) to its loopback mock,
//! and measures the send phase at the mock (first to last arrival), and duplicates (requests
//! beyond one per idempotency key). The instances are stopped with SIGTERM between runs.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::setup::gql;
use crate::{dispatch, mock_provider, setup};

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
    use sea_orm::ConnectionTrait;
    let database = setup::BenchDatabase::create(Some(&args.database_url)).await?;
    let (app, workspace_id, token) = setup::prepare(&database).await?;
    app.db
        .execute_unprepared(&format!(
            "UPDATE workspaces SET monthly_broadcast_message_limit = 1000000000 WHERE id = {workspace_id}"
        ))
        .await?;
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
        gql(&client, &url, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id }))
            .await?;
        let deadline = Instant::now() + Duration::from_secs(900);
        let done = loop {
            let current = gql(
                &client,
                &url,
                &token,
                "query($id: ID!) { broadcast(id: $id) { status sentCount totalMessages } }",
                json!({ "id": id }),
            )
            .await?["broadcast"]
                .clone();
            if current["status"] == "COMPLETED" || current["status"] == "FAILED" {
                break current;
            }
            anyhow::ensure!(Instant::now() < deadline, "not done after 15 minutes: {current}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        anyhow::ensure!(done["status"] == "COMPLETED", "the broadcast ended {done}");
        let times = arrivals.times.lock().expect("lock").clone();
        let keys: HashSet<&str> = times.iter().map(|(_, key)| key.as_str()).collect();
        let first = times.iter().map(|(t, _)| *t).min().ok_or_else(|| anyhow::anyhow!("nothing arrived"))?;
        let last = times.iter().map(|(t, _)| *t).max().unwrap_or(first);
        let seconds = (last - first).as_secs_f64();
        rows.push((count, done["sentCount"].as_i64().unwrap_or(0), keys.len(), times.len() - keys.len(), seconds));
        for binary in &mut binaries {
            let _ = std::process::Command::new("kill").args(["-TERM", &binary.pid.to_string()]).status();
        }
        for binary in &mut binaries {
            let _ = tokio::time::timeout(Duration::from_secs(30), binary.child.wait()).await;
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
