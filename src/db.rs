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
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, SqliteTransactionMode, SqlxSqliteConnector, TransactionOptions,
    TransactionTrait,
};
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

/// Starts a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
/// up front, waiting (up to the busy timeout) for the current writer. A deferred transaction that
/// reads first and writes later cannot wait: when another connection commits in between, SQLite
/// answers "database is locked" at once, which reached clients as 500s under concurrent
/// webhooks. PostgreSQL needs nothing special.
pub async fn begin_write<C: TransactionTrait>(conn: &C) -> Result<C::Transaction, sea_orm::DbErr> {
    conn.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// After a bulk write, refreshes the planner's statistics of the contact tables, so that the
/// next lookups on the new rows use the right indexes (without them both engines were seen
/// scanning a whole workspace per lookup). SQLite: `PRAGMA optimize`; PostgreSQL: `ANALYZE`
/// of the touched tables, which autovacuum would only do within a minute or so. A failure only
/// costs speed, so it is logged.
pub async fn refresh_statistics(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "ANALYZE contacts, contact_tags, tags",
        _ => "PRAGMA optimize",
    };
    if let Err(err) = db.execute_unprepared(sql).await {
        tracing::warn!(error = %err, "refreshing planner statistics failed");
    }
}

/// A `LIKE` pattern matching `text` anywhere, lower-cased (compare it with `LOWER(column)`),
/// with `%`, `_` and the escape character escaped.
pub fn contains_pattern(text: &str) -> sea_orm::sea_query::LikeExpr {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// A statement written once with `?` placeholders, numbered `$1, $2…` for PostgreSQL.
/// For the few set-based statements sea-query does not express; the SQL must not contain a
/// literal `?` (nor PostgreSQL's `?` JSON operator).
pub fn portable(backend: sea_orm::DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push_str(&format!("${n}"));
                } else {
                    numbered.push(c);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let values = vec![1.into(), 2.into()];
        let pg = super::portable(DbBackend::Postgres, "SELECT ? + ?", values.clone());
        assert_eq!(pg.sql, "SELECT $1 + $2");
        let sqlite = super::portable(DbBackend::Sqlite, "SELECT ? + ?", values);
        assert_eq!(sqlite.sql, "SELECT ? + ?");
    }
}
