use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a subscription update allocates and frees a few
/// dozen small blocks (the GraphQL value, its JSON, the frame), and glibc's malloc was a tenth
/// of the server's time when 10,000 updates went out at once (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = pregon::config::Cli::parse();
    let filter = EnvFilter::try_new(&cli.log.filter).unwrap_or_else(|err| {
        eprintln!("PREGON_LOG '{}' is not a valid filter ({err}); using 'info'.", cli.log.filter);
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match pregon::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pregon: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
