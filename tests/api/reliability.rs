//! Reliability: `kill -9` at random points of a 20,000-recipient broadcast, a provider that
//! fails, hangs and throttles, and a mixed load of queries, mutations and webhooks during a
//! broadcast. Each test prints its figures (`reliability:` lines) for BENCHMARKS.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio::process::Child;

use crate::binary::{pregon, read_banner};
use crate::broadcasts::{assert_counts_match_rows, custom_channel, draft, segment, send_now, wait_done};
use crate::helpers::{TestApp, TestDatabase, on_postgres, phone_contacts_csv, test_dispatch};
use crate::mock_provider::{MockProvider, Received, Reply};

/// A `pregon` process and where it serves.
struct Instance {
    child: Child,
    endpoint: String,
}

async fn start_instance(db: &TestDatabase, env: &[(&str, &str)]) -> (Instance, Option<String>) {
    let mut command = pregon(db);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("pregon starts");
    let (token, endpoint) = read_banner(&mut child).await;
    (Instance { child, endpoint }, token)
}

async fn gql(client: &reqwest::Client, endpoint: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = client
        .post(endpoint)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON body");
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"].clone()
}

/// The counts of [`ROW_COUNTS`] over `connection`.
async fn row_counts(connection: &impl ConnectionTrait) -> HashMap<String, i64> {
    let row = connection
        .query_one_raw(Statement::from_string(connection.get_database_backend(), ROW_COUNTS.to_owned()))
        .await
        .expect("query runs")
        .expect("one row");
    ["total", "queued", "sending", "sent", "failed", "without_reason", "max_attempts"]
        .iter()
        .map(|name| (name.to_string(), row.try_get::<Option<i64>>("", name).ok().flatten().unwrap_or(0)))
        .collect()
}

const ROW_COUNTS: &str = "SELECT COUNT(*) AS total, \
    SUM(CASE WHEN status = 'QUEUED' THEN 1 ELSE 0 END) AS queued, \
    SUM(CASE WHEN status = 'SENDING' THEN 1 ELSE 0 END) AS sending, \
    SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END) AS sent, \
    SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed, \
    SUM(CASE WHEN status = 'FAILED' AND (error_code IS NULL OR error_text IS NULL) THEN 1 ELSE 0 END) AS without_reason, \
    CAST(MAX(attempts) AS BIGINT) AS max_attempts \
    FROM messages WHERE broadcast_id IS NOT NULL";

