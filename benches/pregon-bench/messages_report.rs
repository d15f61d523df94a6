//! The messages report over N messages (a million by default), seeded by the database
//! itself over the last 60 days on three channels: a quarter incoming, the rest outgoing
//! with every source, type and delivery status. Then `messagesReport(range: LAST_30_DAYS)`
//! with every section, through /graphql, repeated: median and worst.

use std::time::Instant;

use pregon::startup::Application;
use serde_json::{Value, json};

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Messages to seed.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Times the report is asked for.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

const REPORT: &str = "query { messagesReport(range: { preset: LAST_30_DAYS }) { days
    incoming { ...S } outgoingByChannel { ...S } outgoingBySource { ...S } outgoingByType { ...S } outgoingBySubtype { ...S } delivery { ...S } } }
  fragment S on ReportSection { applicable notice total series groups { key label count percent series } }";

pub async fn run(args: Args) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = setup::prepare(&database).await?;
    let mut channels = Vec::new();
    for (name, kind) in [("Sandbox A", "SANDBOX"), ("Sandbox B", "SANDBOX"), ("Sandbox C", "SANDBOX")] {
        let id = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                format!(
                    "INSERT INTO channels (workspace_id, name, kind, credentials, created_at, updated_at) \
                     VALUES ({workspace_id}, '{name}', '{kind}', '{{}}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
                ),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no channel id"))?
            .try_get_by_index::<i64>(0)?;
        channels.push(id);
    }
    let first_channel = channels[0];
    let started = Instant::now();
    let backend = app.db.get_database_backend();
    // n → direction (1 in 4 incoming), channel, source, type, subtype, status, a time within
    // the last 60 days (evenly spread).
    let step = (5_184_000 / args.messages.max(1)).max(1);
    let columns = "workspace_id, channel_id, direction, source, message_type, subtype, content, status, sent_at, delivered_at, read_at, failed_at, attempts, created_at, updated_at";
    let sql = match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO messages ({columns}) \
             SELECT {workspace_id}, {first_channel} + (n % 3), \
               CASE WHEN n % 4 = 0 THEN 'INCOMING' ELSE 'OUTGOING' END, \
               CASE WHEN n % 4 = 0 THEN NULL ELSE (ARRAY['USER','BOT','BROADCAST','WORKFLOW','API','ZAPIER','ECHO'])[1 + n % 7] END, \
               CASE WHEN n % 4 = 0 THEN NULL ELSE (ARRAY['SESSION','FACEBOOK_MESSAGE_TAG','WHATSAPP_TEMPLATE'])[1 + n % 3] END, \
               CASE WHEN n % 4 = 0 OR n % 3 = 0 THEN NULL ELSE 'subtype-' || (n % 5) END, \
               '{{\"text\": \"x\"}}'::jsonb, \
               CASE WHEN n % 4 = 0 THEN 'DELIVERED' ELSE (ARRAY['SENT','DELIVERED','READ','FAILED'])[1 + n % 4] END, \
               CASE WHEN n % 4 <> 0 AND n % 4 <> 3 THEN t END, \
               CASE WHEN n % 4 = 0 OR n % 4 = 1 OR n % 4 = 2 THEN t END, \
               CASE WHEN n % 4 = 2 THEN t END, \
               CASE WHEN n % 4 = 3 THEN t END, \
               1, t, t \
             FROM (SELECT n, now() - (((n * {step}) % 5184000) || ' seconds')::interval AS t FROM generate_series(1, {}) n) g",
            args.messages
        ),
        _ => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {}), \
             s(n, t) AS (SELECT n, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || ((n * {step}) % 5184000) || ' seconds') FROM g) \
             INSERT INTO messages ({columns}) \
             SELECT {workspace_id}, {first_channel} + (n % 3), \
               CASE WHEN n % 4 = 0 THEN 'INCOMING' ELSE 'OUTGOING' END, \
               CASE WHEN n % 4 = 0 THEN NULL ELSE json_extract('[\"USER\",\"BOT\",\"BROADCAST\",\"WORKFLOW\",\"API\",\"ZAPIER\",\"ECHO\"]', '$[' || (n % 7) || ']') END, \
               CASE WHEN n % 4 = 0 THEN NULL ELSE json_extract('[\"SESSION\",\"FACEBOOK_MESSAGE_TAG\",\"WHATSAPP_TEMPLATE\"]', '$[' || (n % 3) || ']') END, \
               CASE WHEN n % 4 = 0 OR n % 3 = 0 THEN NULL ELSE 'subtype-' || (n % 5) END, \
               '{{\"text\": \"x\"}}', \
               CASE WHEN n % 4 = 0 THEN 'DELIVERED' ELSE json_extract('[\"SENT\",\"DELIVERED\",\"READ\",\"FAILED\"]', '$[' || (n % 4) || ']') END, \
               CASE WHEN n % 4 <> 0 AND n % 4 <> 3 THEN t END, \
               CASE WHEN n % 4 = 0 OR n % 4 = 1 OR n % 4 = 2 THEN t END, \
               CASE WHEN n % 4 = 2 THEN t END, \
               CASE WHEN n % 4 = 3 THEN t END, \
               1, t, t \
             FROM s",
            args.messages
        ),
    };
    app.db.execute_raw(Statement::from_string(backend, sql)).await?;
    // Fresh statistics and, on PostgreSQL, the visibility map that index-only scans need: what
    // autovacuum gives a table that is not being bulk-loaded this second.
    let maintenance = if backend == DbBackend::Postgres { "VACUUM ANALYZE messages" } else { "ANALYZE" };
    app.db.execute_unprepared(maintenance).await?;
    eprintln!("seeded {} messages in {:.1} s", args.messages, started.elapsed().as_secs_f64());

    let application = Application::build(app.clone()).await?;
    let base = format!("http://{}", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    let mut report = Value::Null;
    for _ in 0..args.runs {
        let started = Instant::now();
        let body: Value = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": REPORT }))
            .send()
            .await?
            .json()
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(body.get("errors").is_none(), "the report failed: {body}");
        report = body["data"]["messagesReport"].clone();
    }
    times.sort_by(f64::total_cmp);
    let counted = report["incoming"]["total"].as_i64().unwrap_or(0) + report["delivery"]["total"].as_i64().unwrap_or(0);
    println!();
    println!("messages-report: {} messages over 60 days, {}", args.messages, database.label);
    println!();
    println!("| messagesReport(LAST_30_DAYS), every section | messages counted | median ms | worst ms | runs |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| over HTTP | {counted} | **{:.1}** | {:.1} | {} |",
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    );
    database.drop_schema().await
}
