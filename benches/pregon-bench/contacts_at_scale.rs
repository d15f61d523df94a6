//! N contacts (a million by default), seeded by the database itself, then:
//! - the CSV export of all of them through `GET /export/contacts.csv`, read as it streams,
//!   with this process's resident memory sampled every 20 ms;
//! - counting a two-condition segment (a tag AND created in the last 30 days) through
//!   `previewSegment { contactCount }`, repeated, median and worst.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pregon::startup::Application;
use serde_json::{Value, json};

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Contacts to seed.
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    /// Distinct tags (each contact carries two).
    #[arg(long, default_value_t = 20)]
    tags: u64,
    /// Times the segment is counted.
    #[arg(long, default_value_t = 20)]
    counts: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = setup::prepare(&database).await?;
    let seeded = setup::seed_contacts(&app, workspace_id, args.contacts, args.tags).await?;
    eprintln!("seeded {} contacts with two tags each in {seeded:.1} s", args.contacts);
    let application = Application::build(app.clone()).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();

    // Export.
    let peak = Arc::new(AtomicU64::new(0));
    let exporting = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, exporting) = (peak.clone(), exporting.clone());
        tokio::spawn(async move {
            while exporting.load(Ordering::Relaxed) {
                peak.fetch_max(setup::resident_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let before = setup::resident_kib();
    let started = Instant::now();
    let response =
        client.get(format!("{base}/export/contacts.csv")).bearer_auth(&token).send().await?.error_for_status()?;
    let first_byte = started.elapsed();
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let export_seconds = started.elapsed().as_secs_f64();
    exporting.store(false, Ordering::Relaxed);
    sampler.await?;
    let rows = lines.saturating_sub(1);
    anyhow::ensure!(rows == args.contacts, "exported {rows} rows, expected {}", args.contacts);

    // Segment count.
    let filter = json!({ "all": [
        { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["tag-3"] } },
        { "condition": { "field": "CREATED_AT", "operator": "WITHIN_LAST_DAYS", "days": 30 } },
    ] });
    let query = json!({ "query": "query($f: SegmentFilterInput!) { previewSegment(filter: $f) { contactCount } }", "variables": { "f": filter } });
    let mut times = Vec::new();
    let mut matched = Value::Null;
    for _ in 0..args.counts {
        let started = Instant::now();
        let body: Value =
            client.post(format!("{base}/graphql")).bearer_auth(&token).json(&query).send().await?.json().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        matched = body["data"]["previewSegment"]["contactCount"].clone();
        anyhow::ensure!(matched.is_u64(), "count failed: {body}");
    }
    times.sort_by(f64::total_cmp);

    println!();
    println!("contacts-at-scale: {} contacts, {}", args.contacts, database.label);
    println!();
    println!("| export rows | MB | seconds | rows/s | first byte | RSS before | RSS peak | growth |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let peak = peak.load(Ordering::Relaxed).max(before);
    println!(
        "| {rows} | {:.0} | {export_seconds:.2} | {:.0} | {:.0?} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        bytes as f64 / 1e6,
        rows as f64 / export_seconds,
        first_byte,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak - before) as f64 / 1024.0
    );
    println!();
    println!("| segment: tag-3 AND created within 30 days | matched | median ms | worst ms | counts |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| previewSegment {{ contactCount }} over HTTP | {matched} | {:.1} | {:.1} | {} |",
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    );
    database.drop_schema().await
}
