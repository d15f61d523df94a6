use clap::Parser;
use tracing_subscriber::EnvFilter;

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
