//! A fresh database for a scenario (a temporary SQLite file, or a new schema in the given
//! PostgreSQL database, dropped at the end), and the server on a free port.

use std::time::Instant;

use pregon::app::AppState;
use pregon::config::{DatabaseConfig, ServerConfig, WorkspaceDefaults};
use pregon::services::workspaces;
use sea_orm::ConnectionTrait;

pub struct BenchDatabase {
    pub config: DatabaseConfig,
    pub label: &'static str,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDatabase {
    pub async fn create(url: Option<&str>) -> anyhow::Result<BenchDatabase> {
        match url {
            Some(admin_url) if admin_url.starts_with("postgres") => {
                let schema = format!("bench_{}", std::process::id());
                let admin = sea_orm::Database::connect(admin_url).await?;
                admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
                admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await?;
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options[search_path]={schema}");
                Ok(BenchDatabase {
                    config: DatabaseConfig { url: url.into(), max_connections: 16 },
                    label: "PostgreSQL",
                    cleanup: Some((admin_url.to_owned(), schema)),
                    _dir: None,
                })
            }
            _ => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
                Ok(BenchDatabase {
                    config: DatabaseConfig { url: url.into(), max_connections: 16 },
                    label: "SQLite",
                    cleanup: None,
                    _dir: Some(dir),
                })
            }
        }
    }

    pub async fn drop_schema(self) -> anyhow::Result<()> {
        if let Some((admin_url, schema)) = &self.cleanup {
            let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
            admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
        }
        Ok(())
    }
}

/// Migrates a fresh database and creates a workspace; returns the state and owner token.
pub async fn prepare(database: &BenchDatabase) -> anyhow::Result<(AppState, i64, String)> {
    let started = Instant::now();
    let config = ServerConfig { bind: "127.0.0.1:0".parse()?, ..ServerConfig::default() };
    let app = pregon::startup::prepare(&database.config, config).await?;
    let created = workspaces::create_workspace(&app.db, &WorkspaceDefaults::default())
        .await
        .map_err(|err| anyhow::anyhow!("workspace: {err}"))?;
    eprintln!("database ready ({}) in {:.1?}", database.label, started.elapsed());
    Ok((app, created.workspace.id, created.owner_token))
}
