//! `contacts(first: 50)` with tags, over N contacts: the GraphQL endpoint against a plain
//! axum JSON handler that serves the same page through the same services and the same token
//! check. Both run in this process on loopback, one after the other, with the same load; the
//! ratio of their throughputs is the cost of the GraphQL layer.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use entity::{contact, contact_tag};
use pregon::app::AppState;
use pregon::services::contacts::{self, ContactFilter};
use pregon::services::tags;
use pregon::startup::Application;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, QuerySelect, TransactionTrait};
use serde::Serialize;
use serde_json::json;

use crate::{load, setup};

#[derive(clap::Args)]
pub struct Args {
    /// Contacts in the workspace.
    #[arg(long, default_value_t = 100_000)]
    contacts: usize,
    /// Distinct tags; each contact carries `tags_per_contact` of them.
    #[arg(long, default_value_t = 20)]
    tags: usize,
    #[arg(long, default_value_t = 2)]
    tags_per_contact: usize,
    /// Contacts per page.
    #[arg(long, default_value_t = 50)]
    page: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per endpoint (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// PostgreSQL URL to run against (a schema is created and dropped); SQLite otherwise.
    #[arg(long)]
    database_url: Option<String>,
    /// Load only one endpoint (to profile it alone).
    #[arg(long, value_enum)]
    only: Option<Endpoint>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Endpoint {
    Graphql,
    Plain,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let database = setup::BenchDatabase::create(args.database_url.as_deref()).await?;
    let (app, workspace_id, token) = setup::prepare(&database).await?;
    seed(&app, workspace_id, &args).await?;

    let application = Application::build(app.clone()).await?;
    let graphql_url = format!("http://{}/graphql", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    let plain_url = serve_plain(app.clone(), args.page).await?;

    let query = format!(
        "{{ contacts(first: {}) {{ edges {{ node {{ id firstName lastName phone email tags {{ name }} }} }} }} }}",
        args.page
    );
    let body = json!({ "query": query }).to_string();
    let warm_up = Duration::from_secs(2);
    let duration = Duration::from_secs(args.seconds);

    let plain_token = token.clone();
    let skipped = load::LoadResult { requests: 0, errors: 0, seconds: 1.0, p50_ms: 0.0, p99_ms: 0.0 };
    let plain = if args.only == Some(Endpoint::Graphql) {
        skipped
    } else {
        load::run(
            args.concurrency,
            warm_up,
            duration,
            move |client| client.get(&plain_url).bearer_auth(&plain_token),
            |body| body.starts_with(b"{\"contacts\":[{"),
        )
        .await
    };
    let graphql = if args.only == Some(Endpoint::Plain) {
        skipped
    } else {
        load::run(
            args.concurrency,
            warm_up,
            duration,
            move |client| {
                client
                    .post(&graphql_url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
            },
            |body| {
                body.starts_with(b"{\"data\":{\"contacts\":{\"edges\":[{")
                    && !body.windows(8).any(|w| w == b"\"errors\"")
            },
        )
        .await
    };

    let ratio = graphql.per_second() / plain.per_second();
    println!();
    println!(
        "contacts-query: {} contacts, page {}, {} clients, {} s each, {}",
        args.contacts, args.page, args.concurrency, args.seconds, database.label
    );
    println!();
    println!("| endpoint | requests/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|");
    for (name, result) in [("GraphQL `/graphql`", graphql), ("plain axum JSON", plain)] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} |",
            result.per_second(),
            result.p50_ms,
            result.p99_ms,
            result.errors
        );
    }
    println!();
    println!("GraphQL / plain throughput ratio: {ratio:.2}");
    database.drop_schema().await
}

/// Inserts the contacts, tags and tag links in large batches, one transaction.
async fn seed(app: &AppState, workspace_id: i64, args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let txn = app.db.begin().await?;
    let now = Utc::now();
    let rows = (0..args.contacts).map(|i| contact::ActiveModel {
        workspace_id: Set(workspace_id),
        first_name: Set(Some(format!("Name{i}"))),
        last_name: Set(Some(format!("Surname{}", i % 997))),
        phone: Set(Some(format!("+1415{:07}", i % 10_000_000))),
        email: Set(Some(format!("person{i}@example.com"))),
        language: Set(Some("es".into())),
        custom_fields: Set(json!({})),
        last_interaction_at: Set(None),
        last_interacted_channel_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    let rows: Vec<_> = rows.collect();
    for chunk in rows.chunks(1000) {
        contact::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    let names: Vec<String> = (0..args.tags).map(|i| format!("tag-{i}")).collect();
    let tag_ids: Vec<i64> = tags::ensure_tags(&txn, workspace_id, &names)
        .await
        .map_err(|err| anyhow::anyhow!("tags: {err}"))?
        .into_iter()
        .map(|tag| tag.id)
        .collect();
    let contact_ids: Vec<i64> = contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .order_by_asc(contact::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    let tag_count = tag_ids.len().max(1);
    let links: Vec<contact_tag::ActiveModel> = contact_ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| (0..args.tags_per_contact).map(move |k| (*id, (i + k * 7) % tag_count)))
        .map(|(contact_id, tag)| contact_tag::ActiveModel {
            contact_id: Set(contact_id),
            tag_id: Set(tag_ids[tag]),
            created_at: Set(now),
        })
        .collect();
    for chunk in links.chunks(5000) {
        contact_tag::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    txn.commit().await?;
    eprintln!("seeded {} contacts with {} tag links in {:.1?}", args.contacts, links.len(), started.elapsed());
    Ok(())
}

#[derive(Serialize)]
struct PlainPage {
    contacts: Vec<PlainContact>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainContact {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    tags: Vec<PlainTag>,
}

#[derive(Serialize)]
struct PlainTag {
    name: String,
}

#[derive(Clone)]
struct PlainState {
    app: AppState,
    page: u64,
}

/// The same page as the GraphQL query, as plain JSON: token check, one contacts query,
/// one tags query, serde.
async fn plain_contacts(State(state): State<PlainState>, headers: HeaderMap) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Ok(Some(scope)) = pregon::auth::authenticate(&state.app.db, authorization).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let page = match contacts::list_contacts(&state.app, &scope, &ContactFilter::default(), None, state.page).await {
        Ok(page) => page,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let ids: Vec<i64> = page.items.iter().map(|c| c.id).collect();
    let Ok(mut tags) = tags::tags_of_contacts(&state.app.db, scope.workspace_id, &ids).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let contacts = page
        .items
        .into_iter()
        .map(|c| PlainContact {
            id: c.id.to_string(),
            tags: tags.remove(&c.id).unwrap_or_default().into_iter().map(|t| PlainTag { name: t.name }).collect(),
            first_name: c.first_name,
            last_name: c.last_name,
            phone: c.phone,
            email: c.email,
        })
        .collect();
    axum::Json(PlainPage { contacts }).into_response()
}

async fn serve_plain(app: AppState, page: u64) -> anyhow::Result<String> {
    let router = axum::Router::new().route("/contacts", get(plain_contacts)).with_state(PlainState { app, page });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/contacts", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}
