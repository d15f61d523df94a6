//! Pregón's benchmark harness. Each scenario starts what it measures on this machine,
//! loopback only, bounded in time, and prints a Markdown row for BENCHMARKS.md.
//!
//! ```text
//! cargo bench --bench pregon-bench -- contacts-query [--contacts 100000] [--seconds 10]
//!     [--concurrency 16] [--database-url postgres://postgres@127.0.0.1:5432/test]
//! cargo bench --bench pregon-bench -- idle-subscriptions [--connections 2000]
//! cargo bench --bench pregon-bench -- import [--rows 100000] [--database-url …]
//! cargo bench --bench pregon-bench -- contacts-at-scale [--contacts 1000000] [--database-url …]
//! cargo bench --bench pregon-bench -- dispatch [--recipients 50000] [--database-url …]
//! cargo bench --bench pregon-bench -- expansion [--contacts 1000000] [--database-url …]
//! cargo bench --bench pregon-bench -- rate-precision [--seconds 60] [--database-url …]
//! cargo bench --bench pregon-bench -- progress-subscribers [--subscribers 10000] [--database-url …]
//! cargo bench --bench pregon-bench -- cluster-dispatch [--recipients 30000] [--instances 1,2,3]
//! cargo bench --bench pregon-bench -- cluster-load [--contacts 20000] [--rate 500] [--seconds 20] [--clients 8]
//! cargo bench --bench pregon-bench -- callbacks [--contacts 20000] [--clients 32] [--database-url …]
//! ```

mod callbacks;
mod cluster;
mod contacts_at_scale;
mod contacts_query;
mod dispatch;
mod idle_subscriptions;
mod import;
mod load;
mod messages_report;
mod mock_provider;
mod progress_subscribers;
mod setup;

use clap::{Parser, Subcommand};

/// The harness allocates like the server it measures (see `src/main.rs`): it shares the
/// machine, so its own cost per message is kept small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "pregon-bench", about = "Pregón's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// `contacts(first: 50)` with tags through /graphql, against a plain axum JSON handler
    /// serving the same page from the same services, in the same run.
    ContactsQuery(contacts_query::Args),
    /// Resident memory per idle `contactChanged` subscriber of the `pregon` binary.
    IdleSubscriptions(idle_subscriptions::Args),
    /// A CSV import of N rows uploaded to /graphql: ADD_ONLY, then ADD_AND_UPDATE.
    Import(import::Args),
    /// N contacts: the streamed CSV export (rows/s, memory) and a two-condition segment count.
    ContactsAtScale(contacts_at_scale::Args),
    /// A broadcast's send phase on an unlimited custom channel to a loopback mock, against
    /// the mock's own throughput.
    Dispatch(dispatch::DispatchArgs),
    /// Expanding a broadcast to a segment of N contacts into message rows: time and memory.
    Expansion(dispatch::ExpansionArgs),
    /// Channels at 20/s and 80/s for a minute: the busiest one-second window and utilisation.
    RatePrecision(dispatch::RateArgs),
    /// N `broadcastProgress` subscribers of the `pregon` binary: memory when idle, and every
    /// update's lag while the broadcast runs.
    ProgressSubscribers(progress_subscribers::Args),
    /// `messagesReport(LAST_30_DAYS)` over N messages seeded across 60 days.
    MessagesReport(messages_report::Args),
    /// Dispatch throughput of 1, 2 and 3 `pregon` processes sharing one PostgreSQL.
    ClusterDispatch(cluster::Args),
    /// Queries, mutations and webhooks on two instances while a broadcast runs: p99, errors.
    ClusterLoad(cluster::LoadArgs),
    /// Status callbacks and inbound messages against the send rate of the same run, and a
    /// kill -9 in a callback storm.
    Callbacks(callbacks::Args),
}

fn main() -> anyhow::Result<()> {
    // The server's own log, on stderr: PREGON_LOG=pregon=info shows its timings.
    let filter = std::env::var("PREGON_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    // `cargo bench` passes `--bench` to harness-less targets; it is not ours.
    let args = std::env::args().filter(|arg| arg != "--bench");
    let cli = Cli::parse_from(args);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::ContactsQuery(args) => contacts_query::run(args).await,
            Scenario::IdleSubscriptions(args) => idle_subscriptions::run(args).await,
            Scenario::Import(args) => import::run(args).await,
            Scenario::ContactsAtScale(args) => contacts_at_scale::run(args).await,
            Scenario::MessagesReport(args) => messages_report::run(args).await,
            Scenario::Dispatch(args) => dispatch::dispatch(args).await,
            Scenario::Expansion(args) => dispatch::expansion(args).await,
            Scenario::RatePrecision(args) => dispatch::rate_precision(args).await,
            Scenario::ProgressSubscribers(args) => progress_subscribers::run(args).await,
            Scenario::ClusterDispatch(args) => cluster::run(args).await,
            Scenario::ClusterLoad(args) => cluster::load(args).await,
            Scenario::Callbacks(args) => callbacks::run(args).await,
        }
    })
}
