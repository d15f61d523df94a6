//! Pregón's benchmark harness. Each scenario starts what it measures on this machine,
//! loopback only, bounded in time, and prints a Markdown row for BENCHMARKS.md.
//!
//! ```text
//! cargo bench --bench pregon-bench -- contacts-query [--contacts 100000] [--seconds 10]
//!     [--concurrency 16] [--database-url postgres://postgres@127.0.0.1:5432/test]
//! cargo bench --bench pregon-bench -- idle-subscriptions [--connections 2000]
//! ```

mod contacts_query;
mod idle_subscriptions;
mod load;
mod setup;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench` to harness-less targets; it is not ours.
    let args = std::env::args().filter(|arg| arg != "--bench");
    let cli = Cli::parse_from(args);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::ContactsQuery(args) => contacts_query::run(args).await,
            Scenario::IdleSubscriptions(args) => idle_subscriptions::run(args).await,
        }
    })
}
