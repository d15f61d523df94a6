//! The `pregon` command: serve (default), migrate, schema, token create, workspace create.
//!
//! Anything meant for scripts (a token, the SDL) goes alone to stdout; everything else to
//! stderr or the log.

use anyhow::Context;

use crate::config::{Cli, Command, TokenCommand, WorkspaceCommand};
use crate::services::{api_tokens, workspaces};
use crate::startup::{self, Application};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.database, cli.server, cli.dispatcher, cli.workspace).await,
        Command::Migrate => {
            let db = crate::db::connect(&cli.database).await?;
            crate::db::migrate(&db).await?;
            eprintln!("Database is up to date.");
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Token(TokenCommand::Create { role, workspace, name }) => {
            let db = crate::db::connect(&cli.database).await?;
            crate::db::migrate(&db).await?;
            if let Some(created) = workspaces::ensure_first_workspace(&db, &cli.workspace).await? {
                eprintln!("Created workspace \"{}\" (id {}).", created.workspace.name, created.workspace.id);
            }
            let (workspace_id, token) = api_tokens::create_cli_token(&db, workspace, role.into(), &name).await?;
            eprintln!("Token for workspace {workspace_id}:");
            println!("{token}");
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Create) => {
            let db = crate::db::connect(&cli.database).await?;
            crate::db::migrate(&db).await?;
            let created = workspaces::create_workspace(&db, &cli.workspace).await?;
            eprintln!(
                "Created workspace \"{}\" (id {}); its owner's token:",
                created.workspace.name, created.workspace.id
            );
            println!("{}", created.owner_token);
            Ok(())
        }
    }
}

async fn serve(
    database: crate::config::DatabaseConfig,
    server: crate::config::ServerConfig,
    dispatcher: crate::config::DispatcherConfig,
    workspace: crate::config::WorkspaceDefaults,
) -> anyhow::Result<()> {
    let backend = if database.is_postgres() { "PostgreSQL" } else { "SQLite" };
    // Listen for SIGTERM/SIGINT from the start, so that a signal at any moment is graceful.
    let shutdown = startup::shutdown_signal();
    let app = startup::prepare(&database, server, dispatcher).await.context("could not prepare the database")?;
    tracing::info!(backend, "database ready");
    if let Some(created) = workspaces::ensure_first_workspace(&app.db, &workspace).await? {
        banner(&format!(
            "\n  Created workspace \"{}\" (id {}) and its owner.\n  Owner API token (shown once, store it):\n\n      {}\n\n  \
             Send it as the header  Authorization: Bearer <token>\n  Lost it? `pregon token create --role OWNER` makes another.",
            created.workspace.name, created.workspace.id, created.owner_token
        ));
    }
    let application = Application::build(app).await?;
    let address = application.local_addr();
    banner(&format!(
        "\n  Pregón is serving GraphQL at http://{address}/graphql\n  GraphiQL explorer:            http://{address}/\n"
    ));
    tracing::info!(%address, "listening");
    application.run_until_stopped(shutdown).await
}

/// Writes the start-up banner to stdout. A closed stdout (a pipe whose reader went away)
/// must not bring the server down, so write errors are ignored.
fn banner(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}
