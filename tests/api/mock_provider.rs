//! A loopback mock of a CUSTOM channel's provider: it records every request Pregón makes
//! (idempotency key, bearer secret, JSON body, arrival time) and answers as the test scripts
//! it — accepted with an id, a status code with an error body and Retry-After, or no answer at
//! all (a hang, to stand for a provider that never replies).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: String,
    pub authorization: String,
    pub body: Value,
    pub at: Instant,
    /// How many times this idempotency key had been seen before (0 for the first).
    pub repeat: usize,
    /// The status the mock answered with (0: it never answered).
    pub replied: u16,
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with `{"id": "prov-<messageId>"}`.
    Accept,
    /// This status with `{"error": {"code", "message"}}` and, when given, `Retry-After`.
    Error { status: u16, code: String, message: String, retry_after: Option<u64> },
    /// Accepts after this long (a provider that takes its time).
    AcceptAfter(Duration),
    /// Never answers.
    Hang,
}

type Script = Box<dyn Fn(&Received) -> Reply + Send + Sync>;

struct MockState {
    received: Mutex<Vec<Received>>,
    seen: Mutex<HashMap<String, usize>>,
    script: Mutex<Script>,
}

#[derive(Clone)]
pub struct MockProvider {
    pub url: String,
    state: Arc<MockState>,
}

impl MockProvider {
    /// A mock that accepts everything.
    pub async fn start() -> MockProvider {
        Self::scripted(|_| Reply::Accept).await
    }

    pub async fn scripted(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockProvider {
        let state = Arc::new(MockState {
            received: Mutex::default(),
            seen: Mutex::default(),
            script: Mutex::new(Box::new(script)),
        });
        let router = axum::Router::new().route("/messages", post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("mock binds");
        let url = format!("http://{}/messages", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        MockProvider { url, state }
    }

    /// Replaces the script.
    pub fn set_script(&self, script: impl Fn(&Received) -> Reply + Send + Sync + 'static) {
        *self.state.script.lock().unwrap() = Box::new(script);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// How many requests so far (without copying them).
    pub fn count(&self) -> usize {
        self.state.received.lock().unwrap().len()
    }

    /// The idempotency key of the `index`-th request (from 0), once it has arrived.
    pub fn key(&self, index: usize) -> Option<String> {
        self.state.received.lock().unwrap().get(index).map(|request| request.idempotency_key.clone())
    }

    /// Distinct idempotency keys seen: the logical messages.
    pub fn logical_messages(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

async fn receive(State(state): State<Arc<MockState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let key = header("idempotency-key");
    let repeat = {
        let mut seen = state.seen.lock().unwrap();
        let count = seen.entry(key.clone()).or_insert(0);
        *count += 1;
        *count - 1
    };
    let received = Received {
        idempotency_key: key,
        authorization: header("authorization"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
        repeat,
        replied: 0,
    };
    let reply = (state.script.lock().unwrap())(&received);
    let mut received = received;
    received.replied = match &reply {
        Reply::Accept | Reply::AcceptAfter(_) => 200,
        Reply::Error { status, .. } => *status,
        Reply::Hang => 0,
    };
    let message_id = received.body["messageId"].as_str().unwrap_or_default().to_owned();
    state.received.lock().unwrap().push(received);
    match reply {
        Reply::Accept => (StatusCode::OK, axum::Json(json!({ "id": format!("prov-{message_id}") }))).into_response(),
        Reply::Error { status, code, message, retry_after } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({ "error": { "code": code, "message": message } })),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
        Reply::AcceptAfter(wait) => {
            tokio::time::sleep(wait).await;
            (StatusCode::OK, axum::Json(json!({ "id": format!("prov-{message_id}") }))).into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}
