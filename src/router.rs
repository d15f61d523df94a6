//! Every route of the server, in one place.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::http::{self, HttpState};

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/", get(http::graphiql))
        .route("/graphql", get(http::graphql::get).post(http::graphql::post))
        .route("/graphql/ws", get(http::subscriptions::upgrade))
        .route("/export/contacts.csv", get(http::exports::contacts_csv))
        .route("/export/messages.csv", get(http::exports::messages_csv))
        .route("/webhooks/{channel_id}", post(http::webhooks::receive).get(http::webhooks::verify))
        .route("/healthz", get(http::health::live))
        .route("/readyz", get(http::health::ready))
        .route("/metrics", get(http::health::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn(crate::metrics::track))
        // Spans carry the method and path only: query strings can hold personal data.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            tracing::debug_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "No such route. The API is at /graphql." }))).into_response()
}

/// A panic in a handler answers 500 with no detail; the panic itself is logged.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "a request handler panicked");
    let body = json!({ "errors": [{ "message": "Internal error", "extensions": { "code": "INTERNAL" } }] });
    (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
