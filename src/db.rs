//! Connecting to the database and migrating it.
//!
//! SQLite gets WAL journaling (readers never wait for the writer), `synchronous = NORMAL`
//! (durable at checkpoints, the usual choice with WAL), foreign keys on, and a busy timeout so
//! concurrent writers queue instead of failing. PostgreSQL is used as configured by its URL
//! (`?options[search_path]=…` selects a schema).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, SqlxSqliteConnector};
use secrecy::ExposeSecret;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::config::DatabaseConfig;

pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<DatabaseConnection> {
    let url = config.url.expose_secret();
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .context("DATABASE_URL is not a valid SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options)
            .await
            .context("could not open the SQLite database")?;
        return Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool));
    }
    if !config.is_postgres() {
        anyhow::bail!("DATABASE_URL must start with sqlite: or postgres://");
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(config.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // Statements are logged by our own spans when needed; sqlx's per-statement INFO
        // lines would drown everything else and may carry personal data.
        .sqlx_logging(false);
    Database::connect(options).await.context("could not connect to PostgreSQL")
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("database migration failed")
}
