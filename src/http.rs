//! HTTP handlers outside the GraphQL schema: the GraphQL-over-HTTP endpoint, the WebSocket
//! upgrade, health, metrics and the GraphiQL page. Routes are listed in `router.rs`.

pub mod exports;
pub mod graphql;
pub mod health;
pub mod subscriptions;
pub mod webhooks;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::error::ErrorCode;
use crate::graphql::PregonSchema;

/// The state handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: PregonSchema,
}

/// An error outside GraphQL, shaped like a GraphQL error response so that clients read one
/// format: `{"errors": [{"message": …, "extensions": {"code": …}}]}`.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// GraphiQL, the in-browser explorer. Paste `{"Authorization": "Bearer <token>"}` in its
/// Headers tab.
pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Pregón GraphiQL")
            .finish(),
    )
}
