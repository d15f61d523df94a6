//! A loopback provider for the dispatcher scenarios: a CUSTOM channel's endpoint that
//! answers 200 `{"id": …}` at once and records when each message arrived.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;

#[derive(Default)]
pub struct Arrivals {
    pub times: Mutex<Vec<(Instant, String)>>,
}

/// Starts the mock; answers its URL and what it records.
pub async fn start() -> anyhow::Result<(String, Arc<Arrivals>)> {
    let arrivals = Arc::new(Arrivals::default());
    let router = axum::Router::new().route("/messages", post(receive)).with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/messages", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    Ok((url, arrivals))
}

async fn receive(
    State(arrivals): State<Arc<Arrivals>>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> axum::Json<serde_json::Value> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let id = format!("mock-{key}");
    arrivals.times.lock().expect("lock").push((Instant::now(), key));
    axum::Json(serde_json::json!({ "id": id }))
}
