//! Bad input, the reliability suite's fuzzing part: the GraphQL endpoint, CSV imports and
//! provider webhooks fed seeded pseudo-random and hand-picked malformed input, and a sweep of
//! every field of the running schema (found by introspection) called by one workspace with
//! another workspace's ids.
//!
//! Every answer must be a 4xx, or a well-formed answer whose errors carry one of the client
//! error codes — never a 5xx, `INTERNAL` or internal text (SQL, driver, panic, source paths);
//! the server must keep serving; and a refused request must write nothing. The generators
//! are seeded: a failure names its case and repeats on every run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::broadcasts::{custom_channel, draft, messages_of, segment, send_now, tagged_contacts, wait_done};
use crate::helpers::TestApp;
use crate::mock_provider::MockProvider;
use crate::providers::{hmac_sha1_base64, hmac_sha256_base64, hmac_sha256_hex};
use crate::subscriptions::{Socket, connect_as, next_json, send};

/// The codes a client mistake may answer with (README, "Errors"); `INTERNAL` is not one.
const CLIENT_CODES: [&str; 6] =
    ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "LIMIT_REACHED"];

/// Text that would mean an internal cause reached the client (compared without case).
const INTERNAL_TEXT: [&str; 22] = [
    "sqlx",
    "sqlstate",
    "sea_orm",
    "sea-orm",
    "dberr",
    "panicked",
    "query error",
    "execution error",
    "recordnotfound",
    "stack backtrace",
    "/src/",
    ".rs:",
    "no such table",
    "no such column",
    "syntax error at",
    "database is locked",
    "constraint failed",
    "violates",
    "duplicate key value",
    "too many sql variables",
    "invalid byte sequence",
    "internal error",
];

/// Debug formatting in a message meant for a person.
const DEBUG_TEXT: [&str; 5] = ["Error {", "Some(", "kind:", "ErrorKind", "Utf8Error"];

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// How long any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Shared checks

/// At most 400 characters of `text`, for assertion messages.
fn short(text: &str) -> String {
    let cut: String = text.chars().take(400).collect();
    if cut.len() < text.len() { format!("{cut}… ({} bytes)", text.len()) } else { cut }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap()
}

/// One HTTP answer, as received.
struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

async fn answer(request: reqwest::RequestBuilder, context: &str) -> Answer {
    let response = request.send().await.unwrap_or_else(|err| panic!("{context}: no answer: {err}"));
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = response.bytes().await.unwrap_or_else(|err| panic!("{context}: body not read: {err}"));
    Answer { status, content_type, text: String::from_utf8_lossy(&bytes).into_owned() }
}

fn assert_no_internal_text(context: &str, text: &str) {
    let lower = text.to_lowercase();
    for needle in INTERNAL_TEXT {
        assert!(!lower.contains(needle), "{context}: the answer shows internal text {needle:?}: {}", short(text));
    }
}

/// Every error of a GraphQL-shaped body has a message and a client code.
fn assert_client_errors(context: &str, body: &Value) {
    let Some(errors) = body.get("errors") else { return };
    let errors =
        errors.as_array().unwrap_or_else(|| panic!("{context}: errors is not a list: {}", short(&body.to_string())));
    assert!(!errors.is_empty(), "{context}: an empty errors list");
    for error in errors {
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.trim().is_empty(), "{context}: an error without a message: {error}");
        let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("{context}: no code in {error}"));
        assert!(
            CLIENT_CODES.contains(&code),
            "{context}: answered {code} to a client mistake: {}",
            short(&body.to_string())
        );
    }
}

/// A GraphQL answer: a client status, JSON, errors with client codes, nothing internal.
fn graphql_answer(context: &str, answer: &Answer) -> Value {
    assert!(answer.status < 500, "{context}: status {}: {}", answer.status, short(&answer.text));
    assert!(
        [200, 400, 401, 405, 406, 413, 415].contains(&answer.status),
        "{context}: unexpected status {}: {}",
        answer.status,
        short(&answer.text)
    );
    assert!(
        answer.content_type.starts_with("application/json") || answer.content_type.starts_with(GRAPHQL_RESPONSE),
        "{context}: content type {:?}",
        answer.content_type
    );
    let body: Value = serde_json::from_str(&answer.text)
        .unwrap_or_else(|err| panic!("{context}: not JSON ({err}): {}", short(&answer.text)));
    assert!(body.get("data").is_some() || body.get("errors").is_some(), "{context}: neither data nor errors: {body}");
    assert_client_errors(context, &body);
    assert_no_internal_text(context, &answer.text);
    body
}

/// Runs the checks in `f`; a failed one is recorded in `failures` (so that one run reports
/// every failing case) and answers `None`.
fn checked<T>(failures: &mut Vec<String>, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a check failed".into());
            failures.push(message);
            None
        }
    }
}

/// Every table's row count, over the whole database.
const TABLES: [&str; 13] = [
    "contacts",
    "segments",
    "broadcasts",
    "channels",
    "tags",
    "messages",
    "contact_tags",
    "contact_channels",
    "contact_fields",
    "users",
    "teams",
    "team_members",
    "api_tokens",
];

async fn row_counts(app: &TestApp) -> BTreeMap<&'static str, i64> {
    let columns: Vec<String> = TABLES.iter().map(|t| format!("(SELECT COUNT(*) FROM {t}) AS {t}")).collect();
    let sql = format!("SELECT {}", columns.join(", "));
    let row = app.sql_row(sql).await;
    TABLES.iter().map(|t| (*t, row.try_get::<i64>("", t).unwrap())).collect()
}

/// The rows `sql` selects, each as the text of its column `r`.
async fn text_rows(app: &TestApp, sql: &str) -> Vec<String> {
    app.app
        .db
        .query_all_raw(Statement::from_string(app.app.db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .iter()
        .map(|row| row.try_get::<String>("", "r").unwrap())
        .collect()
}

/// `columns` of each row as one text (NULL as empty), for a digest.
fn row_text(columns: &[&str]) -> String {
    let parts: Vec<String> = columns.iter().map(|c| format!("COALESCE(CAST({c} AS TEXT), '')")).collect();
    parts.join(" || '|' || ")
}

/// Everything of workspace `w` a request could change: each table's rows as text.
async fn workspace_rows(app: &TestApp, w: i64) -> BTreeMap<&'static str, Vec<String>> {
    let mut queries: Vec<(&'static str, &[&str], String)> = vec![
        ("workspaces", &["id", "name", "time_zone", "default_country", "updated_at"], format!("id = {w}")),
        (
            "contacts",
            &[
                "id",
                "first_name",
                "last_name",
                "phone",
                "email",
                "language",
                "custom_fields",
                "last_interaction_at",
                "last_interacted_channel_id",
                "updated_at",
            ],
            format!("workspace_id = {w}"),
        ),
        ("segments", &["id", "name", "filter", "updated_at"], format!("workspace_id = {w}")),
        (
            "broadcasts",
            &[
                "id",
                "name",
                "status",
                "channel_id",
                "segment_id",
                "content",
                "scheduled_at",
                "sent_count",
                "updated_at",
            ],
            format!("workspace_id = {w}"),
        ),
        (
            "channels",
            &["id", "name", "base_url", "credentials", "deleted_at", "updated_at"],
            format!("workspace_id = {w}"),
        ),
        ("tags", &["id", "name"], format!("workspace_id = {w}")),
        ("users", &["id", "name", "email", "role", "updated_at"], format!("workspace_id = {w}")),
        ("teams", &["id", "name", "updated_at"], format!("workspace_id = {w}")),
        ("api_tokens", &["id", "name", "role", "user_id", "revoked_at"], format!("workspace_id = {w}")),
        ("contact_fields", &["id", "key", "name"], format!("workspace_id = {w}")),
        (
            "messages",
            &["id", "status", "contact_id", "delivered_at", "read_at", "replied_at", "updated_at"],
            format!("workspace_id = {w}"),
        ),
        (
            "contact_channels",
            &["id", "contact_id", "channel_id", "identifier", "last_incoming_at", "unreachable_at"],
            format!("workspace_id = {w}"),
        ),
    ];
    let mut rows = BTreeMap::new();
    for (table, columns, filter) in queries.drain(..) {
        let sql = format!("SELECT {} AS r FROM {table} WHERE {filter} ORDER BY id", row_text(columns));
        rows.insert(table, text_rows(app, &sql).await);
    }
    rows.insert(
        "contact_tags",
        text_rows(
            app,
            &format!(
                "SELECT {} AS r FROM contact_tags JOIN contacts ON contacts.id = contact_tags.contact_id \
                 WHERE contacts.workspace_id = {w} ORDER BY contact_tags.contact_id, contact_tags.tag_id",
                row_text(&["contact_tags.contact_id", "contact_tags.tag_id"])
            ),
        )
        .await,
    );
    rows.insert(
        "team_members",
        text_rows(
            app,
            &format!(
                "SELECT {} AS r FROM team_members JOIN teams ON teams.id = team_members.team_id \
                 WHERE teams.workspace_id = {w} ORDER BY team_members.team_id, team_members.user_id",
                row_text(&["team_members.team_id", "team_members.user_id"])
            ),
        )
        .await,
    );
    rows
}

/// The server still serves: liveness, and a query that needs the database.
async fn assert_still_serving(app: &TestApp) {
    let live = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let data = app.ok("{ viewer { role } contacts { totalCount } }", json!({})).await;
    assert_eq!(data["viewer"]["role"], "OWNER");
}

// ---------------------------------------------------------------------------------------
// Mutators

/// Bytes GraphQL documents and JSON are made of, for insertions.
const SYNTAX: &[u8] = b"{}()[]:$!@\",.=#&|\\ \n\t0123456789-+eE.abcxyzABCXYZ_";

/// 1 to `max` random edits of `input`: deletions, insertions from `alphabet` (or any byte),
/// swaps, replacements, deleted or repeated spans, truncation.
fn mutate(rng: &mut StdRng, input: &[u8], alphabet: &[u8], max: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=max) {
        let len = out.len();
        let pick = |rng: &mut StdRng| {
            if rng.random_bool(0.85) { alphabet[rng.random_range(0..alphabet.len())] } else { rng.random::<u8>() }
        };
        match rng.random_range(0..8) {
            0 if len > 0 => {
                out.remove(rng.random_range(0..len));
            }
            1 => {
                let at = rng.random_range(0..=len);
                let byte = pick(rng);
                out.insert(at, byte);
            }
            2 if len > 1 => {
                let at = rng.random_range(0..len - 1);
                out.swap(at, at + 1);
            }
            3 if len > 0 => {
                let at = rng.random_range(0..len);
                out[at] = pick(rng);
            }
            4 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = (from + rng.random_range(1..=24)).min(len);
                out.drain(from..to);
            }
            5 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = (from + rng.random_range(1..=24)).min(len);
                let span = out[from..to].to_vec();
                let times = rng.random_range(1..=8);
                for _ in 0..times {
                    out.splice(to..to, span.iter().copied());
                }
            }
            6 if len > 0 => out.truncate(rng.random_range(0..len)),
            _ => {
                let at = rng.random_range(0..=len);
                let byte = pick(rng);
                out.insert(at, byte);
            }
        }
    }
    out
}

fn mutate_text(rng: &mut StdRng, input: &str, max: usize) -> String {
    String::from_utf8_lossy(&mutate(rng, input.as_bytes(), SYNTAX, max)).into_owned()
}

/// A value of the wrong kind, or an extreme one.
fn odd_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => Value::Null,
        1 => json!("x"),
        2 => json!(""),
        3 => json!(-1),
        4 => json!(1.5),
        5 => json!(1e300),
        6 => json!(u64::MAX),
        7 => json!(i64::MIN),
        8 => json!(true),
        9 => json!([]),
        10 => json!({}),
        11 => json!([1, "a", null, {"b": []}]),
        12 => json!({ "nope": { "deeper": [1, 2, 3] } }),
        13 => json!("\u{0}\u{1}\u{7f}\u{feff}\u{202e}"),
        14 => json!("9".repeat(40)),
        _ => json!("x".repeat(10_000)),
    }
}

/// `value` with one node replaced by an odd value, a key removed or an unknown key added.
fn mutate_json(rng: &mut StdRng, value: &Value) -> Value {
    let mut value = value.clone();
    mutate_node(rng, &mut value);
    value
}

fn mutate_node(rng: &mut StdRng, node: &mut Value) {
    // Walk down a random path, then change what is there.
    let descend = rng.random_bool(0.6);
    match node {
        Value::Object(map) if !map.is_empty() && descend => {
            let key = map.keys().nth(rng.random_range(0..map.len())).unwrap().clone();
            mutate_node(rng, map.get_mut(&key).unwrap());
        }
        Value::Array(items) if !items.is_empty() && descend => {
            let at = rng.random_range(0..items.len());
            mutate_node(rng, &mut items[at]);
        }
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.3) => {
            let key = map.keys().nth(rng.random_range(0..map.len())).unwrap().clone();
            map.remove(&key);
        }
        Value::Object(map) if rng.random_bool(0.3) => {
            map.insert("nope".into(), odd_value(rng));
        }
        node => *node = odd_value(rng),
    }
}

// ---------------------------------------------------------------------------------------
// 1. The GraphQL endpoint

/// One request to `POST /graphql` (or `GET` with `query` as the query string).
struct Probe {
    label: String,
    method: reqwest::Method,
    content_type: Option<String>,
    accept: Option<String>,
    /// The `Authorization` header; `None` sends none.
    authorization: Option<String>,
    body: Vec<u8>,
    query_string: Option<String>,
    /// The status the case must answer, when the case decides it.
    status: Option<u16>,
}

impl Probe {
    fn raw(label: impl Into<String>, token: &str, body: Vec<u8>) -> Probe {
        Probe {
            label: label.into(),
            method: reqwest::Method::POST,
            content_type: Some("application/json".into()),
            accept: None,
            authorization: Some(format!("Bearer {token}")),
            body,
            query_string: None,
            status: None,
        }
    }

    fn json(label: impl Into<String>, token: &str, body: &Value) -> Probe {
        Probe::raw(label, token, body.to_string().into_bytes())
    }

    fn document(label: impl Into<String>, token: &str, query: &str, variables: Value) -> Probe {
        Probe::json(label, token, &json!({ "query": query, "variables": variables }))
    }

    fn get(label: impl Into<String>, query_string: String, authorization: Option<String>) -> Probe {
        Probe {
            label: label.into(),
            method: reqwest::Method::GET,
            content_type: None,
            accept: None,
            authorization,
            body: Vec::new(),
            query_string: Some(query_string),
            status: None,
        }
    }

    fn content_type(mut self, content_type: Option<&str>) -> Probe {
        self.content_type = content_type.map(str::to_owned);
        self
    }

    fn accept(mut self, accept: &str) -> Probe {
        self.accept = Some(accept.to_owned());
        self
    }

    fn authorization(mut self, authorization: Option<&str>) -> Probe {
        self.authorization = authorization.map(str::to_owned);
        self
    }

    fn expect(mut self, status: u16) -> Probe {
        self.status = Some(status);
        self
    }
}

struct Fixture {
    contact: String,
    channel: String,
    segment: String,
    team: String,
    broadcast: String,
}

async fn graphql_fixture(app: &TestApp) -> Fixture {
    app.ok("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
        .await;
    let channel = app
        .channel(json!({ "name": "Fuzz custom", "kind": "CUSTOM", "baseUrl": "http://127.0.0.1:9/hook",
            "credentials": { "secret": "s3cret" } }))
        .await;
    let contact = app
        .contact(json!({ "firstName": "Ana", "phone": "+593991234567", "email": "ana@x.io", "tags": ["vip"],
            "identifiers": [{ "channelId": channel, "identifier": "ana-1" }] }))
        .await;
    let segment = segment(app, "vip").await;
    let team =
        app.ok("mutation { createTeam(input: {name: \"Fuzz team\"}) { id } }", json!({})).await["createTeam"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let broadcast = draft(app, &channel, &segment, json!({})).await;
    Fixture { contact, channel, segment, team, broadcast }
}

/// Real operations of the API (as the other tests use them), to mutate. None of them sends
/// or schedules anything: a mutation that happens to stay valid may create, never dispatch.
fn base_operations(f: &Fixture) -> Vec<(String, Value)> {
    let (contact, channel, segment) = (&f.contact, &f.channel, &f.segment);
    vec![
        ("{ viewer { role user { name } } workspace { name timeZone limits { segments } } }".into(), json!({})),
        (
            "query($first: Int, $search: String) { contacts(first: $first, search: $search) { totalCount \
             edges { cursor node { id displayName phone tags { name } } } pageInfo { hasNextPage endCursor } } }"
                .into(),
            json!({ "first": 5, "search": "ana" }),
        ),
        (
            "query($id: ID!) { contact(id: $id) { id firstName identifiers { identifier channel { id kind } } } }"
                .into(),
            json!({ "id": contact }),
        ),
        (
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id phone tags { name } } }".into(),
            json!({ "input": { "firstName": "Fuzz", "phone": "+593 99 765 4321", "email": "fuzz@x.io", "tags": ["fuzz"] } }),
        ),
        (
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id name contactCount } }".into(),
            json!({ "input": { "name": "Fuzz VIP", "filter": { "all": [
                { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["vip"] } },
                { "any": [{ "condition": { "field": "FIRST_NAME", "operator": "CONTAINS", "value": "an" } },
                          { "condition": { "field": "CREATED_AT", "operator": "WITHIN_LAST_DAYS", "days": 30 } }] }] } } }),
        ),
        (
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id status } }".into(),
            json!({ "input": { "name": "Fuzz promo", "channelId": channel, "segmentId": segment,
                "content": { "text": "¡Hola!" }, "sendRate": { "count": 5, "periodSeconds": 1 } } }),
        ),
        (
            "mutation($csv: String, $mode: ImportMode!, $id: ImportIdentifier!, $tags: [String!]) { \
             importContacts(csv: $csv, mode: $mode, identifier: $id, tags: $tags) { rowsRead created rejected problems { line reason } } }"
                .into(),
            json!({ "csv": "First name,Email\nZed,zed@x.io\n", "mode": "ADD_AND_UPDATE", "id": "EMAIL", "tags": ["imported"] }),
        ),
        (
            "{ previewSegment(filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"vip\"]}}) { contactCount contacts(first: 3) { nodes { id } } } }"
                .into(),
            json!({}),
        ),
        (
            format!("mutation {{ tagContacts(contactIds: [\"{contact}\"], tags: [\"fuzzed\"]) {{ id tags {{ name }} }} }}"),
            json!({}),
        ),
        (
            "{ messagesReport(range: {preset: LAST_7_DAYS}) { days delivery { total groups { label count percent } } } }".into(),
            json!({}),
        ),
        (
            "query($from: DateTime) { broadcasts(first: 5, from: $from) { totalCount nodes { id status } } broadcastCalendar(month: \"2026-11\") { date } }"
                .into(),
            json!({ "from": "2026-01-01T00:00:00Z" }),
        ),
    ]
}