/// The kill -9 suite: every recipient gets exactly one logical message at the provider
/// (counted by idempotency key), duplicates are bounded by what was in flight, every row ends
/// terminal and the broadcast's counts equal its rows. On PostgreSQL two instances share the
/// work and one of them is killed each time; on SQLite the one instance is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_of_a_20000_recipient_broadcast_loses_nothing() {
    const RECIPIENTS: usize = 20_000;
    const KILLS: usize = 4;
    const CONCURRENCY: usize = 32;
    let db = TestDatabase::create().await;
    let mock = MockProvider::start().await;
    let env = [
        ("PREGON_DISPATCH_LEASE_SECS", "2"),
        ("PREGON_DISPATCH_POLL_MS", "50"),
        ("PREGON_DISPATCH_CONCURRENCY", "32"),
        ("PREGON_LOG", "error"),
    ];
    let (first, token) = start_instance(&db, &env).await;
    let token = token.expect("the first start prints the owner token");
    let client = reqwest::Client::new();
    let endpoint = first.endpoint.clone();
    let channel = gql(
        &client,
        &endpoint,
        &token,
        "mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }",
        json!({ "input": { "name": "Custom", "kind": "CUSTOM", "baseUrl": mock.url, "credentials": { "secret": "s3cret" }, "rateLimit": { "count": 1000 } } }),
    )
    .await["createChannel"]["id"]
        .clone();
    let csv = phone_contacts_csv(RECIPIENTS, "Crash", "+59399");
    let imported = gql(
        &client,
        &endpoint,
        &token,
        "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"crash\"]) { created rejected } }",
        json!({ "csv": csv }),
    )
    .await;
    assert_eq!(imported["importContacts"]["created"], RECIPIENTS, "{imported:#}");
    let segment = gql(
        &client,
        &endpoint,
        &token,
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
        json!({ "input": { "name": "Crash", "filter": { "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["crash"] } } } }),
    )
    .await["createSegment"]["id"]
        .clone();
    let id = gql(
        &client,
        &endpoint,
        &token,
        "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }",
        json!({ "input": { "name": "Crash", "channelId": channel, "segmentId": segment, "content": { "text": "Hola" } } }),
    )
    .await["createBroadcast"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut instances = vec![first];
    if on_postgres() {
        instances.push(start_instance(&db, &env).await.0);
    }
    let started = Instant::now();
    gql(&client, &endpoint, &token, "mutation($id: ID!) { sendBroadcastNow(id: $id) { id } }", json!({ "id": id }))
        .await;

    // Kill at random points between 5% and 85% of the way, one instance after the other.
    let mut points: Vec<usize> =
        (0..KILLS).map(|_| rand::rng().random_range(RECIPIENTS / 20..RECIPIENTS * 85 / 100)).collect();
    points.sort_unstable();
    for (kill, point) in points.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(90);
        while mock.count() < *point {
            assert!(Instant::now() < deadline, "the provider saw only {} messages, waiting for {point}", mock.count());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let victim = kill % instances.len();
        instances[victim].child.start_kill().expect("kill -9");
        instances[victim].child.wait().await.expect("the killed process is reaped");
        eprintln!("reliability: kill -9 #{} of instance {victim} after {} requests", kill + 1, mock.count());
        instances[victim] = start_instance(&db, &env).await.0;
    }

    let query =
        "query($id: ID!) { broadcast(id: $id) { status totalMessages sentCount failedCount completedRecipients } }";
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let current =
            gql(&client, &instances[0].endpoint, &token, query, json!({ "id": id })).await["broadcast"].clone();
        if current["status"] == "COMPLETED" {
            break current;
        }
        assert!(Instant::now() < deadline, "not completed: {current:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let elapsed = started.elapsed();

    let received = mock.received();
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        *per_key.entry(request.idempotency_key.as_str()).or_default() += 1;
    }
    let duplicates = received.len() - per_key.len();
    let connection = pregon::db::connect(&db.config()).await.expect("database reachable");
    let rows = row_counts(&connection).await;
    connection.close().await.ok();
    eprintln!(
        "reliability: crash suite: {RECIPIENTS} recipients, {} instance(s), {KILLS} kills survived, {} logical messages, \
         {} lost, {duplicates} duplicates delivered, {:.1} s",
        instances.len(),
        per_key.len(),
        RECIPIENTS - per_key.len().min(RECIPIENTS),
        elapsed.as_secs_f64()
    );
    assert_eq!(per_key.len(), RECIPIENTS, "every recipient got exactly one logical message");
    assert_eq!((rows["queued"], rows["sending"]), (0, 0), "every row is terminal: {rows:?}");
    assert_eq!((rows["total"], rows["sent"], rows["failed"]), (RECIPIENTS as i64, RECIPIENTS as i64, 0), "{rows:?}");
    assert_eq!(done["sentCount"], RECIPIENTS);
    assert_eq!(done["completedRecipients"], RECIPIENTS);
    assert_eq!(done["totalMessages"], RECIPIENTS);
    // A kill can only repeat what the provider had accepted and the instance had not yet
    // recorded: its sends in flight and the outcomes waiting for the recorder.
    let bound = KILLS * (CONCURRENCY + 500);
    assert!(duplicates <= bound, "{duplicates} duplicates, more than {bound}");
    for instance in &mut instances {
        let _ = instance.child.start_kill();
    }
}

/// The faults suite: the provider answers 10% 5xx, leaves 5% unanswered (timeouts) and
/// throttles in bursts with 429 and Retry-After. Everything ends sent or failed with a reason,
/// nothing is left queued or sending, Retry-After is honoured, and retries stay bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hanging_throttling_provider_ends_every_message_sent_or_failed_without_a_retry_storm() {
    const RECIPIENTS: usize = 1_500;
    let dispatch = pregon::config::DispatcherConfig {
        provider_timeout_secs: 1,
        lease_secs: 5,
        max_attempts: 5,
        retry_base_ms: 100,
        retry_max_ms: 1000,
        concurrency: 32,
        ..test_dispatch()
    };
    let app = TestApp::spawn_with_dispatch(Default::default(), dispatch).await;
    let arrivals = Arc::new(AtomicUsize::new(0));
    let injected: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let (count, faults) = (arrivals.clone(), injected.clone());
    let mock = MockProvider::scripted(move |_: &Received| {
        let n = count.fetch_add(1, Ordering::Relaxed);
        // Bursts of 429: 100 requests in a row, twice.
        if (300..400).contains(&n) || (900..1000).contains(&n) {
            faults[2].fetch_add(1, Ordering::Relaxed);
            return Reply::Error {
                status: 429,
                code: "throttled".into(),
                message: "Slow down".into(),
                retry_after: Some(1),
            };
        }
        // Otherwise each request, whatever came before, draws its fault.
        let hash = rand::rng().random_range(0..100u32);
        match hash {
            0..10 => {
                faults[0].fetch_add(1, Ordering::Relaxed);
                Reply::Error { status: 503, code: "unavailable".into(), message: "Try again".into(), retry_after: None }
            }
            10..15 => {
                faults[1].fetch_add(1, Ordering::Relaxed);
                Reply::Hang
            }
            _ => Reply::Accept,
        }
    })
    .await;
    let channel = custom_channel(&app, &mock, Some(500), None).await;
    let csv = phone_contacts_csv(RECIPIENTS, "Fault", "+59398");
    app.ok(
        "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"fault\"]) { created } }",
        json!({ "csv": csv }),
    )
    .await;
    let segment = segment(&app, "fault").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    let started = Instant::now();
    send_now(&app, &id).await;
    let done = wait_done(&app, &id, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    assert_eq!(done["status"], "COMPLETED");

    let rows = row_counts(&app.app.db).await;
    let received = mock.received();
    let mut per_key: HashMap<&str, Vec<&Received>> = HashMap::new();
    for request in &received {
        per_key.entry(request.idempotency_key.as_str()).or_default().push(request);
    }
    eprintln!(
        "reliability: faults suite: {RECIPIENTS} recipients, {} requests ({} 5xx, {} timeouts, {} 429 injected), \
         {} sent, {} failed, most attempts {}, {:.1} s",
        received.len(),
        injected[0].load(Ordering::Relaxed),
        injected[1].load(Ordering::Relaxed),
        injected[2].load(Ordering::Relaxed),
        rows["sent"],
        rows["failed"],
        rows["max_attempts"],
        elapsed.as_secs_f64()
    );
    assert_eq!((rows["queued"], rows["sending"]), (0, 0), "nothing left queued or sending: {rows:?}");
    assert_eq!(rows["sent"] + rows["failed"], RECIPIENTS as i64, "{rows:?}");
    assert_eq!(rows["without_reason"], 0, "every failure has a code and a text");
    assert!(rows["max_attempts"] <= 5, "attempts per message are bounded: {rows:?}");
    assert!(per_key.values().all(|requests| requests.len() <= 5), "no message went to the provider more than 5 times");
    // No storm: retries are what the faults call for (about one in six requests failed, plus
    // the 200 throttled ones), not a multiple of the traffic.
    assert!(received.len() < RECIPIENTS * 3 / 2, "{} requests for {RECIPIENTS} messages", received.len());
    // Retry-After: 1 is honoured: a throttled message is not tried again within the second,
    // and a failed one not at once.
    for requests in per_key.values() {
        for pair in requests.windows(2) {
            let after = pair[1].at.duration_since(pair[0].at);
            let least = if pair[0].replied == 429 { Duration::from_millis(950) } else { Duration::from_millis(50) };
            assert!(after >= least, "tried again {after:?} after a {} answer", pair[0].replied);
        }
    }
    assert_counts_match_rows(&app, &id).await;
}

/// What one kind of request of the mixed load saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors.extend(other.errors);
    }

    /// The `q`-quantile of the latencies, in milliseconds.
    fn quantile_ms(&mut self, q: f64) -> f64 {
        self.latencies.sort_unstable();
        let Some(last) = self.latencies.len().checked_sub(1) else { return 0.0 };
        self.latencies[((last as f64) * q).round() as usize].as_secs_f64() * 1000.0
    }
}

/// One client of the mixed load: sends `next(n)` for n = 0, 1, … until `until`, one request at
/// a time, and keeps each latency. A request fails when it is not a 200 or its body has GraphQL
/// `errors`; `next` returning `None` means nothing to send yet.
async fn load_client(
    until: Instant,
    next: impl Fn(usize) -> Option<reqwest::RequestBuilder>,
    mut answered: impl FnMut(usize),
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < until {
        let Some(request) = next(n) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let sent = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.json::<Value>().await {
                    Ok(body) if status == 200 && body.get("errors").is_none() => Ok(()),
                    Ok(body) => Err(format!("{status}: {body}")),
                    Err(error) => Err(format!("{status}: unreadable body: {error}")),
                }
            }
            Err(error) => Err(format!("not answered: {error}")),
        };
        tally.latencies.push(sent.elapsed());
        match outcome {
            Ok(()) => answered(n),
            Err(error) => tally.errors.push(error),
        }
        n += 1;
    }
    tally
}

