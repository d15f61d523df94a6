//! `TestApp`: the real server on port 0 with a fresh database, and a client for it.
//!
//! SQLite by default (a temporary file per test). With `PREGON_TEST_DATABASE_URL` set, each
//! test gets a fresh PostgreSQL schema in that database, dropped when the test ends.

use pregon::app::AppState;
use pregon::config::{DatabaseConfig, DispatcherConfig, ServerConfig, WorkspaceDefaults};
use pregon::services::{api_tokens, workspaces};
use pregon::startup::{self, Application};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

pub use entity::Role;

/// A running server.
pub struct TestApp {
    pub address: String,
    pub app: AppState,
    /// The first workspace's owner token.
    pub token: String,
    pub workspace_id: i64,
    pub client: reqwest::Client,
    /// Dropped with the last instance on it: removes the test's database.
    database: std::sync::Arc<TestDatabase>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    config: ServerConfig,
    dispatch: DispatcherConfig,
}

/// Dispatcher settings for tests: quick polls, short leases and retries, a sandbox that
/// answers at once and always delivers.
pub fn test_dispatch() -> DispatcherConfig {
    DispatcherConfig {
        enabled: true,
        poll_ms: 50,
        lease_secs: 2,
        concurrency: 16,
        retry_base_ms: 100,
        retry_max_ms: 1000,
        max_attempts: 4,
        provider_timeout_secs: 2,
        sandbox_latency_ms: 0,
        sandbox_failure_percent: 0,
        sandbox_delivery_ms: 50,
        sandbox_read_percent: 100,
    }
}

/// Where a test's data lives; removed on drop.
pub enum TestDatabase {
    Sqlite { url: String, _dir: tempfile::TempDir },
    Postgres { url: String, admin_url: String, schema: String },
}

