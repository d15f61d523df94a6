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

    #[command(flatten)]
    pub dispatcher: DispatcherConfig,

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

    /// The URL providers reach this server at (e.g. `https://pregon.example.com`): webhook
    /// URLs given to providers are built from it, and Twilio signs the URL it calls. Defaults
    /// to `http://` and the bound address.
    #[arg(long, env = "PREGON_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

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
            public_url: None,
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

/// The dispatcher: how it claims, retries and times out, and how the sandbox behaves.
#[derive(Debug, Clone, Args)]
pub struct DispatcherConfig {
    /// Whether this instance sends: `false` makes an API-only instance (it serves queries,
    /// mutations, webhooks and subscriptions; the other instances on the same PostgreSQL send).
    #[arg(long = "dispatch", env = "PREGON_DISPATCH", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub enabled: bool,

    /// Milliseconds between the dispatcher's looks for due broadcasts and queued messages
    /// (it is also woken at once by sends and schedule changes).
    #[arg(long = "dispatch-poll-ms", env = "PREGON_DISPATCH_POLL_MS", default_value_t = 250, global = true)]
    pub poll_ms: u64,

    /// Seconds a claimed message may stay SENDING before another sender retries it (with the
    /// same idempotency key): what a crash costs in delay.
    #[arg(long = "dispatch-lease-secs", env = "PREGON_DISPATCH_LEASE_SECS", default_value_t = 60, global = true)]
    pub lease_secs: u64,

    /// Messages one lane (a broadcast on a channel) has at the provider at once.
    #[arg(long = "dispatch-concurrency", env = "PREGON_DISPATCH_CONCURRENCY", default_value_t = 64, global = true)]
    pub concurrency: usize,

    /// First retry delay after a transient provider error, in milliseconds; it doubles per
    /// attempt (with jitter) up to `--retry-max-ms`.
    #[arg(long = "retry-base-ms", env = "PREGON_RETRY_BASE_MS", default_value_t = 1000, global = true)]
    pub retry_base_ms: u64,

    /// Longest retry delay, in milliseconds (a provider's Retry-After may ask for more).
    #[arg(long = "retry-max-ms", env = "PREGON_RETRY_MAX_MS", default_value_t = 60_000, global = true)]
    pub retry_max_ms: u64,

    /// Attempts per message before a transient error fails it.
    #[arg(long = "max-attempts", env = "PREGON_MAX_ATTEMPTS", default_value_t = 6, global = true)]
    pub max_attempts: u32,

    /// Seconds to wait for a provider's answer.
    #[arg(long = "provider-timeout-secs", env = "PREGON_PROVIDER_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub provider_timeout_secs: u64,

    /// Sandbox channel: milliseconds the simulated provider takes to accept a message.
    #[arg(long = "sandbox-latency-ms", env = "PREGON_SANDBOX_LATENCY_MS", default_value_t = 50, global = true)]
    pub sandbox_latency_ms: u64,

    /// Sandbox channel: percent of messages the simulated provider rejects.
    #[arg(long = "sandbox-failure-percent", env = "PREGON_SANDBOX_FAILURE_PERCENT", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=100), global = true)]
    pub sandbox_failure_percent: u8,

    /// Sandbox channel: milliseconds until an accepted message is reported delivered (and as
    /// long again until read).
    #[arg(long = "sandbox-delivery-ms", env = "PREGON_SANDBOX_DELIVERY_MS", default_value_t = 1500, global = true)]
    pub sandbox_delivery_ms: u64,

    /// Sandbox channel: percent of delivered messages later reported read.
    #[arg(long = "sandbox-read-percent", env = "PREGON_SANDBOX_READ_PERCENT", default_value_t = 60, value_parser = clap::value_parser!(u8).range(0..=100), global = true)]
    pub sandbox_read_percent: u8,
}

impl Default for DispatcherConfig {
    /// The defaults clap applies, without reading the environment (tests and embedding).
    fn default() -> Self {
        DispatcherConfig {
            enabled: true,
            poll_ms: 250,
            lease_secs: 60,
            concurrency: 64,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            max_attempts: 6,
            provider_timeout_secs: 10,
            sandbox_latency_ms: 50,
            sandbox_failure_percent: 5,
            sandbox_delivery_ms: 1500,
            sandbox_read_percent: 60,
        }
    }
}

impl DispatcherConfig {
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(10))
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(1))
    }

    pub fn provider_timeout(&self) -> Duration {
        Duration::from_secs(self.provider_timeout_secs.max(1))
    }

    pub fn sandbox(&self) -> crate::channels::sandbox::SandboxSettings {
        crate::channels::sandbox::SandboxSettings {
            latency: Duration::from_millis(self.sandbox_latency_ms),
            failure_percent: self.sandbox_failure_percent,
            delivery_delay: Duration::from_millis(self.sandbox_delivery_ms),
            read_percent: self.sandbox_read_percent,
        }
    }

    /// The delay before attempt `attempts + 1` after a transient error: exponential from the
    /// base, capped, with up to 20% jitter so that a burst of failures does not retry as one.
    pub fn backoff(&self, attempts: u32) -> Duration {
        use rand::Rng;
        let exponent = attempts.saturating_sub(1).min(20);
        let base = self.retry_base_ms.saturating_mul(1u64 << exponent).min(self.retry_max_ms);
        let jitter = rand::rng().random_range(0..=base / 5);
        Duration::from_millis(base + jitter)
    }
}
