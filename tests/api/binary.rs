//! The `pregon` binary as a newcomer runs it: first start, the token it prints, SIGTERM,
//! and the `token create` and `schema` subcommands.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TestDatabase;

pub(crate) fn pregon(db: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pregon"));
    command
        .env("DATABASE_URL", db.url())
        .env("PREGON_BIND", "127.0.0.1:0")
        .env("PREGON_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Reads the banner until the GraphiQL line; returns (token if printed, GraphQL URL).
pub(crate) async fn read_banner(child: &mut Child) -> (Option<String>, String) {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("pregon: {line}");
        }
    });
    let mut token = None;
    let mut endpoint = None;
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let line = line.trim();
            if line.starts_with("pgn_") {
                token = Some(line.to_owned());
            }
            if let Some(url) = line.strip_prefix("Pregón is serving GraphQL at ") {
                endpoint = Some(url.to_owned());
            }
            if line.starts_with("GraphiQL explorer:") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the banner within 60 s");
    // Keep reading, as a terminal would.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (token, endpoint.expect("the GraphQL address is printed"))
}

async fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("exits within 20 s of SIGTERM").unwrap()
}

#[tokio::test]
async fn first_run_creates_a_workspace_prints_the_owner_token_once_and_stops_on_sigterm() {
    let db = TestDatabase::create().await;
    let mut child = pregon(&db).spawn().unwrap();
    let (token, endpoint) = read_banner(&mut child).await;
    let token = token.expect("the first run prints the owner token");

    let client = reqwest::Client::new();
    let body: Value = client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&json!({ "query": "{ viewer { role workspace { name } } channels { kind } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["viewer"]["role"], "OWNER", "{body:#}");
    assert_eq!(body["data"]["channels"], json!([{ "kind": "SANDBOX" }]), "a sandbox channel to try things with");

    let status = terminate(&mut child).await;
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");

    // A second start on the same database prints no token: it was shown once.
    let mut child = pregon(&db).spawn().unwrap();
    let (token_again, _) = read_banner(&mut child).await;
    assert_eq!(token_again, None);
    assert!(terminate(&mut child).await.success());
}

#[tokio::test]
async fn token_create_prints_only_a_token_that_works() {
    let db = TestDatabase::create().await;
    let output = pregon(&db).args(["token", "create", "--role", "AGENT"]).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.trim();
    assert!(token.starts_with("pgn_") && !token.contains(char::is_whitespace), "stdout is the token alone: {stdout:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Created workspace"));

    let connection = pregon::db::connect(&db.config()).await.unwrap();
    let scope = pregon::auth::authenticate_token(&connection, token).await.expect("the printed token authenticates");
    assert_eq!(scope.role, entity::Role::Agent);

    let output = pregon(&db).args(["token", "create", "--role", "AGENT", "--workspace", "999"]).output().await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("No workspace with id 999"));
}

#[tokio::test]
async fn the_schema_subcommand_prints_the_committed_sdl() {
    let db = TestDatabase::create().await;
    let output = pregon(&db).arg("schema").output().await.unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}
