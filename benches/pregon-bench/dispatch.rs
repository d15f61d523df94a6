//! The dispatcher's scenarios.
//!
//! - `dispatch`: a broadcast to N contacts on a CUSTOM channel with an unlimited rate (100,000
//!   per second) to the loopback mock, every status persisted; messages per second of the send
//!   phase (RUNNING to COMPLETED), against the mock's own throughput under closed-loop load
//!   (wrk-style, the same JSON body) in the same run.
//! - `expansion`: starting a broadcast to a segment of N contacts: the set-based expansion into
//!   message rows, its time and the process's resident-memory growth.
//! - `rate-precision`: two channels at 20/s and 80/s sending for a minute at once; the busiest
//!   one-second window (sliding, over the mock's arrival times) and the share of the rate used;
//!   with `--instances N` on PostgreSQL, N instances send together.

use std::time::{Duration, Instant};

use pregon::app::AppState;
use pregon::startup::Application;
use serde_json::json;

use crate::setup::gql;
use crate::{load, mock_provider, setup};

#[derive(clap::Args)]
pub struct DispatchArgs {
    /// Recipients of the broadcast.
    #[arg(long, default_value_t = 50_000)]
    recipients: u64,
    /// Messages a lane has at the provider at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(clap::Args)]
pub struct ExpansionArgs {
    /// Contacts in the segment.
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(clap::Args)]
pub struct RateArgs {
    /// Seconds to measure over.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Instances sending together: the harness's own and `pregon` binaries on the same
    /// database (more than one needs PostgreSQL).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

/// The app with the dispatcher's settings for a scenario, in a workspace whose plan allows a
/// billion broadcast messages a month.
async fn prepare(database: &setup::BenchDatabase, concurrency: usize) -> anyhow::Result<(AppState, i64, String)> {
    let (app, workspace_id, token) = setup::prepare_unlimited(database).await?;
    let mut dispatch = app.dispatch.clone();
    dispatch.concurrency = concurrency;
    dispatch.poll_ms = 50;
    let app = AppState(std::sync::Arc::new(pregon::app::App {
        db: app.db.clone(),
        events: app.events.clone(),
        progress: Default::default(),
        config: app.config.clone(),
        dispatch,
        dispatcher_wake: Default::default(),
        public_url: Default::default(),
        ingestor: Default::default(),
        channels: Default::default(),
    }));
    Ok((app, workspace_id, token))
}

/// A CUSTOM channel to `mock_url` at `rate` per second, a segment of every contact, and a
/// DRAFT broadcast; answers the broadcast's id.
pub async fn broadcast_to_everyone(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    mock_url: &str,
    rate: u32,
    name: &str,
) -> anyhow::Result<String> {
    let channel = gql(
        client,
        url,
        token,
        "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
        json!({ "input": { "name": name, "kind": "CUSTOM", "baseUrl": mock_url, "credentials": { "secret": "bench" }, "rateLimit": { "count": rate } } }),
    )
    .await?["createChannel"]["id"]
        .clone();
    let segment = gql(
        client,
        url,
        token,
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
        json!({ "input": { "name": name, "filter": { "all": [] } } }),
    )
    .await?["createSegment"]["id"]
        .clone();
    let broadcast = gql(
        client,
        url,
        token,
        "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
        json!({ "input": { "name": name, "channelId": channel, "segmentId": segment, "content": { "text": "Hola {{name}}, tu pedido salió" } } }),
    )
    .await?["createBroadcast"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(broadcast)
}

pub async fn dispatch(args: DispatchArgs) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = prepare(&database, args.concurrency).await?;
    let seeded = setup::seed_contacts(&app, workspace_id, args.recipients, 20).await?;
    eprintln!("{} contacts seeded in {seeded:.1} s", args.recipients);
    let (mock_url, arrivals) = mock_provider::start().await?;

    // The mock alone, closed loop, the body the custom adapter sends.
    let body = json!({ "messageId": "1", "to": "+14155550100", "type": "SESSION", "text": "Hola {{name}}, tu pedido salió", "broadcastId": "1", "contactId": "1" });
    let target = mock_url.clone();
    let mock_alone = load::run(
        args.concurrency.min(64),
        Duration::from_secs(1),
        Duration::from_secs(5),
        move |client| client.post(&target).bearer_auth("bench").header("Idempotency-Key", "1").json(&body),
        |_| true,
    )
    .await;
    arrivals.times.lock().expect("lock").clear();

    let application = Application::build(app.clone()).await?;
    let url = format!("http://{}/graphql", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let id = broadcast_to_everyone(&client, &url, &token, &mock_url, 100_000, "throughput").await?;
    let model =
        pregon::services::broadcasts::find_broadcast(&app.db, &pregon::auth::Scope::system(workspace_id), id.parse()?)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?
            .ok_or_else(|| anyhow::anyhow!("no broadcast"))?;
    let mut progress = app.progress.subscribe(&model).into_receiver();
    let started = Instant::now();
    gql(&client, &url, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id })).await?;
    let mut running_at = None;
    let last = loop {
        tokio::time::timeout(Duration::from_secs(600), progress.changed()).await??;
        let snapshot = progress.borrow_and_update().clone();
        if running_at.is_none() && snapshot.status == entity::BroadcastStatus::Running {
            running_at = Some(Instant::now());
        }
        if snapshot.is_terminal() {
            break snapshot;
        }
    };
    let done = Instant::now();
    anyhow::ensure!(last.status == entity::BroadcastStatus::Completed, "the broadcast ended {:?}", last.status);
    let running_at = running_at.unwrap_or(started);
    let send_seconds = (done - running_at).as_secs_f64();
    let rate = last.sent as f64 / send_seconds;
    let received = arrivals.times.lock().expect("lock").len();
    println!();
    println!("dispatch: {} recipients, {}, concurrency {}", args.recipients, database.label, args.concurrency);
    println!();
    println!(
        "| database | messages | sent | start (expansion) | send phase | messages/s | mock alone (req/s) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.2} s | {:.2} s | **{:.0}** | {:.0} | {:.2} |",
        database.label,
        last.total,
        last.sent,
        (running_at - started).as_secs_f64(),
        send_seconds,
        rate,
        mock_alone.per_second(),
        rate / mock_alone.per_second()
    );
    anyhow::ensure!(received as i64 == last.sent, "the mock saw {received} messages, {} recorded sent", last.sent);
    database.drop_schema().await
}

pub async fn expansion(args: ExpansionArgs) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = prepare(&database, 64).await?;
    let seeded = setup::seed_contacts(&app, workspace_id, args.contacts, 20).await?;
    eprintln!("{} contacts seeded in {seeded:.1} s", args.contacts);
    // The API without the dispatcher: the start is driven directly, so nothing is sent.
    let router = pregon::router::router(pregon::http::HttpState {
        app: app.clone(),
        schema: pregon::graphql::build_schema(app.clone(), &app.config),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    let client = reqwest::Client::new();
    let id = broadcast_to_everyone(&client, &url, &token, "http://127.0.0.1:9/unused", 1, "expansion").await?;
    gql(&client, &url, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id })).await?;

    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let before = setup::resident_kib();
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(setup::resident_kib());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let model = pregon::dispatcher::start::start_broadcast(&app, id.parse()?)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?
        .ok_or_else(|| anyhow::anyhow!("the broadcast was not due"))?;
    let seconds = started.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await?;
    anyhow::ensure!(
        model.status == entity::BroadcastStatus::Running,
        "the broadcast did not start: {:?} {:?}",
        model.status,
        model.failure_reason
    );
    println!();
    println!("expansion: {} contacts, {}", args.contacts, database.label);
    println!();
    println!("| database | contacts | message rows | seconds | rows/s | RSS before | RSS peak | growth |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | **{:.2}** | {:.0} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        database.label,
        args.contacts,
        model.total_messages,
        seconds,
        model.total_messages as f64 / seconds,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0
    );
    database.drop_schema().await
}

