//! Configuration: every setting is a command-line flag and an environment variable
//! (the README's configuration table lists them all). One struct per concern.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
const DEFAULT_MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_MAX_QUERY_DEPTH: usize = 15;
const DEFAULT_MAX_QUERY_COMPLEXITY: usize = 5000;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
const DEFAULT_WORKSPACE_NAME: &str = "My workspace";
const DEFAULT_MONTHLY_MESSAGE_LIMIT: i64 = 100_000;
const DEFAULT_OWNER_EMAIL: &str = "owner@pregon.invalid";

/// Pregón: a GraphQL API server for business messaging broadcasts.
#[derive(Debug, Parser)]
#[command(name = "pregon", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub log: LogConfig,

    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub workspace: WorkspaceDefaults,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, create a first workspace if there is none, and serve (default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it, alone, on stdout. Creates the first workspace when
    /// there is none. The token belongs to the workspace's first user with that access level
    /// (one is created when there is none).
    Create {
        /// Access level the token carries.
        #[arg(long, value_enum)]
        role: CliRole,
        /// Workspace id (default: the first workspace).
        #[arg(long)]
        workspace: Option<i64>,
        /// A name to recognise the token by.
        #[arg(long, default_value = "CLI token")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace (named by `--workspace-name`, in `--time-zone`) with an owner and a
    /// sandbox channel; print the owner's API token, alone, on stdout (the id goes to stderr).
    Create,
}

/// Access levels as CLI values.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum CliRole {
    Owner,
    Admin,
    Manager,
    Agent,
}

impl From<CliRole> for entity::Role {
    fn from(role: CliRole) -> Self {
        match role {
            CliRole::Owner => entity::Role::Owner,
            CliRole::Admin => entity::Role::Admin,
            CliRole::Manager => entity::Role::Manager,
            CliRole::Agent => entity::Role::Agent,
        }
    }
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded, the default) or `postgres://…`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = "sqlite://pregon.db?mode=rwc", global = true)]
    pub url: SecretString,

    /// Largest number of pooled database connections.
    #[arg(long = "db-max-connections", env = "PREGON_DB_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub max_connections: u32,
}

impl DatabaseConfig {
    pub fn is_postgres(&self) -> bool {
        let url = self.url.expose_secret();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
}

/// What gets logged, on stderr.
#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log filter in `tracing` syntax, e.g. `info` or `pregon=debug,sqlx=warn`.
    #[arg(long = "log", env = "PREGON_LOG", default_value = "info", global = true)]
    pub filter: String,
}

/// The HTTP server and the limits it enforces.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "PREGON_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: SocketAddr,

    /// Largest accepted request body, in bytes; larger requests get 413.
    #[arg(long, env = "PREGON_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,

    /// Largest accepted GraphQL multipart upload (CSV imports), in bytes; larger is 413.
    #[arg(long, env = "PREGON_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES, global = true)]
    pub max_upload_bytes: usize,

    /// Deepest accepted GraphQL selection (introspection needs about 13).
    #[arg(long, env = "PREGON_MAX_QUERY_DEPTH", default_value_t = DEFAULT_MAX_QUERY_DEPTH, global = true)]
    pub max_query_depth: usize,

    /// Largest accepted GraphQL query complexity (each field costs 1, lists multiply by
    /// `first`).
    #[arg(long, env = "PREGON_MAX_QUERY_COMPLEXITY", default_value_t = DEFAULT_MAX_QUERY_COMPLEXITY, global = true)]
    pub max_query_complexity: usize,

    /// Seconds to let requests in flight finish after SIGTERM/SIGINT before exiting.
    #[arg(long, env = "PREGON_SHUTDOWN_GRACE_SECS", default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS, global = true)]
    pub shutdown_grace_secs: u64,
}

impl ServerConfig {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

impl Default for ServerConfig {
    /// The defaults clap applies, without reading the environment (tests and embedding).
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_query_depth: DEFAULT_MAX_QUERY_DEPTH,
            max_query_complexity: DEFAULT_MAX_QUERY_COMPLEXITY,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
        }
    }
}

impl Default for WorkspaceDefaults {
    fn default() -> Self {
        WorkspaceDefaults {
            name: DEFAULT_WORKSPACE_NAME.into(),
            time_zone: "UTC".into(),
            monthly_message_limit: DEFAULT_MONTHLY_MESSAGE_LIMIT,
            owner_email: DEFAULT_OWNER_EMAIL.into(),
        }
    }
}

/// Settings of a workspace created by first start or by `workspace create`.
#[derive(Debug, Clone, Args)]
pub struct WorkspaceDefaults {
    /// Name of a new workspace.
    #[arg(long = "workspace-name", env = "PREGON_WORKSPACE_NAME", default_value = DEFAULT_WORKSPACE_NAME, global = true)]
    pub name: String,

    /// IANA time zone of a new workspace (reports and calendars use it).
    #[arg(long = "time-zone", env = "PREGON_TIME_ZONE", default_value = "UTC", global = true)]
    pub time_zone: String,

    /// Plan limit of a new workspace: broadcast messages per calendar month.
    #[arg(long = "monthly-message-limit", env = "PREGON_MONTHLY_MESSAGE_LIMIT", default_value_t = DEFAULT_MONTHLY_MESSAGE_LIMIT, global = true)]
    pub monthly_message_limit: i64,

    /// Email of a new workspace's owner.
    #[arg(long = "owner-email", env = "PREGON_OWNER_EMAIL", default_value = DEFAULT_OWNER_EMAIL, global = true)]
    pub owner_email: String,
}