/// `count` distinct ids that name nothing.
fn many_ids(count: usize) -> String {
    let ids: Vec<String> = (0..count).map(|i| format!("\"{}\"", 50_000_000 + i)).collect();
    ids.join(",")
}

/// `count` distinct ids that name nothing, for variables.
fn id_list(count: usize) -> Vec<String> {
    (0..count).map(|i| (50_000_000 + i).to_string()).collect()
}

/// The hand-picked cases: wrong types, nulls, extremes, huge lists, deep nesting, bad
/// documents, bad bodies, other media types, bad tokens.
fn structured_probes(token: &str, f: &Fixture) -> Vec<Probe> {
    let t = token;
    let doc = |label: &str, query: &str| Probe::document(label, t, query, json!({}));
    let with = |label: &str, query: &str, variables: Value| Probe::document(label, t, query, variables);
    let (contact, team, broadcast) = (&f.contact, &f.team, &f.broadcast);
    let mut probes = vec![
        // Wrong argument types and extreme values.
        doc("first as a string", "{ contacts(first: \"ten\") { totalCount } }"),
        doc("first as a float", "{ contacts(first: 1.5) { totalCount } }"),
        doc("first beyond i64", "{ contacts(first: 99999999999999999999) { totalCount } }"),
        doc("first beyond i32", "{ contacts(first: 2147483648) { totalCount } }"),
        doc("first below i32", "{ contacts(first: -2147483649) { totalCount } }"),
        doc("first negative", "{ contacts(first: -1) { totalCount } }"),
        doc("first zero", "{ contacts(first: 0) { totalCount } }"),
        doc("first 1e400", "{ contacts(first: 1e400) { totalCount } }"),
        doc("first huge", "{ contacts(first: 100000) { totalCount } }"),
        doc("id as a float", "{ contact(id: 1.5) { id } }"),
        doc("id as an object", "{ contact(id: {a: 1}) { id } }"),
        doc("id as a list", "{ contact(id: [1]) { id } }"),
        doc("id beyond i64", "{ contact(id: \"99999999999999999999\") { id } }"),
        doc("id i64 max", "{ contact(id: \"9223372036854775807\") { id } }"),
        doc("id negative", "{ contact(id: \"-1\") { id } }"),
        doc("id hex", "{ contact(id: \"0x10\") { id } }"),
        doc("id empty", "{ contact(id: \"\") { id } }"),
        doc("id padded", "{ contact(id: \" 1 \") { id } }"),
        doc("id NUL", "{ contact(id: \"\\u0000\") { id } }"),
        doc("cursor garbage", "{ contacts(after: \"////\") { totalCount } }"),
        doc("cursor big number", "{ contacts(after: \"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw\") { totalCount } }"),
        doc("cursor negative", "{ contacts(after: \"LTE=\") { totalCount } }"),
        doc("cursor on messages", "{ messages(after: \"\\u0000\") { totalCount } }"),
        doc("unknown enum", "{ broadcasts(status: NOPE) { totalCount } }"),
        doc("enum as a string", "{ broadcasts(status: \"DRAFT\") { totalCount } }"),
        doc("date not a date", "{ broadcasts(from: \"yesterday\") { totalCount } }"),
        doc("date out of range", "{ broadcasts(from: \"2026-13-45T99:99:99Z\") { totalCount } }"),
        doc("dates extreme", "{ broadcasts(from: \"0001-01-01T00:00:00Z\", to: \"9999-12-31T23:59:59Z\") { totalCount } }"),
        doc("dates reversed", "{ broadcasts(from: \"9999-12-31T23:59:59Z\", to: \"0001-01-01T00:00:00Z\") { totalCount } }"),
        doc("calendar month 13", "{ broadcastCalendar(month: \"2026-13\") { date } }"),
        doc("calendar month 9999-12", "{ broadcastCalendar(month: \"9999-12\") { date } }"),
        doc("calendar month 0000-01", "{ broadcastCalendar(month: \"0000-01\") { date } }"),
        doc("calendar month far", "{ broadcastCalendar(month: \"262143-12\") { date } }"),
        doc("calendar month negative", "{ broadcastCalendar(month: \"-0001-01\") { date } }"),
        doc("calendar month empty", "{ broadcastCalendar(month: \"\") { date } }"),
        doc(
            "report range extreme",
            "{ messagesReport(range: {from: \"0001-01-01T00:00:00Z\", to: \"9999-12-31T00:00:00Z\"}) { delivery { total } } }",
        ),
        doc(
            "report range reversed",
            "{ messagesReport(range: {from: \"2026-02-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"}) { delivery { total } } }",
        ),
        doc("report range empty", "{ messagesReport(range: {}) { delivery { total } } }"),
        doc(
            "report range both",
            "{ messagesReport(range: {preset: TODAY, from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\"}) { delivery { total } } }",
        ),
        doc(
            "report range at the edges",
            "{ broadcastsReport(range: {from: \"9999-12-30T00:00:00Z\", to: \"9999-12-31T23:59:59Z\"}) { __typename } }",
        ),
        doc(
            "report list too far",
            "{ failedMessageLog(range: {preset: LAST_7_DAYS}, first: 100, after: \"OTk5OTk5OTk5OTk5\") { totalCount } }",
        ),
        with(
            "schedule at a bad time",
            "mutation($id: ID!) { scheduleBroadcast(id: $id, at: \"soon\") { id } }",
            json!({ "id": broadcast }),
        ),
        doc("schedule unknown broadcast", "mutation { scheduleBroadcast(id: \"999999\", at: \"9999-12-31T23:59:59Z\") { id } }"),
        // Nulls for non-null.
        doc("null id", "{ contact(id: null) { id } }"),
        doc("null input", "mutation { createContact(input: null) { id } }"),
        with("null variable", "query($id: ID!) { contact(id: $id) { id } }", json!({ "id": null })),
        doc("null in a non-null list", "mutation { tagContacts(contactIds: [null], tags: [\"x\"]) { id } }"),
        // Variables: missing, undeclared, mistyped, of the wrong JSON type.
        with("missing variable", "query($id: ID!) { contact(id: $id) { id } }", json!({})),
        doc("undeclared variable", "{ contact(id: $nope) { id } }"),
        with("variable of another type", "query($id: Int!) { contact(id: $id) { id } }", json!({ "id": 1 })),
        with("unused variable", "query($x: String) { viewer { role } }", json!({ "x": [1, 2] })),
        with(
            "input as a string",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": "x" }),
        ),
        with(
            "input as a list",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": [1] }),
        ),
        with(
            "name as a number",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": 5 } }),
        ),
        with(
            "name as an object",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": { "a": 1 } } }),
        ),
        with(
            "custom fields not an object",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "A", "customFields": [1, 2] } }),
        ),
        with(
            "unknown custom field",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "A", "customFields": { "nope": { "deep": [1] } } } }),
        ),
        with(
            "segment filter not a filter",
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "Bad filter", "filter": { "all": [{ "condition": { "field": "TAGS", "operator": "HAS_ANY_OF" } }] } } }),
        ),
        with(
            "segment filter with two branches",
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "Two", "filter": { "all": [], "any": [] } } }),
        ),
        with(
            "segment filter with wrong value kinds",
            "{ previewSegment(filter: {condition: {field: CREATED_AT, operator: BEFORE, value: \"not a date\"}}) { contactCount } }",
            json!({}),
        ),
        with(
            "segment filter days huge",
            "{ previewSegment(filter: {condition: {field: LAST_INTERACTION_AT, operator: WITHIN_LAST_DAYS, days: 4294967295}}) { contactCount } }",
            json!({}),
        ),
        with(
            "segment filter days beyond",
            "{ previewSegment(filter: {condition: {field: LAST_INTERACTION_AT, operator: WITHIN_LAST_DAYS, days: 99999999999}}) { contactCount } }",
            json!({}),
        ),
        with(
            "segment filter on an unknown channel",
            "{ previewSegment(filter: {condition: {field: CHANNEL, operator: HAS_ANY_OF, values: [\"99999999999999999999\", \"x\"]}}) { contactCount } }",
            json!({}),
        ),
        with(
            "segment filter on an unknown custom field",
            "{ previewSegment(filter: {condition: {field: CUSTOM_FIELD, key: \"\\u0000'; --\", operator: IS, value: \"1\"}}) { contactCount } }",
            json!({}),
        ),
        with("variables not an object", "{ viewer { role } }", json!("x")),
        with("variables a list", "{ viewer { role } }", json!([1, 2])),
        // Unknown fields and arguments.
        doc("unknown root field", "{ nope }"),
        doc("unknown nested field", "{ viewer { nope } }"),
        doc("unknown argument", "{ contacts(nope: 1) { totalCount } }"),
        doc("unknown input field", "mutation { createContact(input: {firstName: \"a\", nope: 1}) { id } }"),
        doc("unknown type condition", "{ ... on Nope { a } }"),
        doc("leaf with a selection", "{ viewer { role { a } } }"),
        doc("object without a selection", "{ viewer }"),
        // Documents: duplicate names, several anonymous, fragments, directives, aliases.
        doc("duplicate operation names", "query A { viewer { role } } query A { workspace { name } }"),
        doc("two anonymous operations", "{ viewer { role } } { workspace { name } }"),
        doc("named operations without operationName", "query A { viewer { role } } query B { workspace { name } }"),
        Probe::json(
            "operationName names nothing",
            t,
            &json!({ "query": "query A { viewer { role } }", "operationName": "B" }),
        ),
        Probe::json("operationName a number", t, &json!({ "query": "{ viewer { role } }", "operationName": 5 })),
        Probe::json("extensions a string", t, &json!({ "query": "{ viewer { role } }", "extensions": "x" })),
        Probe::json(
            "persisted query",
            t,
            &json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } } }),
        ),
        Probe::json("query a number", t, &json!({ "query": 5 })),
        Probe::json("query null", t, &json!({ "query": null })),
        Probe::json("query empty", t, &json!({ "query": "" })),
        Probe::json("query blank", t, &json!({ "query": " \n\t# only a comment" })),
        doc("fragment cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
        doc("fragment on itself", "{ ...A } fragment A on Query { viewer { role } ...A }"),
        doc("unknown fragment", "{ ...Nope }"),
        doc("duplicate fragments", "{ ...A } fragment A on Query { viewer { role } } fragment A on Query { workspace { name } }"),
        doc("unused fragment", "{ viewer { role } } fragment A on Query { workspace { name } }"),
        doc("fragment on a wrong type", "{ viewer { ... on Contact { id } } }"),
        doc("conflicting aliases", "{ a: viewer { role } a: workspace { name } }"),
        doc("directive with a wrong argument", "{ viewer @skip(if: \"no\") { role } }"),
        doc("directive without its argument", "{ viewer @include { role } }"),
        doc("unknown directive", "{ viewer @nope { role } }"),
        doc("directive in the wrong place", "query @skip(if: true) { viewer { role } }"),
        doc("many directives", &format!("{{ viewer {} {{ role }} }}", "@skip(if: false) ".repeat(5_000))),
        doc("many aliases", &format!("{{ {} }}", (0..5_000).map(|i| format!("a{i}: viewer {{ role }}")).collect::<String>())),
        doc("many typenames", &format!("{{ {} }}", (0..20_000).map(|i| format!("t{i}: __typename ")).collect::<String>())),
        doc("a subscription over HTTP", "subscription { contactChanged { action } }"),
        doc("a subscription with a mutation", "subscription A { contactChanged { action } } mutation B { deleteContact(id: \"1\") }"),
        doc("introspection of an unknown type", "{ __type(name: \"Nope\") { name } }"),
        doc("block string", "{ contacts(search: \"\"\"multi\nline \\\"\"\" \"\"\"\") { totalCount } }"),
        doc("bad escapes", "{ contacts(search: \"\\x41\\u{1F600}\\uZZZZ\") { totalCount } }"),
        doc("unterminated string", "{ contacts(search: \"abc) { totalCount } }"),
        doc("unicode everywhere", "{ contacts(search: \"\u{ff71}\u{ff85} \u{1f469}\u{200d}\u{1f467} \u{202e} a\u{0301}\") { totalCount } }"),
        doc("only punctuation", "{{{{(((([[[[::::$$$$!!!!"),
        doc("only closers", "}}}}))))]]]]"),
        // Text with NUL characters, and very long text.
        with(
            "NUL in a name",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "A\u{0}B", "email": "nul@x.io" } }),
        ),
        with("NUL in a search", "query($s: String) { contacts(search: $s) { totalCount } }", json!({ "s": "a\u{0}b" })),
        with("NUL in a tag filter", "query($t: String) { contacts(tag: $t) { totalCount } }", json!({ "t": "\u{0}" })),
        with(
            "NUL in a tag",
            "mutation($id: ID!) { tagContacts(contactIds: [$id], tags: [\"a\\u0000b\"]) { id } }",
            json!({ "id": contact }),
        ),
        with(
            "NUL in a segment name",
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "S\u{0}", "filter": { "all": [] } } }),
        ),
        with(
            "NUL in a filter value",
            "{ previewSegment(filter: {condition: {field: FIRST_NAME, operator: CONTAINS, value: \"\\u0000\"}}) { contactCount } }",
            json!({}),
        ),
        with(
            "NUL in an IS filter value",
            "query($v: String) { contacts(filter: {condition: {field: EMAIL, operator: IS, value: $v}}) { totalCount } }",
            json!({ "v": "a\u{0}" }),
        ),
        with(
            "NUL in a custom field filter value",
            "query($v: String) { previewSegment(filter: {condition: {field: CUSTOM_FIELD, key: \"tier\", operator: IS_NOT, value: $v}}) { contactCount } }",
            json!({ "v": "\u{0}" }),
        ),
        with("NUL in an error code filter", "query($e: String) { messages(errorCode: $e) { totalCount } }", json!({ "e": "\u{0}" })),
        with(
            "NUL in a broadcast's messages filter",
            "query($id: ID!, $e: String) { broadcast(id: $id) { messages(errorCode: $e) { totalCount } } }",
            json!({ "id": broadcast, "e": "x\u{0}" }),
        ),
        with(
            "NUL in a custom field value",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "Nul field", "customFields": { "tier": "gold\u{0}" } } }),
        ),
        with(
            "NUL in a custom field update",
            "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {tier: \"\\u0000\"}}) { id } }",
            json!({ "id": contact }),
        ),
        with(
            "NUL in an identifier",
            "mutation($id: ID!, $ch: ID!) { setContactIdentifier(contactId: $id, input: {channelId: $ch, identifier: \"nul\\u0000id\"}) { id } }",
            json!({ "id": contact, "ch": f.channel }),
        ),
        with(
            "NUL in a broadcast text",
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "Nul text", "channelId": f.channel, "segmentId": f.segment, "content": { "text": "a\u{0}b" } } }),
        ),
        with(
            "NUL in a broadcast label",
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "Nul label", "label": "\u{0}", "channelId": f.channel, "segmentId": f.segment, "content": { "text": "x" } } }),
        ),
        with(
            "NUL in template parameters",
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "Nul template", "channelId": f.channel, "segmentId": f.segment,
                "content": { "template": { "name": "t\u{0}", "language": "es", "parameters": ["\u{0}"] } } } }),
        ),
        with(
            "NUL in channel credentials",
            "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
            json!({ "input": { "name": "Nul secret", "kind": "CUSTOM", "baseUrl": "http://127.0.0.1:9/x", "credentials": { "secret": "s\u{0}" } } }),
        ),
        with(
            "NUL in a base URL",
            "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
            json!({ "input": { "name": "Nul URL", "kind": "CUSTOM", "baseUrl": "http://127.0.0.1:9/\u{0}", "credentials": { "secret": "s" } } }),
        ),
        with(
            "NUL in a message",
            "mutation($c: ID!, $ch: ID!) { sendMessage(contactId: $c, channelId: $ch, content: {text: \"\\u0000\"}) { id } }",
            json!({ "c": contact, "ch": f.channel }),
        ),
        with("NUL in a token name", "mutation { createApiToken(input: {name: \"t\\u0000\"}) { token } }", json!({})),
        with("NUL in a workspace", "mutation { updateWorkspace(input: {name: \"W\\u0000\", defaultCountry: \"\\u0000\"}) { name } }", json!({})),
        with(
            "NUL in a contact field",
            "mutation { createContactField(input: {key: \"k\\u0000\", name: \"N\\u0000\", type: TEXT}) { id } }",
            json!({}),
        ),
        with("NUL in a team name", "mutation { createTeam(input: {name: \"T\\u0000\"}) { id } }", json!({})),
        with("NUL in a user", "mutation { createUser(input: {name: \"U\\u0000\", email: \"u\\u0000@x.io\", role: AGENT}) { id } }", json!({})),
        with(
            "NUL in an import mapping",
            "mutation { importContacts(csv: \"a,b\\nx,nulmap@x.io\\n\", mode: ADD_ONLY, identifier: EMAIL, mapping: [{column: \"b\", field: EMAIL}, {column: \"a\", field: CUSTOM_FIELD, key: \"tier\\u0000\"}]) { created } }",
            json!({}),
        ),
        with(
            "NUL in an export search",
            "query($s: String) { exportContacts(search: $s) { url } }",
            json!({ "s": "\u{0}" }),
        ),
        with(
            "a name of a megabyte",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "n".repeat(1_000_000) } }),
        ),
        with("a search of a megabyte", "query($s: String) { contacts(search: $s) { totalCount } }", json!({ "s": "%_".repeat(500_000) })),
        with("a search of 60 KB", "query($s: String) { contacts(search: $s, first: 5) { nodes { id } } }", json!({ "s": "é".repeat(30_000) })),
        with("an export search of a megabyte", "query($s: String) { exportContacts(search: $s) { url } }", json!({ "s": "s".repeat(1_000_000) })),
        with(
            "a filter CONTAINS of a megabyte",
            "query($v: String) { previewSegment(filter: {condition: {field: EMAIL, operator: CONTAINS, value: $v}}) { contactCount } }",
            json!({ "v": "v".repeat(1_000_000) }),
        ),
        with(
            "a contacts filter DOES_NOT_CONTAIN of 100 KB",
            "query($v: String) { contacts(filter: {condition: {field: FIRST_NAME, operator: DOES_NOT_CONTAIN, value: $v}}) { totalCount } }",
            json!({ "v": "v".repeat(100_000) }),
        ),
        with(
            "a custom field filter CONTAINS of 100 KB",
            "query($v: String) { previewSegment(filter: {condition: {field: CUSTOM_FIELD, key: \"tier\", operator: CONTAINS, value: $v}}) { contactCount } }",
            json!({ "v": "v".repeat(100_000) }),
        ),
        with(
            "a broadcast text of a megabyte",
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "Big", "channelId": f.channel, "segmentId": f.segment, "content": { "text": "t".repeat(1_500_000) } } }),
        ),
        with(
            "a phone of every digit",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "phone": "+".to_owned() + &"9".repeat(5_000) } }),
        ),
        with(
            "an email of a hundred kilobytes",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "email": format!("{}@x.io", "e".repeat(100_000)) } }),
        ),
        with(
            "a time zone that is not one",
            "mutation { updateWorkspace(input: {timeZone: \"Nowhere/Never\"}) { timeZone } }",
            json!({}),
        ),
        // Huge lists (100,000 elements fit in the body limit).
        // One list literal of 100,000 elements (the parser's cost); the rest as variables.
        doc("100k contact ids to tag", &format!("mutation {{ tagContacts(contactIds: [{}], tags: [\"x\"]) {{ id }} }}", many_ids(100_000))),
        with("100k contact ids to untag", "mutation($ids: [ID!]!) { untagContacts(contactIds: $ids, tags: [\"x\"]) { id } }", json!({ "ids": id_list(100_000) })),
        with(
            "70k users to add to a team",
            "mutation($t: ID!, $ids: [ID!]!) { addTeamMembers(teamId: $t, userIds: $ids) { id } }",
            json!({ "t": team, "ids": id_list(70_000) }),
        ),
        with(
            "70k users to remove from a team",
            "mutation($t: ID!, $ids: [ID!]!) { removeTeamMembers(teamId: $t, userIds: $ids) { id } }",
            json!({ "t": team, "ids": id_list(70_000) }),
        ),
        with(
            "70k members of a new team",
            "mutation($ids: [ID!]!) { createTeam(input: {name: \"Crowd\", memberIds: $ids}) { id } }",
            json!({ "ids": id_list(70_000) }),
        ),
        with(
            "70k channels in a report filter",
            "query($ids: [ID!]) { messagesReport(range: {preset: LAST_7_DAYS}, filter: {channelIds: $ids}) { delivery { total } outgoingMessages(first: 1) { totalCount } } }",
            json!({ "ids": id_list(70_000) }),
        ),
        with(
            "70k channels in the failed-message log",
            "query($ids: [ID!]) { failedMessageLog(range: {preset: LAST_7_DAYS}, filter: {channelIds: $ids}) { totalCount } }",
            json!({ "ids": id_list(70_000) }),
        ),
        with(
            "70k sources in a report filter",
            "query($v: [MessageSource!]) { messagesReport(range: {preset: LAST_7_DAYS}, filter: {sources: $v}) { outgoingBySource { total } } }",
            json!({ "v": vec!["API"; 70_000] }),
        ),
        with(
            "70k types in a report list",
            "query($v: [MessageType!]) { messagesReport(range: {preset: LAST_7_DAYS}, filter: {types: $v}) { outgoingMessages(first: 1) { totalCount } } }",
            json!({ "v": vec!["SESSION"; 70_000] }),
        ),
        doc(
            "100k tag values in a filter",
            &format!(
                "{{ previewSegment(filter: {{condition: {{field: TAGS, operator: HAS_ANY_OF, values: [{}]}}}}) {{ contactCount }} }}",
                many_ids(100_000)
            ),
        ),
        with(
            "70k channel values in a filter",
            "query($v: [String!]!) { contacts(filter: {condition: {field: CHANNEL, operator: HAS_ANY_OF, values: $v}}) { totalCount } }",
            json!({ "v": id_list(70_000) }),
        ),
        with(
            "20k conditions in a filter",
            "query($f: SegmentFilterInput!) { previewSegment(filter: $f) { contactCount } }",
            json!({ "f": { "any": vec![json!({ "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["v"] } }); 20_000] } }),
        ),
        with(
            "70k tags on a new contact",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "Tagged", "tags": (0..70_000).map(|i| format!("t{i}")).collect::<Vec<_>>() } }),
        ),
        with(
            "70k tags to put on a contact",
            "mutation($id: ID!, $tags: [String!]!) { tagContacts(contactIds: [$id], tags: $tags) { id } }",
            json!({ "id": contact, "tags": (0..70_000).map(|i| format!("u{i}")).collect::<Vec<_>>() }),
        ),
        with(
            "70k tags to take off a contact",
            "mutation($id: ID!, $tags: [String!]!) { untagContacts(contactIds: [$id], tags: $tags) { id } }",
            json!({ "id": contact, "tags": (0..70_000).map(|i| format!("v{i}")).collect::<Vec<_>>() }),
        ),
        with(
            "70k tags on an import",
            "mutation($tags: [String!]) { importContacts(csv: \"Email\\nbulk@x.io\\n\", mode: ADD_ONLY, identifier: EMAIL, tags: $tags) { created } }",
            json!({ "tags": (0..70_000).map(|i| format!("w{i}")).collect::<Vec<_>>() }),
        ),
        with(
            "20k identifiers on a new contact",
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "firstName": "Ids", "identifiers": (0..20_000).map(|i| json!({ "channelId": f.channel, "identifier": format!("i{i}") })).collect::<Vec<_>>() } }),
        ),
        with(
            "70k error codes to resend",
            "mutation($id: ID!, $codes: [String!]!) { resendBroadcast(id: $id, onlyFailed: true, errorCodes: $codes) { id } }",
            json!({ "id": broadcast, "codes": (0..70_000).map(|i| format!("e{i}")).collect::<Vec<_>>() }),
        ),
        with(
            "20k template parameters",
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
            json!({ "input": { "name": "Params", "channelId": f.channel, "segmentId": f.segment,
                "content": { "template": { "name": "t", "language": "es", "parameters": vec!["p"; 20_000] } } } }),
        ),
        with("a list of 100k variables", "query($v: [Int]) { viewer { role } }", json!({ "v": vec![1; 100_000] })),
        // Deep nesting: selections, values, input objects, list types.
        doc(
            "500 levels of real selections",
            &format!("{{ viewer {{ user {} id {} }} }}", "teams { members { ".repeat(250), "} } ".repeat(250)),
        ),
        doc("500 levels of unknown selections", &format!("{{ {} a {} }}", "a { ".repeat(500), "} ".repeat(500))),
        doc("500 levels of lists", &format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "[".repeat(500), "]".repeat(500))),
        doc(
            "50k levels of lists",
            &format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "[".repeat(50_000), "]".repeat(50_000)),
        ),
        doc(
            "500k levels of lists",
            &format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "[".repeat(500_000), "]".repeat(500_000)),
        ),
        doc("500 levels of objects", &format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "{a: ".repeat(500), "}".repeat(500))),
        doc(
            "50k levels of objects",
            &format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "{a: ".repeat(50_000), "}".repeat(50_000)),
        ),
        doc("50k levels of selections", &format!("{{ {} a {} }}", "a{".repeat(50_000), "}".repeat(50_000))),
        doc("50k open braces", &"{".repeat(50_000)),
        doc("50k levels of arguments", &format!("{{ a{} }}", "(".repeat(50_000))),
        doc(
            "500 levels of segment filters",
            &format!(
                "{{ previewSegment(filter: {}{{condition: {{field: TAGS, operator: HAS_ANY_OF, values: [\"v\"]}}}}{}) {{ contactCount }} }}",
                "{all: [".repeat(500),
                "]}".repeat(500)
            ),
        ),
        doc(
            "7 levels of segment filters",
            &format!(
                "{{ previewSegment(filter: {}{{condition: {{field: TAGS, operator: HAS_ANY_OF, values: [\"v\"]}}}}{}) {{ contactCount }} }}",
                "{any: [".repeat(7),
                "]}".repeat(7)
            ),
        ),
        with(
            "60 levels of segment filters in variables",
            "query($f: SegmentFilterInput!) { previewSegment(filter: $f) { contactCount } }",
            json!({ "f": (0..60).fold(json!({ "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["v"] } }), |inner, _| json!({ "all": [inner] })) }),
        ),
        Probe::raw(
            "200 levels of JSON in variables",
            t,
            format!(
                "{{\"query\": \"query($f: SegmentFilterInput!) {{ previewSegment(filter: $f) {{ contactCount }} }}\", \"variables\": {{\"f\": {}{}}}}}",
                "{\"all\": [".repeat(200),
                "]}".repeat(200)
            )
            .into_bytes(),
        ),
        doc("500 levels of list types", &format!("query($v: {}Int{}) {{ viewer {{ role }} }}", "[".repeat(500), "]".repeat(500))),
        doc(
            "nested custom fields",
            &format!("mutation {{ createContact(input: {{firstName: \"J\", customFields: {}1{}}}) {{ id }} }}", "{a: ".repeat(60), "}".repeat(60)),
        ),
        // Bodies that are not GraphQL requests.
        Probe::raw("batch of one", t, json!([{ "query": "{ viewer { role } }" }]).to_string().into_bytes()),
        Probe::raw("empty batch", t, b"[]".to_vec()),
        Probe::raw("nested batch", t, b"[[]]".to_vec()),
        Probe::raw("empty body", t, Vec::new()),
        Probe::raw("JSON null", t, b"null".to_vec()),
        Probe::raw("JSON string", t, b"\"{ viewer { role } }\"".to_vec()),
        Probe::raw("JSON number", t, b"1e999999".to_vec()),
        Probe::raw("lone surrogate", t, b"{\"query\": \"{ contacts(search: \\\"\\ud800\\\") { totalCount } }\"}".to_vec()),
        Probe::raw("invalid UTF-8", t, b"{\"query\": \"{ viewer { role } }\xff\xfe\"}".to_vec()),
        Probe::raw("UTF-16", t, "{\"query\": \"{ viewer { role } }\"}".encode_utf16().flat_map(u16::to_le_bytes).collect()),
        Probe::raw("trailing garbage", t, b"{\"query\": \"{ viewer { role } }\"} xyz".to_vec()),
        Probe::raw("duplicate keys", t, b"{\"query\": \"{ viewer { role } }\", \"query\": \"{ nope }\"}".to_vec()),
        Probe::raw("JSON nested 100k", t, format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
        Probe::raw("NUL bytes", t, vec![0; 1000]),
        // Other media types, accepts and tokens.
        Probe::document("text/plain", t, "{ viewer { role } }", json!({})).content_type(Some("text/plain")),
        Probe::document("application/graphql", t, "{ viewer { role } }", json!({})).content_type(Some("application/graphql")),
        Probe::document("no content type", t, "{ viewer { role } }", json!({})).content_type(None),
        Probe::document("form", t, "{ viewer { role } }", json!({})).content_type(Some("application/x-www-form-urlencoded")),
        Probe::document("json with an odd charset", t, "{ viewer { role } }", json!({}))
            .content_type(Some("application/json; charset=utf-16; x=\"")),
        Probe::document("content type garbage", t, "{ viewer { role } }", json!({})).content_type(Some(";;;=\"")),
        Probe::raw("multipart without a boundary", t, b"--x\r\n\r\n--x--".to_vec()).content_type(Some("multipart/form-data")),
        Probe::raw("multipart garbage", t, b"\x00\x01garbage".to_vec()).content_type(Some("multipart/form-data; boundary=x")),
        Probe::raw("multipart with no parts", t, b"--x--\r\n".to_vec()).content_type(Some("multipart/form-data; boundary=x")),
        Probe::raw(
            "multipart with bad operations",
            t,
            b"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{not json\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--x--\r\n".to_vec(),
        )
        .content_type(Some("multipart/form-data; boundary=x")),
        Probe::raw(
            "multipart mapping a missing file",
            t,
            b"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\": \"mutation($f: Upload!) { importContacts(file: $f, mode: ADD_ONLY, identifier: EMAIL) { created } }\", \"variables\": {\"f\": null}}\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\": [\"variables.f\"], \"1\": [\"variables.g.h.i\"]}\r\n--x--\r\n".to_vec(),
        )
        .content_type(Some("multipart/form-data; boundary=x")),
        Probe::raw(
            "multipart with two files",
            t,
            b"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\": \"mutation($f: Upload!) { importContacts(file: $f, mode: ADD_ONLY, identifier: EMAIL) { created } }\", \"variables\": {\"f\": null}}\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\": [\"variables.f\"], \"1\": [\"variables.f\"]}\r\n--x\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.csv\"\r\n\r\nEmail\r\n--x\r\nContent-Disposition: form-data; name=\"1\"; filename=\"b.csv\"\r\n\r\nEmail\r\n--x--\r\n".to_vec(),
        )
        .content_type(Some("multipart/form-data; boundary=x")),
        Probe::raw(
            "multipart file into a string",
            t,
            b"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\": \"mutation($c: String) { importContacts(csv: $c, mode: ADD_ONLY, identifier: EMAIL) { created } }\", \"variables\": {\"c\": null}}\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\": [\"variables.c\"]}\r\n--x\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.csv\"\r\n\r\nEmail\nmp@x.io\r\n--x--\r\n".to_vec(),
        )
        .content_type(Some("multipart/form-data; boundary=x")),
        Probe::document("accept html", t, "{ viewer { role } }", json!({})).accept("text/html").expect(406),
        Probe::document("accept garbage", t, "{ viewer { role } }", json!({})).accept("x/y;q=abc,,;;, */*;q="),
        Probe::document("accept graphql-response+json", t, "{ nope }", json!({})).accept(GRAPHQL_RESPONSE).expect(400),
        Probe::document("no token", t, "{ contacts { totalCount } }", json!({})).authorization(None),
        Probe::document("bearer without a token", t, "{ viewer { role } }", json!({})).authorization(Some("Bearer")),
        Probe::document("forged token", t, "{ viewer { role } }", json!({})).authorization(Some("Bearer pgn_forged")).expect(401),
        Probe::document("basic auth", t, "{ viewer { role } }", json!({})).authorization(Some("Basic dXNlcjpwYXNz")),
        Probe::document("a token of 10 KB", t, "{ viewer { role } }", json!({}))
            .authorization(Some(&format!("Bearer pgn_{}", "a".repeat(10_000)))),
        Probe::document("two bearers", t, "{ viewer { role } }", json!({})).authorization(Some(&format!("Bearer {t} Bearer {t}"))),
        Probe::document("no token, deep and a subscription", t, &format!("subscription {{ a(b: {}1{}) }}", "[".repeat(100_000), "]".repeat(100_000)), json!({}))
            .authorization(None),
        Probe::get("GET deep lists without a token", format!("query={}", "%5B".repeat(10_000)), None),
        Probe::get(
            "GET deep subscription",
            format!("query=subscription%7Ba(b%3A{}1{})%7D", "%5B".repeat(5_000), "%5D".repeat(5_000)),
            Some(format!("Bearer {t}")),
        ),
        Probe::get("GET variables not JSON", "query=%7Bviewer%7Brole%7D%7D&variables=%7B".into(), Some(format!("Bearer {t}"))),
        Probe::get("GET query string garbage", "%%%&&&==;;".into(), Some(format!("Bearer {t}"))),
        Probe::get("GET a mutation", "query=mutation%7BdeleteContact(id%3A%221%22)%7D".into(), Some(format!("Bearer {t}")))
            .expect(405),
    ];
    // Above the body limit (PREGON_MAX_BODY_BYTES, 2 MiB by default): 413.
    let padding = "x".repeat(3 * 1024 * 1024);
    probes.push(
        Probe::json("oversized body", t, &json!({ "query": "{ viewer { role } }", "variables": { "pad": padding } }))
            .expect(413),
    );
    probes.push(Probe::raw("oversized garbage", t, vec![b'['; 2 * 1024 * 1024 + 1]).expect(413));
    probes
}

/// `count` seeded random probes around the real operations.
fn random_probes(rng: &mut StdRng, token: &str, bases: &[(String, Value)], count: usize) -> Vec<Probe> {
    const TOKENS: [&str; 40] = [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        "$x",
        "!",
        "...",
        "on",
        "query",
        "mutation",
        "subscription",
        "fragment",
        "contacts",
        "contact",
        "createContact",
        "deleteContact",
        "input",
        "id",
        "first",
        "\"s\"",
        "\"\"\"b\"\"\"",
        "1",
        "-1",
        "1e999",
        "0.5",
        "null",
        "true",
        "@include(if: true)",
        "@skip",
        "__typename",
        "__schema",
        "#c\n",
        ",",
        "=",
        "Int!",
        "[ID!]!",
        "\\u0000",
    ];
    const CONTENT_TYPES: [Option<&str>; 6] = [
        Some("application/json"),
        Some(GRAPHQL_RESPONSE),
        Some("APPLICATION/JSON;charset=UTF-8"),
        Some("text/plain"),
        Some("application/octet-stream"),
        None,
    ];
    const ACCEPTS: [&str; 5] =
        ["application/json", GRAPHQL_RESPONSE, "*/*", "application/*;q=0.1", "text/html;q=1, */*;q=0"];
    let mut probes = Vec::with_capacity(count);
    for n in 0..count {
        let (query, variables) = &bases[rng.random_range(0..bases.len())];
        let request = json!({ "query": query, "variables": variables });
        let mut probe = match rng.random_range(0..8) {
            0 => {
                let len = rng.random_range(0..600);
                let bytes: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
                Probe::raw(format!("random {n}: {len} random bytes"), token, bytes)
            }
            1 => {
                let len = rng.random_range(1..60);
                let soup: Vec<&str> = (0..len).map(|_| TOKENS[rng.random_range(0..TOKENS.len())]).collect();
                Probe::document(format!("random {n}: token soup"), token, &soup.join(" "), json!({}))
            }
            2 | 3 => {
                let mutated = mutate_text(rng, query, 4);
                Probe::document(format!("random {n}: mutated document {mutated:?}"), token, &mutated, variables.clone())
            }
            4 => {
                let mutated = mutate_json(rng, variables);
                Probe::document(
                    format!("random {n}: mutated variables {}", short(&mutated.to_string())),
                    token,
                    query,
                    mutated,
                )
            }
            5 => {
                let body = mutate(rng, request.to_string().as_bytes(), SYNTAX, 6);
                Probe::raw(format!("random {n}: mutated body {}", short(&String::from_utf8_lossy(&body))), token, body)
            }
            6 => {
                let body = request.to_string().into_bytes();
                let cut = rng.random_range(0..body.len());
                Probe::raw(format!("random {n}: body cut at {cut}"), token, body[..cut].to_vec())
            }
            _ => {
                let mutated = mutate_text(rng, query, 2);
                Probe::json(
                    format!("random {n}: operation name and extensions"),
                    token,
                    &json!({ "query": mutated, "variables": mutate_json(rng, variables), "operationName": odd_value(rng), "extensions": odd_value(rng) }),
                )
            }
        };
        if rng.random_bool(0.15) {
            probe.content_type = CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())].map(str::to_owned);
        }
        if rng.random_bool(0.3) {
            probe.accept = Some(ACCEPTS[rng.random_range(0..ACCEPTS.len())].to_owned());
        }
        if rng.random_bool(0.05) {
            probe.authorization = None;
        }
        probes.push(probe);
    }
    probes
}

/// Whether a mutation's answer says something was done (a root field has a value).
fn mutation_succeeded(body: &Value) -> bool {
    body["data"].as_object().is_some_and(|data| data.values().any(|value| !value.is_null()))
}

async fn send_probe(app: &TestApp, client: &reqwest::Client, probe: &Probe) -> Answer {
    let url = match &probe.query_string {
        Some(query) => format!("{}/graphql?{query}", app.address),
        None => format!("{}/graphql", app.address),
    };
    let mut request = client.request(probe.method.clone(), url);
    if probe.method == reqwest::Method::POST {
        request = request.body(probe.body.clone());
    }
    if let Some(content_type) = &probe.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = &probe.accept {
        request = request.header("accept", accept);
    }
    if let Some(authorization) = &probe.authorization {
        request = request.header("authorization", authorization);
    }
    answer(request, &probe.label).await
}

#[tokio::test]
async fn the_graphql_endpoint_answers_malformed_requests_with_client_errors_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let fixture = graphql_fixture(&app).await;
    let bases = base_operations(&fixture);
    // The corpus starts from operations that work: each one, unmutated, succeeds.
    for (query, variables) in &bases {
        app.ok(query, variables.clone()).await;
    }
    let mut rng = StdRng::seed_from_u64(0x5EED_0001);
    let mut probes = structured_probes(&app.token, &fixture);
    let structured = probes.len();
    probes.extend(random_probes(&mut rng, &app.token, &bases, 400));

    let client = client();
    let (mut refused, mut executed_with_errors, mut succeeded, mut wrote) = (0, 0, 0, 0);
    let mut counts = row_counts(&app).await;
    let mut failures = Vec::new();
    for probe in &probes {
        let answer = send_probe(&app, &client, probe).await;
        let context = format!("{} [{} bytes]", probe.label, probe.body.len());
        let verdict = checked(&mut failures, || {
            let body = graphql_answer(&context, &answer);
            if let Some(status) = probe.status {
                assert_eq!(answer.status, status, "{context}: {}", short(&answer.text));
            }
            body
        });
        let now = row_counts(&app).await;
        let Some(body) = verdict else {
            counts = now;
            continue;
        };
        // A request error has no `data` at all; an execution error has `data` (maybe null).
        match (body.get("errors").is_none(), body.get("data").is_some()) {
            (true, _) => succeeded += 1,
            (false, true) => executed_with_errors += 1,
            (false, false) => refused += 1,
        }
        // A request that answered only errors wrote nothing; one whose mutation did
        // something may have (the rows it wrote become the new baseline).
        if now != counts {
            checked(&mut failures, || {
                assert!(
                    mutation_succeeded(&body),
                    "{context}: the database changed ({counts:?} → {now:?}) though the answer is {}",
                    short(&answer.text)
                )
            });
            wrote += 1;
            counts = now;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} probes were answered wrongly:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n")
    );
    let others = other_endpoints(&app, &client, &fixture).await;
    let sockets = websocket_probes(&app).await;
    assert_still_serving(&app).await;
    assert_eq!(row_counts(&app).await, counts, "the exports and the WebSocket probes wrote rows");
    // The corpus mostly fails: a mutated document that still works is the exception.
    assert!(succeeded + wrote < probes.len() / 4, "{succeeded} of {} probes succeeded", probes.len());
    eprintln!(
        "fuzz: GraphQL endpoint: {} requests ({structured} hand-picked, {} random), {refused} refused before execution, \
         {executed_with_errors} with execution errors, {succeeded} succeeded, {wrote} wrote rows; \
         {others} export requests, {sockets} WebSocket messages; {:.1} s",
        probes.len(),
        probes.len() - structured,
        started.elapsed().as_secs_f64()
    );
}

/// The CSV export endpoints with malformed query strings: 4xx or a CSV, nothing internal.
async fn other_endpoints(app: &TestApp, client: &reqwest::Client, f: &Fixture) -> usize {
    let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let deep = format!("{}{}", "{\"all\":[".repeat(100), "]}".repeat(100));
    let paths = [
        "/export/contacts.csv?segmentId=abc".to_owned(),
        "/export/contacts.csv?segmentId=99999999999999999999".into(),
        format!("/export/contacts.csv?segmentId={}&filter=%7B%7D", f.segment),
        "/export/contacts.csv?filter=%7B".into(),
        format!("/export/contacts.csv?filter={}", encode(&deep)),
        format!("/export/contacts.csv?filter={}", encode("{\"condition\":{\"field\":\"TAGS\"}}")),
        format!("/export/contacts.csv?filter={}", encode("{\"condition\":{\"field\":\"EMAIL\",\"operator\":\"IS\",\"value\":\"a\\u0000\"}}")),
        format!("/export/contacts.csv?filter={}", encode(&format!("{{\"condition\":{{\"field\":\"EMAIL\",\"operator\":\"CONTAINS\",\"value\":\"{}\"}}}}", "v".repeat(60_000)))),
        "/export/contacts.csv?search=%00".into(),
        format!("/export/contacts.csv?search={}", "%25".repeat(20_000)),
        "/export/contacts.csv?tag=%00".into(),
        "/export/contacts.csv?search=%FF%FE".into(),
        "/export/contacts.csv?%%%".into(),
        "/export/messages.csv".into(),
        "/export/messages.csv?list=NOPE".into(),
        "/export/messages.csv?list=FAILED&from=garbage&to=".into(),
        "/export/messages.csv?list=FAILED&from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z".into(),
        "/export/messages.csv?list=INCOMING&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".into(),
        "/export/messages.csv?list=OUTGOING&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&channelId=x".into(),
        "/export/messages.csv?list=OUTGOING&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&channelId=99999999999999999999".into(),
        "/export/messages.csv?list=FAILED&from=%00&to=%00&channelId=%00".into(),
    ];
    for path in &paths {
        let answer = answer(client.get(format!("{}{path}", app.address)).bearer_auth(&app.token), path).await;
        let context = short(path);
        assert!(answer.status < 500, "{context}: status {}: {}", answer.status, short(&answer.text));
        assert_no_internal_text(&context, &answer.text);
        if answer.status != 200 {
            assert!((400..500).contains(&answer.status), "{context}: {}", answer.status);
            let body: Value =
                serde_json::from_str(&answer.text).unwrap_or_else(|_| panic!("{context}: {}", short(&answer.text)));
            assert_client_errors(&context, &body);
        }
    }
    paths.len()
}

/// GraphQL over WebSocket with malformed messages: errors or a closed connection, and the
/// server keeps serving.
async fn websocket_probes(app: &TestApp) -> usize {
    let deep = format!("{{ contacts(search: {}1{}) {{ totalCount }} }}", "[".repeat(100_000), "]".repeat(100_000));
    let messages = [
        json!({ "id": "1", "type": "subscribe", "payload": { "query": deep } }).to_string(),
        json!({ "id": "2", "type": "subscribe", "payload": { "query": "subscription { contactChanged { action } }", "variables": { "x": "\u{0}" } } }).to_string(),
        json!({ "id": "3", "type": "subscribe", "payload": { "query": "{ contacts(search: \"\\u0000\") { totalCount } }" } }).to_string(),
        json!({ "id": "4", "type": "subscribe", "payload": { "query": "subscription { broadcastProgress(broadcastId: \"abc\") { status } }" } }).to_string(),
        json!({ "id": "5", "type": "subscribe", "payload": { "query": "subscription { nope }" } }).to_string(),
        json!({ "id": "6", "type": "subscribe", "payload": { "query": "{ viewer { role } }" } }).to_string(),
    ];
    let mut socket = connect_as(app, "graphql-transport-ws", &app.token).await;
    for message in &messages {
        send(&mut socket, serde_json::from_str(message).unwrap()).await;
    }
    // Every subscription is answered (an error, or data for the query), none with INTERNAL.
    let mut answered = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while answered.len() < messages.len() && Instant::now() < deadline {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(5), next_json(&mut socket)).await else {
            break;
        };
        assert_no_internal_text("WebSocket", &message.to_string());
        let errors = match message["type"].as_str() {
            Some("error") => message["payload"].clone(),
            Some("next") => message["payload"]["errors"].clone(),
            _ => continue,
        };
        for error in errors.as_array().into_iter().flatten() {
            let code = error["extensions"]["code"].as_str().unwrap_or("BAD_USER_INPUT");
            assert!(CLIENT_CODES.contains(&code), "WebSocket: {message}");
        }
        answered.insert(message["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(answered.len(), messages.len(), "every WebSocket subscription is answered: {answered:?}");
    // Frames that are not protocol messages close the connection, and only it.
    for frame in ["{not json", "[]", "{\"type\": \"nope\"}", &"[".repeat(100_000)] {
        let mut socket = connect_as(app, "graphql-transport-ws", &app.token).await;
        futures_util::SinkExt::send(&mut socket, tokio_tungstenite::tungstenite::Message::Text(frame.into()))
            .await
            .ok();
        let _ = tokio::time::timeout(Duration::from_secs(5), next_json(&mut socket)).await;
    }
    messages.len() + 4
}

// ---------------------------------------------------------------------------------------
// 2. CSV imports

const IMPORT: &str = "mutation($csv: String, $mode: ImportMode!, $id: ImportIdentifier!, $tags: [String!], $mapping: [ImportColumnInput!], $delimiter: String) {
  importContacts(csv: $csv, mode: $mode, identifier: $id, tags: $tags, mapping: $mapping, delimiter: $delimiter) {
    rowsRead created updated skipped rejected problemsTruncated columns { column field key } problems { line outcome column reason }
  }
}";

const IMPORT_FILE: &str = "mutation($file: Upload!, $mode: ImportMode!, $id: ImportIdentifier!, $delimiter: String) {
  importContacts(file: $file, mode: $mode, identifier: $id, delimiter: $delimiter) {
    rowsRead created updated skipped rejected problemsTruncated columns { column field key } problems { line outcome column reason }
  }
}";

/// One import to try.
struct CsvCase {
    label: String,
    csv: Vec<u8>,
    /// Upload it as a file (any bytes) rather than the `csv` string.
    upload: bool,
    mode: &'static str,
    identifier: &'static str,
    delimiter: Option<String>,
    tags: Option<Vec<String>>,
    mapping: Option<Value>,
}

impl CsvCase {
    fn new(label: impl Into<String>, csv: impl Into<Vec<u8>>) -> CsvCase {
        let csv = csv.into();
        CsvCase {
            label: label.into(),
            upload: std::str::from_utf8(&csv).is_err(),
            csv,
            mode: "ADD_AND_UPDATE",
            identifier: "EMAIL",
            delimiter: None,
            tags: None,
            mapping: None,
        }
    }

    fn upload(mut self) -> CsvCase {
        self.upload = true;
        self
    }

    fn mode(mut self, mode: &'static str, identifier: &'static str) -> CsvCase {
        self.mode = mode;
        self.identifier = identifier;
        self
    }

    fn delimiter(mut self, delimiter: &str) -> CsvCase {
        self.delimiter = Some(delimiter.to_owned());
        self
    }

    fn tags(mut self, tags: Vec<String>) -> CsvCase {
        self.tags = Some(tags);
        self
    }

    fn mapping(mut self, mapping: Value) -> CsvCase {
        self.mapping = Some(mapping);
        self
    }
}

fn structured_csv_cases(contact: &str) -> Vec<CsvCase> {
    let bom = "\u{feff}";
    let mut many_columns = (0..5_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
    many_columns.push_str(",Email\n");
    many_columns.push_str(&vec!["v"; 5_000].join(","));
    many_columns.push_str(",cols@x.io\n");
    let mut wide_rows = String::from("Email,First name\n");
    for i in 0..300 {
        wide_rows.push_str(&format!("w{i}@x.io,{}\n", vec!["x"; 300].join(",")));
    }
    let mut many_tags = String::from("Email,Tags\n");
    for i in 0..400 {
        let tags: Vec<String> = (0..100).map(|j| format!("t{i}-{j}")).collect();
        many_tags.push_str(&format!("tags{i}@x.io,\"{}\"\n", tags.join(", ")));
    }
    let mut bad_phones = String::from("First name,Phone\n");
    for i in 0..3_000 {
        bad_phones.push_str(&format!("P{i},12{i}\n"));
    }
    vec![
        CsvCase::new("empty", ""),
        CsvCase::new("empty upload", "").upload(),
        CsvCase::new("blank", "   \t "),
        CsvCase::new("only line breaks", "\n\n\r\n\r\r\n"),
        CsvCase::new("header only", "First name,Email\n"),
        CsvCase::new("header only without a line break", "First name,Email"),
        CsvCase::new("header with no known column", "a,b,c\n1,2,3\n"),
        CsvCase::new("BOM only", bom),
        CsvCase::new("BOM and header", format!("{bom}First name,Email")),
        CsvCase::new("BOM inside the header", format!("First{bom} name,E{bom}mail\nAna,bom1@x.io\n")),
        CsvCase::new("BOM on every line", format!("{bom}First name,Email\n{bom}Ana,bom2@x.io\n{bom}Bea,bom3@x.io\n")),
        CsvCase::new("two BOMs", format!("{bom}{bom}First name,Email\nAna,bom4@x.io\n")),
        CsvCase::new("BOM in a field", format!("First name,Email\nA{bom}na,{bom}bom5@x.io\n")),
        CsvCase::new("unbalanced quote", "First name,Email\n\"Ana,q1@x.io\nBea,q2@x.io\n"),
        CsvCase::new("quote inside a field", "First name,Email\nAn\"a,q3@x.io\n"),
        CsvCase::new("quote in the header", "\"First name,Email\nAna,q4@x.io\n"),
        CsvCase::new("only quotes", "\"\"\"\"\"\"\"\"\"\"\"\""),
        CsvCase::new("a field of 1.5 MB", format!("First name,Email\n{},big@x.io\n", "n".repeat(1_500_000))),
        CsvCase::new("a field of 5 MB uploaded", format!("First name,Email\n{},big2@x.io\n", "n".repeat(5_000_000))).upload(),
        CsvCase::new("an email of 100 KB", format!("Email\n{}@x.io\n", "e".repeat(100_000))),
        CsvCase::new("a tag list of 100 KB", format!("Email,Tags\nt@x.io,{}\n", vec!["t"; 50_000].join(","))),
        CsvCase::new("5,000 columns", many_columns),
        CsvCase::new("300 columns more than the header", wide_rows),
        CsvCase::new("3,000 bad phones", bad_phones),
        CsvCase::new("40,000 distinct tags in the Tags column", many_tags),
        CsvCase::new("CR line endings", "First name,Email\rAna,cr1@x.io\rBea,cr2@x.io\r"),
        CsvCase::new("mixed line endings", "First name,Email\r\nAna,cr3@x.io\rBea,cr4@x.io\nCai,cr5@x.io\n\r"),
        CsvCase::new("NUL in fields", "First name,Email\nA\0na,nul1@x.io\n\0,\0\n"),
        CsvCase::new("NUL in the header", "First\0name,Em\0ail\nAna,nul2@x.io\n"),
        CsvCase::new("NUL in an email", "First name,Email\nAna,nul3\0@x.io\n"),
        CsvCase::new("NUL in tags", "Email,Tags\nnul4@x.io,\"a\0b, \0\"\n"),
        CsvCase::new("NUL in a custom field", "First name,Email,Tier\nAna,nul5@x.io,gold\0\n"),
        CsvCase::new("NUL in a language", "First name,Email,Language\nAna,nul6@x.io,e\0s\n"),
        CsvCase::new("NUL in a phone", "First name,Phone\nAna,+593\0991234567\n").mode("ADD_AND_UPDATE", "PHONE"),
        CsvCase::new("NUL in a contact ID", "Contact ID,First name\n1\0,X\n").mode("UPDATE_ONLY", "CONTACT_ID"),
        CsvCase::new("only NULs", vec![0u8; 4096]).upload(),
        CsvCase::new("invalid UTF-8 in the header", b"First name,Em\xffail\nAna,utf1@x.io\n".to_vec()),
        CsvCase::new("invalid UTF-8 in a field", b"First name,Email\nAn\xc3\x28a,utf2@x.io\nBea,utf3@x.io\n".to_vec()),
        CsvCase::new("a truncated UTF-8 sequence at the end", b"First name,Email\nAna,utf4@x.io\n\xe2\x82".to_vec()),
        CsvCase::new("Latin-1", b"Nombre,Correo\nJos\xe9,latin@x.io\n".to_vec()),
        CsvCase::new(
            "UTF-16 with a BOM",
            [0xFF, 0xFE].into_iter().chain("Email\nu16@x.io\n".encode_utf16().flat_map(u16::to_le_bytes)).collect::<Vec<u8>>(),
        ),
        CsvCase::new("20,000 empty lines", format!("Email\n{}", "\n".repeat(20_000))),
        CsvCase::new("20,000 lines of commas", format!("First name,Email\n{}", ",\n".repeat(20_000))),
        CsvCase::new("a contact ID of 30 digits", format!("Contact ID,First name\n{},X\n", "9".repeat(30))).mode("UPDATE_ONLY", "CONTACT_ID"),
        CsvCase::new("contact IDs that are not", "Contact ID,First name\n-1,X\n0x10,Y\n1e3,Z\n \t,W\n").mode("UPDATE_ONLY", "CONTACT_ID"),
        CsvCase::new("ADD_ONLY by contact ID", format!("Contact ID,First name\n{contact},X\n")).mode("ADD_ONLY", "CONTACT_ID"),
        CsvCase::new("phones that are not", "Phone\n+\n++593\n+0000000000000000000000\n٠١٢٣٤٥٦٧٨٩\n").mode("ADD_AND_UPDATE", "PHONE"),
        CsvCase::new("no column for the identifier", "First name\nAna\n").mode("ADD_AND_UPDATE", "PHONE"),
        CsvCase::new("delimiter empty", "First name,Email\nAna,d1@x.io\n").delimiter(""),
        CsvCase::new("delimiter two characters", "First name,Email\nAna,d2@x.io\n").delimiter(",,"),
        CsvCase::new("delimiter tab", "First name\tEmail\nAna\td3@x.io\n").delimiter("\t"),
        CsvCase::new("delimiter quote", "First name\"Email\nAna\"d4@x.io\n").delimiter("\""),
        CsvCase::new("delimiter line break", "First name,Email\nAna,d5@x.io\n").delimiter("\n"),
        CsvCase::new("delimiter non-ASCII", "First nameéEmail\nAnaéd6@x.io\n").delimiter("é"),
        CsvCase::new("delimiter NUL", "First name\0Email\nAna\0d7@x.io\n").delimiter("\u{0}"),
        CsvCase::new("mapping to a missing column", "First name,Email\nAna,m1@x.io\n").mapping(json!([{ "column": "nope", "field": "EMAIL" }])),
        CsvCase::new("mapping a custom field without a key", "a,Email\n1,m2@x.io\n")
            .mapping(json!([{ "column": "a", "field": "CUSTOM_FIELD" }, { "column": "Email", "field": "EMAIL" }])),
        CsvCase::new("mapping one column twice", "a,b\n1,m3@x.io\n")
            .mapping(json!([{ "column": "b", "field": "EMAIL" }, { "column": "b", "field": "PHONE" }, { "column": "a", "field": "EMAIL" }])),
        CsvCase::new("mapping with 10,000 entries", "a,Email\n1,m4@x.io\n").mapping(Value::Array(
            (0..10_000).map(|i| json!({ "column": format!("c{i}"), "field": "IGNORE" })).collect(),
        )),
        CsvCase::new("mapping with NUL names", "a,Email\n1,m5@x.io\n")
            .mapping(json!([{ "column": "\u{0}", "field": "EMAIL" }, { "column": "a", "field": "CUSTOM_FIELD", "key": "\u{0}" }])),
        CsvCase::new("tags: 2,000 of them", "Email\ntg1@x.io\n").tags((0..2_000).map(|i| format!("tag {i}")).collect()),
        CsvCase::new("tags: empty and blank", "Email\ntg2@x.io\n").tags(vec![String::new(), "  ".into()]),
        CsvCase::new("tags: NUL and 10 KB", "Email\ntg3@x.io\n").tags(vec!["\u{0}".into(), "t".repeat(10_000)]),
    ]
}

fn random_csv_cases(rng: &mut StdRng, count: usize) -> Vec<CsvCase> {
    const BASES: [&str; 3] = [
        "First name,Last name,Phone,Email,Tags\nAna,Pérez,+593 99 123 4567,ana@x.io,\"vip, clientes\"\nBea,,,bea@x.io,vip\n",
        "\u{feff}Nombre;Apellido;Teléfono;Correo;Etiquetas\r\n\"Pérez; Ana\";\"O\"\"Brien\";+593 99 765 4321;ana2@x.io;\"vip, x\"\r\n",
        "Email,Phone,Language\nz@x.io,+14155552671,es\ny@x.io,+12025550143,pt-BR\n",
    ];
    const CSV_BYTES: &[u8] = b",;\"\n\r\t\0 a@.+1\xef\xbb\xbf\xff\xc3";
    const MODES: [(&str, &str); 6] = [
        ("ADD_ONLY", "EMAIL"),
        ("ADD_ONLY", "PHONE"),
        ("UPDATE_ONLY", "CONTACT_ID"),
        ("UPDATE_ONLY", "EMAIL"),
        ("ADD_AND_UPDATE", "PHONE"),
        ("ADD_AND_UPDATE", "EMAIL"),
    ];
    (0..count)
        .map(|n| {
            let mut case = match rng.random_range(0..4) {
                0 => {
                    let len = rng.random_range(0..1500);
                    let bytes: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
                    CsvCase::new(format!("random {n}: {len} random bytes"), bytes)
                }
                1 => {
                    let len = rng.random_range(0..600);
                    let bytes: Vec<u8> = (0..len).map(|_| CSV_BYTES[rng.random_range(0..CSV_BYTES.len())]).collect();
                    CsvCase::new(format!("random {n}: CSV punctuation"), bytes)
                }
                _ => {
                    let base = BASES[rng.random_range(0..BASES.len())];
                    let bytes = mutate(rng, base.as_bytes(), CSV_BYTES, 6);
                    CsvCase::new(format!("random {n}: mutated {}", short(&String::from_utf8_lossy(&bytes))), bytes)
                }
            };
            let (mode, identifier) = MODES[rng.random_range(0..MODES.len())];
            case = case.mode(mode, identifier);
            if rng.random_bool(0.2) {
                case = case.delimiter([",", ";", "|", "\t", ""][rng.random_range(0..5)]);
            }
            if rng.random_bool(0.3) {
                case = case.upload();
            }
            case
        })
        .collect()
}

async fn run_import(app: &TestApp, client: &reqwest::Client, case: &CsvCase) -> Answer {
    let request = client.post(format!("{}/graphql", app.address)).bearer_auth(&app.token);
    let request = if case.upload {
        let operations = json!({
            "query": IMPORT_FILE,
            "variables": { "file": null, "mode": case.mode, "id": case.identifier, "delimiter": case.delimiter },
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.file"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(case.csv.clone())
                    .file_name("contacts.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
        request.multipart(form)
    } else {
        let csv = String::from_utf8(case.csv.clone()).expect("a string import is UTF-8");
        request.json(&json!({ "query": IMPORT, "variables": {
            "csv": csv, "mode": case.mode, "id": case.identifier, "tags": case.tags,
            "mapping": case.mapping, "delimiter": case.delimiter,
        } }))
    };
    answer(request, &case.label).await
}

/// A message a person can act on: a sentence, no debug formatting, no internals.
fn assert_actionable(context: &str, message: &str) {
    assert!(message.trim().chars().count() >= 12, "{context}: a message too short to act on: {message:?}");
    for debug in DEBUG_TEXT {
        assert!(!message.contains(debug), "{context}: debug formatting {debug:?} in {message:?}");
    }
    assert_no_internal_text(context, message);
}

#[tokio::test]
async fn csv_imports_of_malformed_files_answer_a_report_or_bad_user_input_and_write_only_what_they_report() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    app.ok("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
        .await;
    let contact = app.contact(json!({ "firstName": "Existing", "email": "ana@x.io", "phone": "+593991234567" })).await;
    let mut rng = StdRng::seed_from_u64(0x5EED_0002);
    let mut cases = structured_csv_cases(&contact);
    let structured = cases.len();
    cases.extend(random_csv_cases(&mut rng, 150));

    let client = client();
    let (mut reports, mut refused, mut created_total, mut uploads) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let before = row_counts(&app).await;
        let answer = run_import(&app, &client, case).await;
        uploads += case.upload as usize;
        let after = row_counts(&app).await;
        let context = format!(
            "{} ({} {} by {}, {} bytes)",
            case.label,
            if case.upload { "upload" } else { "string" },
            case.mode,
            case.identifier,
            case.csv.len()
        );
        checked(&mut failures, || {
            let body = graphql_answer(&context, &answer);
            let report = &body["data"]["importContacts"];
            if report.is_object() {
                reports += 1;
                assert!(body.get("errors").is_none(), "{context}: a report with errors: {}", short(&answer.text));
                let n =
                    |key: &str| report[key].as_i64().unwrap_or_else(|| panic!("{context}: {key} missing: {report}"));
                assert!(["rowsRead", "created", "updated", "skipped", "rejected"].iter().all(|k| n(k) >= 0));
                assert_eq!(
                    n("rowsRead"),
                    n("created") + n("updated") + n("skipped") + n("rejected"),
                    "{context}: every row read is counted once: {report}"
                );
                for problem in report["problems"].as_array().unwrap() {
                    assert!(problem["line"].as_i64().unwrap() >= 1, "{context}: {problem}");
                    assert_actionable(&context, problem["reason"].as_str().unwrap());
                }
                assert_eq!(
                    after["contacts"] - before["contacts"],
                    n("created"),
                    "{context}: contacts written ≠ created: {report}"
                );
                created_total += n("created");
            } else {
                refused += 1;
                let error = &body["errors"][0];
                assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{context}: {}", short(&answer.text));
                assert_actionable(&context, error["message"].as_str().unwrap());
                assert_eq!(after, before, "{context}: a refused import wrote rows: {}", short(&answer.text));
            }
        });
    }
    assert!(
        failures.is_empty(),
        "{} of {} imports were answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_still_serving(&app).await;
    assert!(refused > 0 && reports > 0, "the corpus reaches both outcomes: {reports} reports, {refused} refused");
    eprintln!(
        "fuzz: CSV imports: {} requests ({structured} hand-picked, {} random; {uploads} uploaded), {reports} reports \
         ({created_total} contacts created), {refused} refused with BAD_USER_INPUT; {:.1} s",
        cases.len(),
        cases.len() - structured,
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 3. Provider webhooks

/// How a kind's webhooks are authenticated: the headers to send with `body`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signing {
    /// `Authorization: Bearer <secret>` (the custom channel).
    Bearer,
    /// `X-Hub-Signature-256: sha256=<hex HMAC>` (WhatsApp Cloud, Messenger).
    HubSignature,
    /// `X-Pregon-Webhook-Secret` (360dialog).
    PregonSecret,
    /// `X-Telegram-Bot-Api-Secret-Token`.
    TelegramSecret,
    /// `X-Viber-Content-Signature: <hex HMAC>`.
    Viber,
    /// `x-line-signature: <base64 HMAC>`.
    Line,
    /// `X-Twilio-Signature`: HMAC-SHA1 of the URL and the sorted form fields.
    Twilio,
}

struct HookChannel {
    kind: &'static str,
    id: String,
    secret: &'static str,
    signing: Signing,
    /// Bodies the provider could send that change nothing here (statuses of messages Pregón
    /// does not know, or of messages that are already READ; inbound messages from strangers
    /// are accounted for by the answer's `messages` count).
    bases: Vec<Vec<u8>>,
}

fn signed_headers(channel: &HookChannel, url: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
    let content_type =
        if channel.signing == Signing::Twilio { "application/x-www-form-urlencoded" } else { "application/json" };
    let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
    let header = match channel.signing {
        Signing::Bearer => ("authorization", format!("Bearer {secret}")),
        Signing::HubSignature => ("x-hub-signature-256", format!("sha256={}", hmac_sha256_hex(secret, body))),
        Signing::PregonSecret => ("x-pregon-webhook-secret", secret.to_owned()),
        Signing::TelegramSecret => ("x-telegram-bot-api-secret-token", secret.to_owned()),
        Signing::Viber => ("x-viber-content-signature", hmac_sha256_hex(secret, body)),
        Signing::Line => ("x-line-signature", hmac_sha256_base64(secret, body)),
        Signing::Twilio => {
            let fields: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
            let mut signed = url.to_owned();
            for (name, value) in &fields {
                signed.push_str(name);
                signed.push_str(value);
            }
            ("x-twilio-signature", hmac_sha1_base64(secret, signed.as_bytes()))
        }
    };
    headers.push((header.0.to_owned(), header.1));
    headers
}

async fn post_hook(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    context: &str,
) -> Answer {
    let mut request = client.post(format!("{}/webhooks/{path}", app.address)).body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    answer(request, context).await
}

/// A webhook answer: never a 5xx; JSON errors carry client codes; nothing internal.
fn webhook_answer(context: &str, answer: &Answer) -> Option<Value> {
    assert!(answer.status < 500, "{context}: status {}: {}", answer.status, short(&answer.text));
    assert_no_internal_text(context, &answer.text);
    if !answer.content_type.starts_with("application/json") {
        return None;
    }
    let body: Value = serde_json::from_str(&answer.text)
        .unwrap_or_else(|err| panic!("{context}: not JSON ({err}): {}", short(&answer.text)));
    assert_client_errors(context, &body);
    if let Some(message) = body["errors"][0]["message"].as_str() {
        assert_actionable(context, message);
    }
    Some(body)
}

async fn hook_channels(app: &TestApp, messages: &[String]) -> Vec<HookChannel> {
    let now = chrono::Utc::now().timestamp();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let loopback = "http://127.0.0.1:9";
    let create = |kind: &'static str, credentials: Value| async move {
        app.channel(
            json!({ "name": format!("Fuzz {kind}"), "kind": kind, "baseUrl": loopback, "credentials": credentials }),
        )
        .await
    };
    let wa_notification = |value: Value| {
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({ "display_phone_number": "15550783881", "phone_number_id": "106540352242922" });
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": [{ "value": value, "field": "messages" }] }] })
            .to_string()
            .into_bytes()
    };
    let wa_bases = |wa: &dyn Fn(Value) -> Vec<u8>| {
        vec![
            wa(json!({ "statuses": [{ "id": "wamid.unknown", "status": "delivered", "timestamp": now.to_string(),
                "recipient_id": "593991112233", "biz_opaque_callback_data": messages[0] }] })),
            wa(
                json!({ "statuses": [{ "id": "wamid.nope", "status": "failed", "timestamp": now.to_string(), "recipient_id": "1",
                "errors": [{ "code": 131026, "title": "Undeliverable", "message": "Undeliverable", "error_data": { "details": "x" } }] }] }),
            ),
            wa(json!({ "contacts": [{ "profile": { "name": "Kerry" }, "wa_id": "15559990001" }],
                "messages": [{ "from": "15559990001", "id": "wamid.in-1", "timestamp": now.to_string(), "type": "text", "text": { "body": "hola" } }] })),
        ]
    };
    let messenger_event = |messaging: Value| {
        json!({ "object": "page", "entry": [{ "id": "1122334455", "time": now_ms, "messaging": [messaging] }] })
            .to_string()
            .into_bytes()
    };
    let line_body = |events: Value| json!({ "destination": "Uxxxxxxxx", "events": events }).to_string().into_bytes();
    let viber_event = |event: &str| {
        json!({ "event": event, "timestamp": now_ms, "chat_hostname": "SN-CHAT-05_", "message_token": 5_741_311_803_571_721_087_i64, "user_id": "01234567890A=" })
            .to_string()
            .into_bytes()
    };
    let twilio_form = |fields: &[(&str, &str)]| {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish().into_bytes()
    };
    let custom = app.ok("{ channels { id kind } }", json!({})).await["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "CUSTOM")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    vec![
        HookChannel {
            kind: "CUSTOM",
            id: custom,
            secret: "s3cret",
            signing: Signing::Bearer,
            bases: vec![
                json!({ "statuses": [{ "messageId": messages[0], "status": "DELIVERED" }, { "messageId": messages[1], "status": "FAILED", "error": { "code": "x", "message": "y" } }] })
                    .to_string()
                    .into_bytes(),
                json!({ "statuses": [{ "messageId": "999999", "status": "READ" }, { "providerMessageId": "nobody", "status": "SENT" }] })
                    .to_string()
                    .into_bytes(),
                json!({ "messages": [{ "from": "stranger-17", "text": "¡Gracias!", "id": "in-17", "timestamp": "2026-11-22T10:00:00Z" }] })
                    .to_string()
                    .into_bytes(),
            ],
        },
        HookChannel {
            kind: "WHATSAPP_CLOUD",
            id: create("WHATSAPP_CLOUD", json!({ "accessToken": "t", "phoneNumberId": "106540352242922", "appSecret": "wa-secret" })).await,
            secret: "wa-secret",
            signing: Signing::HubSignature,
            bases: wa_bases(&wa_notification),
        },
        HookChannel {
            kind: "WHATSAPP_360DIALOG",
            id: create("WHATSAPP_360DIALOG", json!({ "apiKey": "k", "webhookSecret": "hook-secret" })).await,
            secret: "hook-secret",
            signing: Signing::PregonSecret,
            bases: wa_bases(&wa_notification),
        },
        HookChannel {
            kind: "MESSENGER",
            id: create("MESSENGER", json!({ "pageAccessToken": "t", "appSecret": "fb-secret", "pageId": "1122334455" })).await,
            secret: "fb-secret",
            signing: Signing::HubSignature,
            bases: vec![
                messenger_event(json!({ "sender": { "id": "9988" }, "recipient": { "id": "1122334455" }, "timestamp": now_ms,
                    "delivery": { "mids": ["m_unknown"], "watermark": now_ms } })),
                messenger_event(json!({ "sender": { "id": "9988" }, "recipient": { "id": "1122334455" }, "timestamp": now_ms,
                    "read": { "watermark": now_ms } })),
                messenger_event(json!({ "sender": { "id": "7766" }, "recipient": { "id": "1122334455" }, "timestamp": now_ms,
                    "message": { "mid": "m_in_1", "text": "hola" } })),
            ],
        },
        HookChannel {
            kind: "TELEGRAM",
            id: create("TELEGRAM", json!({ "botToken": "123:abc", "secretToken": "tg-secret" })).await,
            secret: "tg-secret",
            signing: Signing::TelegramSecret,
            bases: vec![
                json!({ "update_id": 10000, "message": { "message_id": 7, "date": now,
                    "from": { "id": 555000222, "is_bot": false, "first_name": "Ana" },
                    "chat": { "id": 555000222, "first_name": "Ana", "type": "private" }, "text": "hola" } })
                .to_string()
                .into_bytes(),
                json!({ "update_id": 10001, "edited_message": { "message_id": 8, "date": now, "chat": { "id": 1, "type": "private" }, "text": "x" } })
                    .to_string()
                    .into_bytes(),
            ],
        },
        HookChannel {
            kind: "VIBER",
            id: create("VIBER", json!({ "authToken": "viber-token" })).await,
            secret: "viber-token",
            signing: Signing::Viber,
            bases: vec![
                viber_event("delivered"),
                viber_event("seen"),
                json!({ "event": "message", "timestamp": now_ms, "message_token": 1, "sender": { "id": "vb-stranger=", "name": "V" },
                    "message": { "type": "text", "text": "hola" } })
                .to_string()
                .into_bytes(),
            ],
        },
        HookChannel {
            kind: "LINE",
            id: create("LINE", json!({ "channelAccessToken": "t", "channelSecret": "line-secret" })).await,
            secret: "line-secret",
            signing: Signing::Line,
            bases: vec![
                line_body(json!([])),
                line_body(json!([{ "type": "message", "mode": "active", "timestamp": now_ms,
                    "source": { "type": "user", "userId": "U0000000000000000000000000000fuzz" }, "webhookEventId": "01FZ",
                    "deliveryContext": { "isRedelivery": false }, "replyToken": "r",
                    "message": { "id": "444573844083572737", "type": "text", "quoteToken": "q", "text": "hola" } }])),
            ],
        },
        HookChannel {
            kind: "TWILIO_SMS",
            id: create("TWILIO_SMS", json!({ "accountSid": "AC0123", "authToken": "twilio-token", "from": "+14155550100" })).await,
            secret: "twilio-token",
            signing: Signing::Twilio,
            bases: vec![
                twilio_form(&[("MessageSid", "SMunknown"), ("MessageStatus", "delivered"), ("AccountSid", "AC0123")]),
                twilio_form(&[("MessageSid", "SMnope"), ("MessageStatus", "failed"), ("ErrorCode", "30003"), ("AccountSid", "AC0123")]),
            ],
        },
    ]
}

/// A signed webhook's answer: 2xx (with as many message rows as it reports) or 4xx (with
/// no rows written); `counts` moves on to the rows now.
async fn checked_webhook(
    app: &TestApp,
    label: &str,
    answer: &Answer,
    counts: &mut BTreeMap<&'static str, i64>,
    failures: &mut Vec<String>,
) -> bool {
    let now = row_counts(app).await;
    checked(failures, || {
        let json = webhook_answer(label, answer);
        if (200..300).contains(&answer.status) {
            let received = json.as_ref().map(|b| b["messages"].as_i64().unwrap_or(0)).unwrap_or(0);
            assert_eq!(
                now["messages"] - counts["messages"],
                received,
                "{label}: messages written ≠ reported: {}",
                short(&answer.text)
            );
        } else {
            assert!((400..500).contains(&answer.status), "{label}: {}", answer.status);
            assert_eq!(&now, counts, "{label}: a refused webhook wrote rows: {}", short(&answer.text));
        }
    });
    *counts = now;
    (200..300).contains(&answer.status)
}

/// The messages' rows as text (status and every timestamp), by id.
async fn message_rows(app: &TestApp) -> Vec<String> {
    text_rows(
        app,
        &format!(
            "SELECT {} AS r FROM messages ORDER BY id",
            row_text(&[
                "id",
                "status",
                "sent_at",
                "delivered_at",
                "read_at",
                "failed_at",
                "replied_at",
                "error_code",
                "provider_message_id",
                "updated_at"
            ])
        ),
    )
    .await
}

#[tokio::test]
async fn webhooks_refuse_forged_and_malformed_callbacks_with_4xx_and_change_nothing() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    // A broadcast whose messages are READ (final: no status can move them any more).
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 3, "w", &channel).await;
    let broadcast = draft(&app, &channel, &segment(&app, "w").await, json!({})).await;
    send_now(&app, &broadcast).await;
    wait_done(&app, &broadcast, Duration::from_secs(10)).await;
    let messages: Vec<String> =
        messages_of(&app, &broadcast).await.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    let client = client();
    for id in &messages {
        let answer = post_hook(
            &client,
            &app,
            &channel,
            &[("authorization".into(), "Bearer s3cret".into()), ("content-type".into(), "application/json".into())],
            json!({ "statuses": [{ "messageId": id, "status": "READ" }] }).to_string().into_bytes(),
            "mark read",
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let channels = hook_channels(&app, &messages).await;
    // Another workspace's custom channel, with the same secret.
    let (_, other) = app.other_workspace().await;
    let theirs = app
        .gql_as(
            Some(&other),
            "mutation { createChannel(input: {name: \"Theirs\", kind: CUSTOM, baseUrl: \"http://127.0.0.1:9\", credentials: {secret: \"s3cret\"}}) { id } }",
            json!({}),
        )
        .await["data"]["createChannel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A deleted channel, and one whose kind takes no webhooks.
    let deleted = app.channel(json!({ "name": "Gone", "kind": "CUSTOM", "baseUrl": "http://127.0.0.1:9", "credentials": { "secret": "s3cret" } })).await;
    app.ok("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": deleted })).await;
    let instagram = app
        .channel(
            json!({ "name": "IG", "kind": "INSTAGRAM", "credentials": { "pageAccessToken": "t", "appSecret": "s" } }),
        )
        .await;

    let messages_before = message_rows(&app).await;
    let contact_channels_before = text_rows(
        &app,
        &format!(
            "SELECT {} AS r FROM contact_channels ORDER BY id",
            row_text(&["id", "identifier", "last_incoming_at", "unreachable_at"])
        ),
    )
    .await;
    let mut rng = StdRng::seed_from_u64(0x5EED_0003);
    let (mut requests, mut unauthorized, mut refused, mut acknowledged, mut inbound) = (0, 0, 0, 0, 0);
    let mut counts = row_counts(&app).await;
    let mut failures = Vec::new();
    for channel in &channels {
        let url = format!("{}/webhooks/{}", app.address, channel.id);
        for round in 0..36 {
            let base = &channel.bases[rng.random_range(0..channel.bases.len())];
            let body = match round {
                0..3 => base.clone(),
                3..6 => (0..rng.random_range(0..400)).map(|_| rng.random::<u8>()).collect(),
                6 => Vec::new(),
                7 => vec![b'['; 10_000],
                8 => format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)).into_bytes(),
                _ => mutate(&mut rng, base, SYNTAX, 5),
            };
            let label = format!("{} round {round}: {}", channel.kind, short(&String::from_utf8_lossy(&body)));
            // Forged: no signature, a wrong one, or one computed with the wrong secret.
            let mut forged = signed_headers(channel, &url, &body, "not-the-secret");
            match round % 3 {
                0 => forged.truncate(1),
                1 => forged[1].1 = forged[1].1.chars().rev().collect(),
                _ => {}
            }
            let answer = post_hook(&client, &app, &channel.id, &forged, body.clone(), &label).await;
            requests += 1;
            unauthorized += 1;
            let now = row_counts(&app).await;
            checked(&mut failures, || {
                webhook_answer(&format!("{label} (forged)"), &answer);
                assert_eq!(answer.status, 401, "{label}: a forged webhook is 401: {}", short(&answer.text));
                assert_eq!(now, counts, "{label}: a forged webhook wrote rows");
            });
            counts = now;

            // Signed correctly, with an odd content type now and then.
            let mut headers = signed_headers(channel, &url, &body, channel.secret);
            if round % 7 == 5 {
                headers[0].1 =
                    ["text/plain", "application/xml", "multipart/form-data; boundary=x", ""][round % 4].to_owned();
            }
            let answer = post_hook(&client, &app, &channel.id, &headers, body.clone(), &label).await;
            requests += 1;
            let now = row_counts(&app).await;
            checked(&mut failures, || {
                let json = webhook_answer(&label, &answer);
                if (200..300).contains(&answer.status) {
                    acknowledged += 1;
                    // Pregón's summary says how many inbound messages it recorded (Twilio
                    // answers TwiML and its bases carry none).
                    let received = json.as_ref().map(|b| b["messages"].as_i64().unwrap_or(0)).unwrap_or(0);
                    inbound += received;
                    assert_eq!(
                        now["messages"] - counts["messages"],
                        received,
                        "{label}: messages written ≠ reported: {}",
                        answer.text
                    );
                    assert!(
                        now["contacts"] - counts["contacts"] <= received,
                        "{label}: contacts written without inbound messages"
                    );
                    for table in ["broadcasts", "segments", "channels", "tags", "users", "api_tokens"] {
                        assert_eq!(now[table], counts[table], "{label}: {table} changed");
                    }
                } else {
                    assert!((400..500).contains(&answer.status), "{label}: {}", answer.status);
                    refused += 1;
                    assert_eq!(now, counts, "{label}: a refused webhook wrote rows: {}", short(&answer.text));
                }
            });
            counts = now;
        }
    }
    // Ids that are not channels of this kind, or not channels at all.
    let custom = &channels[0];
    // Signed callbacks with odd text: NUL characters, a megabyte, control characters.
    let odd_texts = [
        json!({ "messages": [{ "from": "stranger-nul", "text": "a\u{0}b", "id": "in-nul" }] }),
        json!({ "messages": [{ "from": "stranger\u{0}", "text": "hola" }] }),
        json!({ "messages": [{ "from": "stranger-big", "text": "x".repeat(1_000_000) }] }),
        json!({ "messages": [{ "from": "stranger-ctl", "text": "\u{1}\u{7}\u{1b}[31m\u{202e}", "id": "\u{0}" }] }),
        json!({ "messages": [{ "from": "   ", "text": "blank" }] }),
        json!({ "messages": [{ "from": "stranger-ts", "text": "t", "timestamp": "+275760-09-13T00:00:00Z" }] }),
        json!({ "statuses": [{ "providerMessageId": "p\u{0}", "status": "FAILED", "error": { "code": "\u{0}", "message": "m\u{0}" } }] }),
        json!({ "statuses": [{ "messageId": messages[2], "status": "FAILED", "error": { "code": "c\u{0}", "message": "x".repeat(100_000) } }] }),
        json!({ "statuses": [{ "messageId": "-9223372036854775808", "status": "READ" }, { "messageId": " 1 ", "status": "read" }] }),
        json!({ "statuses": vec![json!({ "messageId": "999999", "status": "READ" }); 10_001] }),
        json!({ "statuses": null, "messages": null }),
        json!({ "statuses": {}, "messages": "x" }),
        json!([]),
    ];
    let wa_secret = channels[1].secret;
    let wa_odd = [
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp", "messages": [{ "from": "15559990002", "id": "wamid.nul", "timestamp": "1", "type": "text", "text": { "body": "a\u{0}b" } }] } }] }] }),
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp", "messages": [{ "from": "\u{0}", "id": "wamid.nul2", "timestamp": "99999999999999999999", "type": "text", "text": { "body": "x" } }] } }] }] }),
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp", "statuses": [{ "id": "wamid.x", "status": "failed", "timestamp": "-1", "recipient_id": "1",
                "biz_opaque_callback_data": "\u{0}", "errors": [{ "code": "\u{0}", "title": "\u{0}" }] }] } }] }] }),
    ];
    for (n, body) in odd_texts.iter().enumerate() {
        let label = format!("custom odd text {n}");
        let answer = post_hook(
            &client,
            &app,
            &custom.id,
            &signed_headers(custom, "", &[], custom.secret),
            body.to_string().into_bytes(),
            &label,
        )
        .await;
        requests += 1;
        if checked_webhook(&app, &label, &answer, &mut counts, &mut failures).await {
            acknowledged += 1;
        } else {
            refused += 1;
        }
    }
    for (n, body) in wa_odd.iter().enumerate() {
        let label = format!("WhatsApp odd text {n}");
        let bytes = body.to_string().into_bytes();
        let headers = signed_headers(&channels[1], "", &bytes, wa_secret);
        let answer = post_hook(&client, &app, &channels[1].id, &headers, bytes, &label).await;
        requests += 1;
        if checked_webhook(&app, &label, &answer, &mut counts, &mut failures).await {
            acknowledged += 1;
        } else {
            refused += 1;
        }
    }
    let status_of_ours = json!({ "statuses": [{ "messageId": messages[0], "status": "FAILED" }, { "providerMessageId": format!("prov-{}", messages[1]), "status": "FAILED" }] })
        .to_string()
        .into_bytes();
    let bearer = vec![
        ("authorization".to_owned(), "Bearer s3cret".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let mut elsewhere: Vec<(String, u16)> =
        ["0", "-1", "999999", "99999999999999999999", "abc", "1.5", "%20", "1%00", "%F0%9F%98%80", "..%2F1"]
            .iter()
            .map(|id| (id.to_string(), 404))
            .collect();
    elsewhere.push((deleted.clone(), 404));
    elsewhere.push((instagram.clone(), 404));
    // Another workspace's channel with its own (same) secret: it names none of our messages.
    elsewhere.push((theirs.clone(), 200));
    for (id, expected) in elsewhere {
        let answer = post_hook(&client, &app, &id, &bearer, status_of_ours.clone(), &id).await;
        requests += 1;
        webhook_answer(&format!("channel {id}"), &answer);
        assert_eq!(answer.status, expected, "channel {id}: {}", short(&answer.text));
        if expected == 200 {
            let body: Value = serde_json::from_str(&answer.text).unwrap();
            assert_eq!(body["unknownMessages"], 2, "another workspace's channel found our messages: {body}");
        }
    }
    // Our channel with the other workspace's… same secret is ours too; a wrong one is 401.
    let answer = post_hook(
        &client,
        &app,
        &custom.id,
        &[("authorization".into(), "Bearer S3CRET".into())],
        status_of_ours.clone(),
        "case",
    )
    .await;
    assert_eq!(answer.status, 401);
    // Over the body limit.
    let answer = post_hook(&client, &app, &custom.id, &bearer, vec![b' '; 3 * 1024 * 1024], "oversized").await;
    requests += 2;
    assert_eq!(answer.status, 413, "{}", short(&answer.text));
    // Meta's subscription check with odd query strings.
    for query in
        ["", "hub.mode=subscribe", "hub.mode=subscribe&hub.verify_token=&hub.challenge=x", "%%%", "hub.challenge=%00"]
    {
        let response = client.get(format!("{}/webhooks/{}?{query}", app.address, channels[1].id)).send().await.unwrap();
        requests += 1;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "verify {query:?}: {status}");
    }

    assert!(failures.is_empty(), "{} webhooks were answered wrongly:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(message_rows(&app).await[..messages_before.len()], messages_before[..], "a message row changed");
    let contact_channels_after = text_rows(
        &app,
        &format!(
            "SELECT {} AS r FROM contact_channels ORDER BY id",
            row_text(&["id", "identifier", "last_incoming_at", "unreachable_at"])
        ),
    )
    .await;
    assert_eq!(
        contact_channels_after[..contact_channels_before.len()],
        contact_channels_before[..],
        "a contact's channel state changed"
    );
    assert!(
        acknowledged > 0 && refused > 0,
        "the corpus reaches both outcomes: {acknowledged} acknowledged, {refused} refused"
    );
    assert_still_serving(&app).await;
    eprintln!(
        "fuzz: webhooks: {requests} requests over {} channel kinds, {unauthorized} forged (all 401), {refused} signed but refused (4xx), \
         {acknowledged} acknowledged ({inbound} inbound messages recorded); {:.1} s",
        channels.len(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 4. The cross-workspace sweep

#[derive(Clone, Debug)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn parse(value: &Value) -> TypeRef {
        match value["kind"].as_str().unwrap() {
            "NON_NULL" => TypeRef::NonNull(Box::new(TypeRef::parse(&value["ofType"]))),
            "LIST" => TypeRef::List(Box::new(TypeRef::parse(&value["ofType"]))),
            _ => TypeRef::Named(value["name"].as_str().unwrap().to_owned()),
        }
    }

    fn named(&self) -> &str {
        match self {
            TypeRef::Named(name) => name,
            TypeRef::List(inner) | TypeRef::NonNull(inner) => inner.named(),
        }
    }

    fn required(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }

    fn is_list(&self) -> bool {
        match self {
            TypeRef::List(_) => true,
            TypeRef::NonNull(inner) => inner.is_list(),
            TypeRef::Named(_) => false,
        }
    }

    fn render(&self) -> String {
        match self {
            TypeRef::Named(name) => name.clone(),
            TypeRef::List(inner) => format!("[{}]", inner.render()),
            TypeRef::NonNull(inner) => format!("{}!", inner.render()),
        }
    }
}

#[derive(Clone, Debug)]
struct InputValue {
    name: String,
    ty: TypeRef,
    has_default: bool,
}

impl InputValue {
    fn parse(value: &Value) -> InputValue {
        InputValue {
            name: value["name"].as_str().unwrap().to_owned(),
            ty: TypeRef::parse(&value["type"]),
            has_default: !value["defaultValue"].is_null(),
        }
    }

    /// It must be given.
    fn needed(&self) -> bool {
        self.ty.required() && !self.has_default
    }
}

#[derive(Clone, Debug)]
struct FieldDef {
    name: String,
    args: Vec<InputValue>,
    ty: TypeRef,
}

#[derive(Clone, Debug)]
struct TypeDef {
    kind: String,
    one_of: bool,
    fields: Vec<FieldDef>,
    input_fields: Vec<InputValue>,
    enum_values: Vec<String>,
}

struct SchemaInfo {
    types: HashMap<String, TypeDef>,
    roots: [(String, &'static str); 3],
}

const INTROSPECTION: &str = "query {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types {
      kind name isOneOf
      fields { name args { name defaultValue type { ...T } } type { ...T } }
      inputFields { name defaultValue type { ...T } }
      enumValues { name }
    }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

async fn introspect(app: &TestApp) -> SchemaInfo {
    // Introspection answers without a token (integrators discover the schema).
    let body = app.gql_as(None, INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let schema = &body["data"]["__schema"];
    let mut types = HashMap::new();
    for ty in schema["types"].as_array().unwrap() {
        let list = |key: &str| ty[key].as_array().cloned().unwrap_or_default();
        types.insert(
            ty["name"].as_str().unwrap().to_owned(),
            TypeDef {
                kind: ty["kind"].as_str().unwrap().to_owned(),
                one_of: ty["isOneOf"] == true,
                fields: list("fields")
                    .iter()
                    .map(|f| FieldDef {
                        name: f["name"].as_str().unwrap().to_owned(),
                        args: f["args"].as_array().unwrap().iter().map(InputValue::parse).collect(),
                        ty: TypeRef::parse(&f["type"]),
                    })
                    .collect(),
                input_fields: list("inputFields").iter().map(InputValue::parse).collect(),
                enum_values: list("enumValues").iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect(),
            },
        );
    }
    let root = |key: &str| schema[key]["name"].as_str().unwrap().to_owned();
    SchemaInfo {
        types,
        roots: [
            (root("queryType"), "query"),
            (root("mutationType"), "mutation"),
            (root("subscriptionType"), "subscription"),
        ],
    }
}

/// The kind of object an `ID` argument (or input field) `name` of root field `field` names.
fn kind_of(field: &str, name: &str) -> &'static str {
    let name = name.to_lowercase();
    let base = name.trim_end_matches("ids").trim_end_matches("id");
    let by_name = [
        ("contact", "Contact"),
        ("primary", "Contact"),
        ("duplicate", "Contact"),
        ("channel", "Channel"),
        ("segment", "Segment"),
        ("broadcast", "Broadcast"),
        ("team", "Team"),
        ("user", "User"),
        ("member", "User"),
        ("message", "Message"),
        ("token", "ApiToken"),
    ];
    if let Some((_, kind)) = by_name.iter().find(|(prefix, _)| base == *prefix) {
        return kind;
    }
    if base.is_empty() {
        // `id`: the object the field is named after.
        let field = field.to_lowercase();
        for (noun, kind) in [
            ("contactfield", "ContactField"),
            ("apitoken", "ApiToken"),
            ("broadcast", "Broadcast"),
            ("segment", "Segment"),
            ("channel", "Channel"),
            ("contact", "Contact"),
            ("team", "Team"),
            ("user", "User"),
            ("message", "Message"),
        ] {
            if field.contains(noun) {
                return kind;
            }
        }
    }
    panic!("the sweep does not know what {field}({name}: ID) names: add it to kind_of");
}

/// Where an `ID` goes in a field's arguments.
#[derive(Clone, Debug)]
struct Slot {
    arg: String,
    /// The input object's field, when the ID is inside the argument.
    field: Option<String>,
    kind: &'static str,
    list: bool,
    /// Must be given (the argument, or the input field of a given input object).
    needed: bool,
}

fn slots(schema: &SchemaInfo, field: &FieldDef) -> Vec<Slot> {
    let mut slots = Vec::new();
    for arg in &field.args {
        if arg.ty.named() == "ID" {
            slots.push(Slot {
                arg: arg.name.clone(),
                field: None,
                kind: kind_of(&field.name, &arg.name),
                list: arg.ty.is_list(),
                needed: arg.needed(),
            });
        } else if let Some(def) = schema.types.get(arg.ty.named()).filter(|d| d.kind == "INPUT_OBJECT") {
            for input in def.input_fields.iter().filter(|i| i.ty.named() == "ID") {
                slots.push(Slot {
                    arg: arg.name.clone(),
                    field: Some(input.name.clone()),
                    kind: kind_of(&field.name, &input.name),
                    list: input.ty.is_list(),
                    needed: arg.needed() && input.needed(),
                });
            }
        }
    }
    slots
}

/// A valid-looking value for a non-ID argument or input field (the override table for the
/// types no generic value fits: a report range needs a preset, content needs a text).
fn sample(schema: &SchemaInfo, ty: &TypeRef, name: &str) -> Value {
    match ty {
        TypeRef::NonNull(inner) => sample(schema, inner, name),
        TypeRef::List(inner) => json!([sample(schema, inner, name)]),
        TypeRef::Named(named) => match named.as_str() {
            "String" => match name {
                "month" => json!("2026-12"),
                "delimiter" => json!(","),
                "csv" => json!("Email\nsweep@x.io\n"),
                "email" => json!("sweep@x.io"),
                "key" => json!("sweep_key"),
                "timeZone" => json!("UTC"),
                _ => json!("sweep"),
            },
            "Int" => json!(1),
            "Float" => json!(1.0),
            "Boolean" => json!(false),
            "DateTime" => json!((chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()),
            "NaiveDate" => json!("2026-12-01"),
            "JSONObject" => json!({}),
            "Upload" => Value::Null,
            "ReportRangeInput" => json!({ "preset": "LAST_30_DAYS" }),
            "MessageContentInput" => json!({ "text": "sweep" }),
            "SegmentFilterInput" => json!({ "all": [] }),
            other => {
                let def = &schema.types[other];
                match def.kind.as_str() {
                    "ENUM" => json!(def.enum_values[0]),
                    "INPUT_OBJECT" if def.one_of => {
                        let first = &def.input_fields[0];
                        json!({ first.name.clone(): sample(schema, &first.ty, &first.name) })
                    }
                    "INPUT_OBJECT" => Value::Object(
                        def.input_fields
                            .iter()
                            .filter(|i| i.needed() && i.ty.named() != "ID")
                            .map(|i| (i.name.clone(), sample(schema, &i.ty, &i.name)))
                            .collect(),
                    ),
                    kind => panic!("no sample value for {other} ({kind})"),
                }
            }
        },
    }
}

/// A selection of `ty`: `__typename`, every leaf and, `depth` levels down, every object
/// field without required arguments.
fn selection(schema: &SchemaInfo, ty: &TypeRef, depth: usize) -> String {
    let def = &schema.types[ty.named()];
    if def.kind != "OBJECT" {
        return String::new();
    }
    let mut parts = vec!["__typename".to_owned()];
    for field in &def.fields {
        if field.args.iter().any(InputValue::needed) || field.name.starts_with("__") {
            continue;
        }
        let inner = &schema.types[field.ty.named()];
        if inner.kind == "OBJECT" {
            if depth > 0 {
                parts.push(format!("{} {}", field.name, selection(schema, &field.ty, depth - 1)));
            }
        } else {
            parts.push(field.name.clone());
        }
    }
    format!("{{ {} }}", parts.join(" "))
}

/// Which ids a call gets in each slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// The first workspace's object.
    Foreign,
    /// An id that names nothing anywhere: what a foreign id must be indistinguishable from.
    Nowhere,
    /// The caller's own object of that kind.
    Own,
}

type Objects = HashMap<&'static str, String>;

/// The first workspace, the caller's own objects, and ids that name nothing.
struct Ids {
    foreign: Objects,
    own: Objects,
}

impl Ids {
    fn id(&self, kind: &'static str, source: Source) -> String {
        match source {
            Source::Foreign => self.foreign[kind].clone(),
            Source::Own => self.own.get(kind).cloned().unwrap_or_else(|| "987654321".into()),
            Source::Nowhere => "987654321".into(),
        }
    }
}

/// The operation and variables calling `field` with each slot's ids from `sources` (slots
/// not listed are left out when they may be).
fn call(
    schema: &SchemaInfo,
    operation: &str,
    field: &FieldDef,
    slots: &[Slot],
    sources: &[Option<Source>],
    ids: &Ids,
    depth: usize,
) -> (String, Value) {
    let mut variables = serde_json::Map::new();
    for arg in &field.args {
        let given: Vec<(&Slot, Source)> = slots
            .iter()
            .zip(sources)
            .filter(|(slot, _)| slot.arg == arg.name)
            .filter_map(|(slot, source)| source.map(|s| (slot, s)))
            .collect();
        let id_value = |slot: &Slot, source: Source| {
            let id = ids.id(slot.kind, source);
            if slot.list {
                // A list gets the caller's own object too, when it names a foreign one.
                match (source, ids.own.get(slot.kind)) {
                    (Source::Foreign | Source::Nowhere, Some(own))
                        if sources.iter().flatten().any(|s| *s == Source::Own) =>
                    {
                        json!([own, id])
                    }
                    _ => json!([id]),
                }
            } else {
                json!(id)
            }
        };
        if arg.ty.named() == "ID" {
            if let Some((slot, source)) = given.first() {
                variables.insert(arg.name.clone(), id_value(slot, *source));
            }
            continue;
        }
        if !arg.needed() && given.is_empty() {
            continue;
        }
        let mut value = sample(schema, &arg.ty, &arg.name);
        for (slot, source) in given {
            value[slot.field.as_deref().unwrap()] = id_value(slot, source);
        }
        variables.insert(arg.name.clone(), value);
    }
    let declared: Vec<String> = field
        .args
        .iter()
        .filter(|a| variables.contains_key(&a.name))
        .map(|a| format!("${}: {}", a.name, a.ty.render()))
        .collect();
    let passed: Vec<String> =
        field.args.iter().filter(|a| variables.contains_key(&a.name)).map(|a| format!("{0}: ${0}", a.name)).collect();
    let (declared, passed) = if declared.is_empty() {
        (String::new(), String::new())
    } else {
        (format!("({})", declared.join(", ")), format!("({})", passed.join(", ")))
    };
    let query = format!("{operation}{declared} {{ {}{passed} {} }}", field.name, selection(schema, &field.ty, depth));
    (query, Value::Object(variables))
}

/// Where the first workspace shows in `value`: its objects (by `__typename` and `id`, or an
/// `…Id` field) and its names (they all carry the marker).
fn leaks(value: &Value, foreign: &BTreeSet<(String, String)>, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(ty)), Some(Value::String(id))) = (map.get("__typename"), map.get("id"))
                && foreign.contains(&(ty.clone(), id.clone()))
            {
                found.push(format!("{ty} {id}"));
            }
            for (key, inner) in map {
                if let (Some(stem), Value::String(id)) = (key.strip_suffix("Id"), inner)
                    && let Some(kind) = id_kind(stem)
                    && foreign.contains(&(kind.to_owned(), id.clone()))
                {
                    found.push(format!("{key} {id}"));
                }
                leaks(inner, foreign, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| leaks(item, foreign, found)),
        Value::String(text) if text.to_lowercase().contains(MARKER) => found.push(format!("text {text:?}")),
        _ => {}
    }
}

fn id_kind(stem: &str) -> Option<&'static str> {
    Some(match stem {
        "contact" => "Contact",
        "channel" => "Channel",
        "segment" => "Segment",
        "broadcast" => "Broadcast",
        "message" => "Message",
        "team" => "Team",
        "user" => "User",
        "token" => "ApiToken",
        _ => return None,
    })
}