/// The mixed load: while a broadcast sends (3,000 recipients at 300/s; on PostgreSQL two
/// instances share it), clients query contacts and the broadcast, create contacts, and post
/// delivery webhooks for messages the provider has just accepted, spread over the instances.
/// No request fails, every contact created is there, every webhook's status is kept, and the
/// broadcast completes with each recipient once. Prints each kind's p50 and p99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_load_of_queries_mutations_and_webhooks_during_a_broadcast_has_no_errors() {
    const RECIPIENTS: usize = 3_000;
    const CLIENTS: usize = 3;
    const LOAD: Duration = Duration::from_secs(8);
    let dispatch = pregon::config::DispatcherConfig { lease_secs: 10, concurrency: 32, ..test_dispatch() };
    let app = TestApp::spawn_with_dispatch(Default::default(), dispatch.clone()).await;
    let peer = if on_postgres() { Some(app.peer(dispatch).await) } else { None };
    let addresses: Vec<String> = std::iter::once(&app).chain(peer.as_ref()).map(|a| a.address.clone()).collect();
    let mock = MockProvider::start().await;
    let channel = custom_channel(&app, &mock, Some(300), None).await;
    let imported = app
        .ok(
            "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: PHONE, tags: [\"audience\"]) { created } }",
            json!({ "csv": phone_contacts_csv(RECIPIENTS, "Load", "+59399") }),
        )
        .await;
    assert_eq!(imported["importContacts"]["created"], RECIPIENTS);
    let segment = segment(&app, "audience").await;
    let id = draft(&app, &channel, &segment, json!({})).await;
    send_now(&app, &id).await;
    let until = Instant::now() + LOAD;
    let turn = Arc::new(AtomicUsize::new(0));
    // Each request goes to the next instance in turn.
    let target = {
        let turn = turn.clone();
        move || addresses[turn.fetch_add(1, Ordering::Relaxed) % addresses.len()].clone()
    };

    let graphql = |body: Value| {
        let (client, token, target) = (app.client.clone(), app.token.clone(), target.clone());
        move || client.post(format!("{}/graphql", target())).bearer_auth(&token).json(&body)
    };
    let contacts =
        graphql(json!({ "query": "{ contacts(first: 20) { totalCount nodes { id displayName tags { name } } } }" }));
    let progress = graphql(json!({
        "query": "query($id: ID!) { broadcast(id: $id) { status sentCount deliveredCount failedCount } }",
        "variables": { "id": id } }));
    let queries = (0..CLIENTS).map(|c| {
        let (contacts, progress) = (contacts.clone(), progress.clone());
        load_client(until, move |n| Some(if (n + c) % 2 == 0 { contacts() } else { progress() }), |_| {})
    });
    let created = Arc::new(AtomicUsize::new(0));
    let mutations = (0..CLIENTS).map(|c| {
        let (client, token, target, created) = (app.client.clone(), app.token.clone(), target.clone(), created.clone());
        load_client(
            until,
            move |n| {
                let body = json!({
                    "query": "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                    "variables": { "input": { "firstName": format!("Walk-in {c}-{n}"), "tags": ["walk-in"] } } });
                Some(client.post(format!("{}/graphql", target())).bearer_auth(&token).json(&body))
            },
            move |_| {
                created.fetch_add(1, Ordering::Relaxed);
            },
        )
    });
    // Webhooks: client c confirms the provider's requests c, c + CLIENTS, … as they arrive.
    let webhooks = (0..CLIENTS).map(|c| {
        let (client, target, mock, channel) = (app.client.clone(), target.clone(), mock.clone(), channel.clone());
        let confirmed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keys = move |n: usize| mock.key(c + n * CLIENTS);
        let (pending, kept) = (keys.clone(), confirmed.clone());
        async move {
            let tally = load_client(
                until,
                move |n| {
                    let key = pending(n)?;
                    let body = json!({ "statuses": [{ "messageId": key, "status": "DELIVERED" }] });
                    Some(client.post(format!("{}/webhooks/{channel}", target())).bearer_auth("s3cret").json(&body))
                },
                move |n| kept.lock().unwrap().push(keys(n).expect("answered, so it had arrived")),
            )
            .await;
            let confirmed = confirmed.lock().unwrap().clone();
            (tally, confirmed)
        }
    });
    let (queries, mutations, webhooks) = tokio::join!(
        futures_util::future::join_all(queries.map(tokio::spawn)),
        futures_util::future::join_all(mutations.map(tokio::spawn)),
        futures_util::future::join_all(webhooks.map(tokio::spawn)),
    );
    let mut tallies = [("queries", Tally::default()), ("mutations", Tally::default()), ("webhooks", Tally::default())];
    for tally in queries {
        tallies[0].1.add(tally.expect("client ran"));
    }
    for tally in mutations {
        tallies[1].1.add(tally.expect("client ran"));
    }
    let mut confirmed: Vec<i64> = Vec::new();
    for result in webhooks {
        let (tally, keys) = result.expect("client ran");
        tallies[2].1.add(tally);
        confirmed.extend(keys.iter().map(|key| key.parse::<i64>().expect("the key is Pregón's message id")));
    }
    let done = wait_done(&app, &id, Duration::from_secs(60)).await;

    let summary: Vec<String> = tallies
        .iter_mut()
        .map(|(name, tally)| {
            format!(
                "{name} {} ({} errors, p50 {:.1} ms, p99 {:.1} ms)",
                tally.latencies.len(),
                tally.errors.len(),
                tally.quantile_ms(0.5),
                tally.quantile_ms(0.99)
            )
        })
        .collect();
    eprintln!(
        "reliability: mixed load on {} instance(s), {CLIENTS} clients per kind for {} s during a broadcast to \
         {RECIPIENTS} at 300/s: {}",
        1 + usize::from(peer.is_some()),
        LOAD.as_secs(),
        summary.join(", ")
    );
    for (name, tally) in &tallies {
        assert!(tally.latencies.len() >= 50, "{name}: only {} requests", tally.latencies.len());
        assert!(tally.errors.is_empty(), "{name} failed: {:?}", &tally.errors[..tally.errors.len().min(5)]);
    }
    // Nothing lost or half-written: the broadcast went to each recipient once, its counts are
    // its rows, every contact created is there and every confirmed delivery was kept.
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(mock.logical_messages(), RECIPIENTS);
    assert_eq!(mock.count(), RECIPIENTS, "no message went out twice");
    assert_counts_match_rows(&app, &id).await;
    let walk_ins = app.ok("{ contacts(first: 1, tag: \"walk-in\") { totalCount } }", json!({})).await;
    assert_eq!(walk_ins["contacts"]["totalCount"], created.load(Ordering::Relaxed));
    assert!(!confirmed.is_empty());
    let kept = app
        .sql_row(format!(
            "SELECT COUNT(*) AS kept FROM messages WHERE status IN ('DELIVERED', 'READ') AND id IN ({})",
            confirmed.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ))
        .await
        .try_get::<i64>("", "kept")
        .unwrap();
    assert_eq!(kept, confirmed.len() as i64, "every confirmed delivery is kept");
    assert_eq!(done["deliveredCount"], confirmed.len(), "{done:#}");
}
