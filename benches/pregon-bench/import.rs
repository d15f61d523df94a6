//! Importing a CSV of N rows through the real `/graphql` endpoint, uploaded as a GraphQL
//! multipart request: first ADD_ONLY into an empty workspace (every row created), then
//! ADD_AND_UPDATE of the same file (every row matched by phone and updated).

use std::time::{Duration, Instant};

use pregon::startup::Application;
use serde_json::{Value, json};

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Rows in the file.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
}

/// A file like a real one: names, a phone in national format with spaces, an email, two
/// tags, a custom field.
fn csv(rows: usize) -> String {
    let mut csv = String::from("First name,Last name,Phone,Email,Tags,Tier\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "Name{i},Surname{},+1 415 {:03} {:04},person{i}@example.com,\"clientes, zona-{}\",{}\n",
            i % 997,
            200 + (i / 10_000) % 800,
            i % 10_000,
            i % 20,
            ["gold", "silver", "bronze"][i % 3]
        ));
    }
    csv
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, _, token) = setup::prepare(&database).await?;
    let mut config = app.config.clone();
    config.max_upload_bytes = 512 * 1024 * 1024;
    let app = pregon::app::AppState(std::sync::Arc::new(pregon::app::App {
        db: app.db.clone(),
        events: app.events.clone(),
        progress: Default::default(),
        config,
        dispatch: app.dispatch.clone(),
        dispatcher_wake: Default::default(),
        public_url: Default::default(),
        ingestor: Default::default(),
        channels: Default::default(),
    }));
    let application = Application::build(app.clone()).await?;
    let url = format!("http://{}/graphql", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let field = json!({ "query": "mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }" });
    client.post(&url).bearer_auth(&token).json(&field).send().await?.error_for_status()?;

    let file = csv(args.rows);
    let mut results = Vec::new();
    for mode in ["ADD_ONLY", "ADD_AND_UPDATE"] {
        let operations = json!({
            "query": format!("mutation($file: Upload!) {{ importContacts(file: $file, mode: {mode}, identifier: PHONE, tags: [\"importado\"]) {{ rowsRead created updated skipped rejected }} }}"),
            "variables": { "file": null },
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.file"] }).to_string())
            .part("0", reqwest::multipart::Part::bytes(file.clone().into_bytes()).file_name("contacts.csv"));
        let started = Instant::now();
        let body: Value = client.post(&url).bearer_auth(&token).multipart(form).send().await?.json().await?;
        let seconds = started.elapsed().as_secs_f64();
        let report = body["data"]["importContacts"].clone();
        anyhow::ensure!(report.is_object(), "import failed: {body}");
        results.push((mode, seconds, report));
    }

    println!();
    println!("import: {} rows ({:.1} MB), {}", args.rows, file.len() as f64 / 1e6, database.label);
    println!();
    println!("| mode | seconds | rows/s | created | updated | rejected |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, seconds, report) in results {
        println!(
            "| {mode} | {seconds:.2} | {:.0} | {} | {} | {} |",
            args.rows as f64 / seconds,
            report["created"],
            report["updated"],
            report["rejected"]
        );
    }
    database.drop_schema().await
}