/// Every name of the first workspace's objects contains this.
const MARKER: &str = "primero";

/// The answer with every run of digits replaced (ids differ between a foreign and a missing
/// id; nothing else may).
fn normalized(value: &Value) -> Value {
    match value {
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut digits = false;
            for c in text.chars() {
                if c.is_ascii_digit() {
                    if !digits {
                        out.push('#');
                    }
                    digits = true;
                } else {
                    digits = false;
                    out.push(c);
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v))).collect()),
        other => other.clone(),
    }
}

/// The first workspace, one of everything, every name with the marker; a broadcast sent to
/// a loopback mock (so there are messages), and a draft.
async fn populate_first_workspace(app: &TestApp, mock: &MockProvider) -> (Objects, String) {
    let mut objects = Objects::new();
    let data = |body: Value, key: &str| {
        body["data"][key]["id"].as_str().unwrap_or_else(|| panic!("{key}: {body:#}")).to_owned()
    };
    let channel = app
        .channel(json!({ "name": "Primero channel", "kind": "CUSTOM", "baseUrl": mock.url, "credentials": { "secret": "s3cret" } }))
        .await;
    objects.insert("Channel", channel.clone());
    objects.insert(
        "ContactField",
        data(app.gql("mutation { createContactField(input: {key: \"primero_tier\", name: \"Primero tier\", type: TEXT}) { id } }", json!({})).await, "createContactField"),
    );
    let contact = app
        .contact(json!({ "firstName": "Primero Ana", "lastName": "Primero", "email": "primero@x.io", "phone": "+593991234567",
            "tags": ["primero-tag"], "customFields": { "primero_tier": "primero gold" },
            "identifiers": [{ "channelId": channel, "identifier": "primero-1" }] }))
        .await;
    objects.insert("Contact", contact.clone());
    let tag = app.ok("{ tags { id name } }", json!({})).await["tags"][0]["id"].as_str().unwrap().to_owned();
    objects.insert("Tag", tag);
    let segment = app
        .ok(
            "mutation { createSegment(input: {name: \"Primero segment\", filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"primero-tag\"]}}}) { id } }",
            json!({}),
        )
        .await["createSegment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    objects.insert("Segment", segment.clone());
    let user = data(
        app.gql("mutation { createUser(input: {name: \"Primero user\", email: \"primero.user@x.io\", role: AGENT}) { id } }", json!({})).await,
        "createUser",
    );
    objects.insert("User", user.clone());
    objects.insert(
        "Team",
        data(
            app.gql(
                &format!(
                    "mutation {{ createTeam(input: {{name: \"Primero team\", memberIds: [\"{user}\"]}}) {{ id }} }}"
                ),
                json!({}),
            )
            .await,
            "createTeam",
        ),
    );
    let token =
        app.gql("mutation { createApiToken(input: {name: \"Primero token\"}) { apiToken { id } } }", json!({})).await;
    objects.insert("ApiToken", token["data"]["createApiToken"]["apiToken"]["id"].as_str().unwrap().to_owned());
    let sent =
        draft(app, &channel, &segment, json!({ "name": "Primero sent", "content": { "text": "Primero hola" } })).await;
    send_now(app, &sent).await;
    wait_done(app, &sent, Duration::from_secs(10)).await;
    let message = messages_of(app, &sent).await[0]["id"].as_str().unwrap().to_owned();
    objects.insert("Message", message);
    let pending =
        draft(app, &channel, &segment, json!({ "name": "Primero draft", "content": { "text": "Primero draft" } }))
            .await;
    objects.insert("Broadcast", pending.clone());
    (objects, sent)
}

/// The caller's own objects (names without the marker).
async fn populate_second_workspace(app: &TestApp, token: &str) -> Objects {
    let b = |query: &'static str| async move {
        let body = app.gql_as(Some(token), query, json!({})).await;
        assert!(body.get("errors").is_none(), "{query}: {body:#}");
        body["data"].clone()
    };
    let mut own = Objects::new();
    let channel = b("mutation { createChannel(input: {name: \"Mine\", kind: CUSTOM, baseUrl: \"http://127.0.0.1:9\", credentials: {secret: \"x\"}}) { id } }")
        .await["createChannel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    own.insert("Channel", channel.clone());
    let contact = app
        .gql_as(
            Some(token),
            "mutation($c: ID!) { createContact(input: {firstName: \"Mine\", tags: [\"mine\"], identifiers: [{channelId: $c, identifier: \"m-1\"}]}) { id } }",
            json!({ "c": channel }),
        )
        .await["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    own.insert("Contact", contact);
    let segment =
        b("mutation { createSegment(input: {name: \"Mine\", filter: {all: []}}) { id } }").await["createSegment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    own.insert("Segment", segment.clone());
    own.insert("User", b("mutation { createUser(input: {name: \"Mine\", email: \"mine@x.io\", role: AGENT}) { id } }").await["createUser"]["id"].as_str().unwrap().to_owned());
    own.insert(
        "Team",
        b("mutation { createTeam(input: {name: \"Mine\"}) { id } }").await["createTeam"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    own.insert(
        "ContactField",
        b("mutation { createContactField(input: {key: \"mine\", name: \"Mine\", type: TEXT}) { id } }").await["createContactField"]["id"].as_str().unwrap().to_owned(),
    );
    let broadcast = app
        .gql_as(
            Some(token),
            "mutation($c: ID!, $s: ID!) { createBroadcast(input: {name: \"Mine\", channelId: $c, segmentId: $s, content: {text: \"x\"}}) { id } }",
            json!({ "c": channel, "s": segment }),
        )
        .await["data"]["createBroadcast"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    own.insert("Broadcast", broadcast);
    own
}

/// A hand-written sweep call: the query, its variables with the first workspace's ids or
/// names, the same with ones that name nothing, and the (theirs, nowhere) texts the answers
/// may echo.
type HandWritten = (&'static str, Value, Value, Vec<(String, &'static str)>);

/// Errors a foreign id may answer with.
const SWEEP_CODES: [&str; 3] = ["NOT_FOUND", "FORBIDDEN", "BAD_USER_INPUT"];

struct Sweep<'a> {
    app: &'a TestApp,
    schema: &'a SchemaInfo,
    ids: &'a Ids,
    token: &'a str,
    foreign: BTreeSet<(String, String)>,
    requests: usize,
    codes: BTreeMap<String, usize>,
}

impl Sweep<'_> {
    async fn send(&mut self, token: &str, query: &str, variables: &Value) -> Value {
        self.requests += 1;
        let request = self
            .app
            .client
            .post(format!("{}/graphql", self.app.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        let answer = answer(request, query).await;
        graphql_answer(&format!("{query} {variables}"), &answer)
    }

    /// Calls `field` twice — with a foreign id and with an id that names nothing where
    /// `sources` says Foreign — and asserts the two answers are the same and show nothing
    /// of the first workspace.
    async fn compare(&mut self, operation: &str, field: &FieldDef, slots: &[Slot], sources: &[Option<Source>]) {
        let nowhere: Vec<Option<Source>> =
            sources.iter().map(|s| s.map(|s| if s == Source::Foreign { Source::Nowhere } else { s })).collect();
        // The deepest selection the limits accept.
        let mut depth = 3;
        let (baseline, query) = loop {
            let (query, variables) = call(self.schema, operation, field, slots, &nowhere, self.ids, depth);
            let body = self.send(self.token, &query, &variables).await;
            let refused = body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("too complex") || m.contains("nested too deep"));
            if refused && depth > 0 {
                depth -= 1;
                continue;
            }
            break (body, query);
        };
        let (_, variables) = call(self.schema, operation, field, slots, sources, self.ids, depth);
        let body = self.send(self.token, &query, &variables).await;
        let context = format!("{} with {variables}", field.name);
        let mut found = Vec::new();
        leaks(&body, &self.foreign, &mut found);
        assert!(found.is_empty(), "{context}: the first workspace shows: {found:?} in {body:#}");
        if let Some(errors) = body["errors"].as_array() {
            for error in errors {
                let code = error["extensions"]["code"].as_str().unwrap();
                assert!(SWEEP_CODES.contains(&code), "{context}: {code}: {body:#}");
                *self.codes.entry(code.to_owned()).or_default() += 1;
            }
        } else {
            *self.codes.entry("no error".into()).or_default() += 1;
        }
        assert_eq!(
            normalized(&body),
            normalized(&baseline),
            "{context}: a foreign id answers differently from an id that names nothing"
        );
    }
}

#[tokio::test]
async fn no_field_of_the_schema_reads_or_changes_another_workspace_s_objects() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let mock = MockProvider::start().await;
    let (foreign, sent) = populate_first_workspace(&app, &mock).await;
    let (second, token) = app.other_workspace().await;
    let own = populate_second_workspace(&app, &token).await;
    let schema = introspect(&app).await;
    let ids = Ids { foreign: foreign.clone(), own };
    let foreign_set: BTreeSet<(String, String)> = foreign
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([("Broadcast".to_owned(), sent.clone())])
        .collect();
    let before = workspace_rows(&app, app.workspace_id).await;
    let second_before = workspace_rows(&app, second).await;

    let mut sweep = Sweep {
        app: &app,
        schema: &schema,
        ids: &ids,
        token: &token,
        foreign: foreign_set,
        requests: 0,
        codes: BTreeMap::new(),
    };
    let mut swept = Vec::new();
    let mut controls = 0;
    for (root, operation) in schema.roots.iter().take(2) {
        let fields = schema.types[root].fields.clone();
        for field in fields.iter().filter(|f| !f.name.starts_with("__")) {
            let slots = slots(&schema, field);
            if slots.is_empty() {
                continue;
            }
            swept.push(format!("{root}.{}", field.name));
            // Every slot foreign.
            let all: Vec<Option<Source>> = slots.iter().map(|_| Some(Source::Foreign)).collect();
            sweep.compare(operation, field, &slots, &all).await;
            // One slot foreign, the needed others the caller's own.
            if slots.len() > 1 {
                for i in 0..slots.len() {
                    let sources: Vec<Option<Source>> = slots
                        .iter()
                        .enumerate()
                        .map(|(j, slot)| {
                            if j == i {
                                Some(Source::Foreign)
                            } else if slot.needed {
                                Some(Source::Own)
                            } else {
                                None
                            }
                        })
                        .collect();
                    sweep.compare(operation, field, &slots, &sources).await;
                }
            }
            // Control: the first workspace's owner reading its own object by id sees it,
            // so the ids and selections above are real.
            if *operation == "query" && slots.len() == 1 && slots[0].needed && !slots[0].list {
                let own_view = Ids { foreign: foreign.clone(), own: foreign.clone() };
                let (query, variables) = call(&schema, operation, field, &slots, &[Some(Source::Own)], &own_view, 1);
                let body = sweep.send(&app.token, &query, &variables).await;
                let mut found = Vec::new();
                leaks(&body, &sweep.foreign, &mut found);
                if schema.types[field.ty.named()].fields.iter().any(|f| f.name == "id") {
                    assert!(
                        !found.is_empty(),
                        "control: {} as the first workspace shows nothing of it: {body:#}",
                        field.name
                    );
                    controls += 1;
                }
            }
        }
    }
    // Nested fields that take an ID (found by introspection; each is handled by hand).
    let nested: Vec<String> = schema
        .types
        .iter()
        .filter(|(name, def)| {
            def.kind == "OBJECT" && !name.starts_with("__") && !schema.roots.iter().any(|(root, _)| root == *name)
        })
        .flat_map(|(name, def)| {
            def.fields
                .iter()
                .filter(|f| f.args.iter().any(|a| a.ty.named() == "ID"))
                .map(move |f| format!("{name}.{}", f.name))
        })
        .collect();
    for name in &nested {
        match name.as_str() {
            "Broadcast.preview" => {
                let query = "query($b: ID!, $c: ID) { broadcast(id: $b) { preview(channelId: $c) } }";
                let mine = json!({ "b": ids.own["Broadcast"], "c": "987654321" });
                let theirs = json!({ "b": ids.own["Broadcast"], "c": foreign["Channel"] });
                let baseline = sweep.send(&token, query, &mine).await;
                let body = sweep.send(&token, query, &theirs).await;
                let mut found = Vec::new();
                leaks(&body, &sweep.foreign, &mut found);
                assert!(found.is_empty(), "{name}: {found:?}");
                assert_eq!(normalized(&body), normalized(&baseline), "{name}: a foreign channel previews differently");
            }
            other => panic!("{other} takes an ID: add it to the sweep's table of nested fields"),
        }
        swept.push(name.clone());
    }
    // By hand: ids and names of the first workspace inside text arguments. The answers may
    // echo the text given: it is replaced before comparing.
    let extra: Vec<HandWritten> = vec![
        (
            "mutation($csv: String) { importContacts(csv: $csv, mode: UPDATE_ONLY, identifier: CONTACT_ID) { rowsRead updated rejected problems { reason } } }",
            json!({ "csv": format!("Contact ID,First name\n{},Hacked\n", foreign["Contact"]) }),
            json!({ "csv": "Contact ID,First name\n987654321,Hacked\n" }),
            vec![],
        ),
        (
            "query($v: [String!]!) { previewSegment(filter: {condition: {field: CHANNEL, operator: HAS_ANY_OF, values: $v}}) { contactCount } }",
            json!({ "v": [foreign["Channel"]] }),
            json!({ "v": ["987654321"] }),
            vec![],
        ),
        (
            "query($v: [String!]!) { previewSegment(filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: $v}}) { contactCount } }",
            json!({ "v": ["primero-tag"] }),
            json!({ "v": ["nobody-tag"] }),
            vec![("primero-tag".into(), "nobody-tag")],
        ),
        (
            "query($t: String, $s: String) { contacts(tag: $t, search: $s) { totalCount nodes { id } } }",
            json!({ "t": "primero-tag", "s": "primero" }),
            json!({ "t": "nobody-tag", "s": "nobody" }),
            vec![("primero-tag".into(), "nobody-tag"), ("primero".into(), "nobody")],
        ),
        (
            "query($k: String!) { previewSegment(filter: {condition: {field: CUSTOM_FIELD, key: $k, operator: IS, value: \"x\"}}) { contactCount } }",
            json!({ "k": "primero_tier" }),
            json!({ "k": "nobody_tier" }),
            vec![("primero_tier".into(), "nobody_tier")],
        ),
    ];
    for (query, theirs, nowhere, echoes) in &extra {
        let baseline = sweep.send(&token, query, nowhere).await;
        let body = sweep.send(&token, query, theirs).await;
        let mut found = Vec::new();
        leaks(&body["data"], &sweep.foreign, &mut found);
        assert!(found.is_empty(), "{query}: {found:?} in {body:#}");
        let mut text = body.to_string();
        for (theirs, nowhere) in echoes {
            text = text.replace(theirs.as_str(), nowhere);
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            normalized(&body),
            normalized(&baseline),
            "{query}: the first workspace's {theirs} answers differently from {nowhere}"
        );
    }
    // The CSV export endpoint, given a foreign segment in its query string.
    let url = app
        .gql_as(
            Some(&token),
            "query($s: ID) { exportContacts(segmentId: $s) { url } }",
            json!({ "s": ids.own["Segment"] }),
        )
        .await["data"]["exportContacts"]["url"]
        .as_str()
        .unwrap()
        .replace(&format!("segmentId={}", ids.own["Segment"]), &format!("segmentId={}", foreign["Segment"]));
    let export = answer(app.client.get(format!("{}{url}", app.address)).bearer_auth(&token), &url).await;
    sweep.requests += 2;
    assert!(
        export.status < 500 && !export.text.to_lowercase().contains(MARKER),
        "{url}: {} {}",
        export.status,
        short(&export.text)
    );

    assert_eq!(workspace_rows(&app, app.workspace_id).await, before, "the sweep changed the first workspace");
    // The caller's own objects referenced next to foreign ones are unchanged too.
    let second_after = workspace_rows(&app, second).await;
    for table in [
        "contacts",
        "channels",
        "segments",
        "broadcasts",
        "users",
        "teams",
        "team_members",
        "contact_channels",
        "contact_tags",
    ] {
        assert_eq!(second_after[table], second_before[table], "a refused call changed the caller's {table}");
    }
    let http_fields = swept.len();

    // Subscriptions: the second owner subscribes with the first workspace's ids; then the
    // first workspace sends a broadcast, gets a contact and a status callback.
    let subscriptions = schema.types[&schema.roots[2].0].fields.clone();
    let mut theirs = connect_as(&app, "graphql-transport-ws", &token).await;
    let mut control = connect_as(&app, "graphql-transport-ws", &app.token).await;
    let mut expected_errors = BTreeSet::new();
    for (n, field) in subscriptions.iter().enumerate() {
        let slots = slots(&schema, field);
        let all: Vec<Option<Source>> = slots.iter().map(|_| Some(Source::Foreign)).collect();
        let (query, variables) = call(&schema, "subscription", field, &slots, &all, &ids, 1);
        send(&mut theirs, json!({ "id": format!("s{n}"), "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
        let own_view = Ids { foreign: foreign.clone(), own: foreign.clone() };
        let own_sources: Vec<Option<Source>> = slots.iter().map(|_| Some(Source::Own)).collect();
        let (query, variables) = call(&schema, "subscription", field, &slots, &own_sources, &own_view, 1);
        send(&mut control, json!({ "id": format!("s{n}"), "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
        if slots.iter().any(|s| s.needed) {
            expected_errors.insert(format!("s{n}"));
        }
        sweep.requests += 2;
        swept.push(format!("{}.{}", schema.roots[2].0, field.name));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.contact(json!({ "firstName": "Primero live" })).await;
    send_now(&app, &foreign["Broadcast"]).await;
    wait_done(&app, &foreign["Broadcast"], Duration::from_secs(10)).await;
    let message = messages_of(&app, &foreign["Broadcast"]).await[0]["id"].as_str().unwrap().to_owned();
    let delivered = app
        .client
        .post(format!("{}/webhooks/{}", app.address, foreign["Channel"]))
        .bearer_auth("s3cret")
        .json(&json!({ "statuses": [{ "messageId": message, "status": "DELIVERED" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    let seen = drain(&mut control, Duration::from_millis(1500)).await;
    let mut control_ids: BTreeSet<String> =
        seen.iter().filter(|m| m["type"] == "next").map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    control_ids.retain(|id| id.starts_with('s'));
    assert_eq!(
        control_ids.len(),
        subscriptions.len(),
        "control: the first workspace's own subscriptions saw events: {seen:#?}"
    );
    let received = drain(&mut theirs, Duration::from_millis(500)).await;
    let mut errored = BTreeSet::new();
    for message in &received {
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        // A refusal comes as `error`, or as `next` with no data and only errors (how
        // async-graphql reports a subscription resolver's error); data never comes.
        let errors = match message["type"].as_str() {
            Some("next") => {
                assert!(message["payload"]["data"].is_null(), "the second workspace received {message:#}");
                message["payload"]["errors"].as_array()
            }
            Some("error") => message["payload"].as_array(),
            Some("complete") => continue,
            other => panic!("unexpected {other:?}: {message}"),
        };
        let errors = errors.unwrap_or_else(|| panic!("neither data nor errors: {message}"));
        {
            {
                for error in errors {
                    let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {message}"));
                    assert!(SWEEP_CODES.contains(&code), "{message}");
                    assert_no_internal_text("subscription", &error.to_string());
                }
                errored.insert(id);
            }
        }
    }
    assert_eq!(
        errored, expected_errors,
        "subscriptions with a foreign id in a required argument are refused: {received:#?}"
    );
    assert_still_serving(&app).await;
    eprintln!(
        "fuzz: cross-workspace sweep: {} requests, {} fields swept ({http_fields} over HTTP of which {} nested, {} subscriptions), \
         {controls} controls; answers {:?}; {:.1} s",
        sweep.requests,
        swept.len(),
        nested.len(),
        subscriptions.len(),
        sweep.codes,
        started.elapsed().as_secs_f64()
    );
}

/// Every message on `socket` until it is quiet for `quiet`.
async fn drain(socket: &mut Socket, quiet: Duration) -> Vec<Value> {
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match tokio::time::timeout(quiet, next_json(socket)).await {
            Ok(Some(message)) => messages.push(message),
            Ok(None) | Err(_) => break,
        }
    }
    messages
}
