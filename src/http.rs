//! HTTP handlers outside the GraphQL schema: the GraphQL-over-HTTP endpoint, the WebSocket
//! upgrade, health, metrics and the GraphiQL page. Routes are listed in `router.rs`.

pub mod graphql;
pub mod health;
pub mod subscriptions;

use axum::response::Html;

use crate::app::AppState;
use crate::graphql::PregonSchema;

/// The state handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: PregonSchema,
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