/// Whether the tests run on PostgreSQL (`PREGON_TEST_DATABASE_URL`); tests of several
/// instances need it.
pub fn on_postgres() -> bool {
    std::env::var("PREGON_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        match std::env::var("PREGON_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let schema = format!("t_{}", random_suffix());
                let admin =
                    sea_orm::Database::connect(&admin_url).await.expect("PREGON_TEST_DATABASE_URL is reachable");
                admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create test schema");
                admin.close().await.ok();
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                // The schema's name as the connections' application name, so that clean-up can
                // find them.
                let url = format!("{admin_url}{separator}options[search_path]={schema}&application_name={schema}");
                TestDatabase::Postgres { url, admin_url, schema }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("pregon.db").display());
                TestDatabase::Sqlite { url, _dir: dir }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig { url: self.url().to_owned().into(), max_connections: 5 }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, schema, .. } = self {
            let (admin_url, schema) = (admin_url.clone(), schema.clone());
            // Drop runs outside async code: clean up on a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async {
                    if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                        // A test's runtime ends with its tasks dropped mid-await: a connection can
                        // be left open inside a transaction, holding locks the DROP would wait
                        // for forever. End the test's connections first.
                        let _ = admin
                            .execute_unprepared(&format!(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                                 WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                            ))
                            .await;
                        let _ = admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// With `PREGON_TEST_LOG` set (e.g. `pregon=debug`), the server's log goes to the test output.
fn init_logging() {
    if let Ok(filter) = std::env::var("PREGON_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// A contacts CSV of `count` people named `<name> <i>`, each with a distinct phone number
/// `<prefix><i, 7 digits>` (`prefix` such as `+59399`), for `importContacts` with `identifier: PHONE`.
pub fn phone_contacts_csv(count: usize, name: &str, prefix: &str) -> String {
    let mut csv = String::from("first_name,phone\n");
    for i in 0..count {
        csv.push_str(&format!("{name} {i},{prefix}{i:07}\n"));
    }
    csv
}

pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(ServerConfig::default()).await
    }

    pub async fn spawn_with(config: ServerConfig) -> TestApp {
        Self::spawn_with_dispatch(config, test_dispatch()).await
    }

    pub async fn spawn_with_dispatch(mut config: ServerConfig, dispatch: DispatcherConfig) -> TestApp {
        init_logging();
        config.bind = "127.0.0.1:0".parse().unwrap();
        let database = TestDatabase::create().await;
        let app =
            startup::prepare(&database.config(), config.clone(), dispatch.clone()).await.expect("database prepared");
        let created = workspaces::create_workspace(&app.db, &WorkspaceDefaults::default()).await.expect("workspace");
        let mut test = TestApp {
            address: String::new(),
            app,
            token: created.owner_token,
            workspace_id: created.workspace.id,
            client: reqwest::Client::new(),
            database: std::sync::Arc::new(database),
            shutdown: None,
            running: None,
            config,
            dispatch,
        };
        test.serve().await;
        test
    }

    async fn serve(&mut self) {
        let application = Application::build(self.app.clone()).await.expect("server built");
        self.address = format!("http://{}", application.local_addr());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        self.running = Some(tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        })));
        self.shutdown = Some(shutdown);
    }

    /// Asks the server to stop, as SIGTERM would.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops the server as SIGTERM would and waits until it has.
    pub async fn stop_and_wait(&mut self) {
        self.stop();
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }

    /// Starts the server again on the same database, as a restart would; `pause` passes
    /// between the two.
    pub async fn restart(&mut self, pause: std::time::Duration) {
        self.stop_and_wait().await;
        tokio::time::sleep(pause).await;
        self.app = startup::prepare(&self.database.config(), self.config.clone(), self.dispatch.clone())
            .await
            .expect("database prepared");
        self.serve().await;
    }

    /// Another instance on this one's database, with these dispatcher settings (PostgreSQL:
    /// SQLite is embedded, one instance). It shares the first workspace and its owner token.
    pub async fn peer(&self, dispatch: DispatcherConfig) -> TestApp {
        let app = startup::prepare(&self.database.config(), self.config.clone(), dispatch.clone())
            .await
            .expect("database prepared");
        let mut peer = TestApp {
            address: String::new(),
            app,
            token: self.token.clone(),
            workspace_id: self.workspace_id,
            client: reqwest::Client::new(),
            database: self.database.clone(),
            shutdown: None,
            running: None,
            config: self.config.clone(),
            dispatch,
        };
        peer.serve().await;
        peer
    }

    /// The one row `sql` selects, read straight from the database (for tests that check what
    /// is stored).
    pub async fn sql_row(&self, sql: impl Into<String>) -> sea_orm::QueryResult {
        let statement = sea_orm::Statement::from_string(self.app.db.get_database_backend(), sql.into());
        self.app.db.query_one_raw(statement).await.expect("the query runs").expect("it selects a row")
    }

    /// A GraphQL request as the workspace owner; the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.token), query, variables).await
    }

    /// A GraphQL request with `token` (or none); the whole response body.
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.client.post(format!("{}/graphql", self.address)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON body")
    }

    /// A GraphQL request as the owner with extra headers; the whole response body.
    pub async fn gql_with_headers(&self, headers: &[(&str, &str)], query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent").json().await.expect("JSON body")
    }

    /// `data` of a request that must succeed.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// An API token of `role` in the first workspace.
    pub async fn token_for(&self, role: Role) -> String {
        let (_, token) = api_tokens::create_cli_token(&self.app.db, Some(self.workspace_id), role, "test token")
            .await
            .expect("token created");
        token
    }

    /// A second workspace on the same server, and its owner's token.
    pub async fn other_workspace(&self) -> (i64, String) {
        let settings = WorkspaceDefaults { name: "Other business".into(), ..WorkspaceDefaults::default() };
        let created = workspaces::create_workspace(&self.app.db, &settings).await.expect("workspace");
        (created.workspace.id, created.owner_token)
    }

    /// Creates a contact as the owner and returns its id.
    pub async fn contact(&self, input: Value) -> String {
        let data = self
            .ok(
                "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data["createContact"]["id"].as_str().expect("contact id").to_owned()
    }

    /// Creates a channel as the owner and returns its id.
    pub async fn channel(&self, input: Value) -> String {
        let data = self
            .ok(
                "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data["createChannel"]["id"].as_str().expect("channel id").to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body:#}"))
}

/// The message of the first error.
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("no error message in {body:#}"))
}