pub async fn rate_precision(args: RateArgs) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = prepare(&database, 64).await?;
    let rates = [20u32, 80];
    // Enough recipients to keep both channels busy past the measured minute.
    let recipients = u64::from(rates[1]) * (args.seconds + 10);
    setup::seed_contacts(&app, workspace_id, recipients, 20).await?;
    let application = Application::build(app.clone()).await?;
    let url = format!("http://{}/graphql", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    anyhow::ensure!(args.instances <= 1 || database.label == "PostgreSQL", "several instances need PostgreSQL");
    let mut others = Vec::new();
    for _ in 1..args.instances {
        others.push(setup::spawn_binary(&database, &[("PREGON_DISPATCH_POLL_MS", "50")]).await?);
    }
    let client = reqwest::Client::new();
    let mut mocks = Vec::new();
    for rate in rates {
        let (mock_url, arrivals) = mock_provider::start().await?;
        let id = broadcast_to_everyone(&client, &url, &token, &mock_url, rate, &format!("rate {rate}")).await?;
        mocks.push((rate, id, arrivals));
    }
    for (_, id, _) in &mocks {
        gql(&client, &url, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id }))
            .await?;
    }
    // Wait for the first arrival at each, then the measured time and a second more.
    let deadline = Instant::now() + Duration::from_secs(120);
    while mocks.iter().any(|(_, _, a)| a.times.lock().expect("lock").is_empty()) {
        anyhow::ensure!(Instant::now() < deadline, "no messages arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.seconds + 2)).await;
    println!();
    println!("rate-precision: {} s, {}, {} instance(s)", args.seconds, database.label, args.instances);
    println!();
    println!("| rate | messages in {} s | utilisation | busiest 1 s window | windows above the rate |", args.seconds);
    println!("|---:|---:|---:|---:|---:|");
    for (rate, _, arrivals) in &mocks {
        let times: Vec<Instant> = arrivals.times.lock().expect("lock").iter().map(|(t, _)| *t).collect();
        let first = times[0];
        let window = Duration::from_secs(args.seconds);
        let measured: Vec<Instant> = times.iter().copied().filter(|t| *t - first < window).collect();
        let (mut busiest, mut above, mut j) = (0usize, 0usize, 0usize);
        // Every one-second window that starts at an arrival (the busiest windows do).
        for i in 0..times.len() {
            while j < times.len() && times[j] - times[i] < Duration::from_secs(1) {
                j += 1;
            }
            let count = j - i;
            busiest = busiest.max(count);
            if count > *rate as usize {
                above += 1;
            }
        }
        let utilisation = measured.len() as f64 / (f64::from(*rate) * args.seconds as f64);
        println!("| {rate}/s | {} | **{:.1}%** | {busiest} | {above} |", measured.len(), utilisation * 100.0);
    }
    for other in &mut others {
        other.stop().await;
    }
    database.drop_schema().await
}
