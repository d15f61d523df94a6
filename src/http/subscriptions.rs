//! GraphQL over WebSocket: graphql-transport-ws and the legacy graphql-ws subprotocol.
//!
//! The client authenticates in `connection_init` with `{"authorization": "Bearer <token>"}`;
//! a connection without a valid token is closed. The read buffer is 4 KiB instead of axum's
//! 128 KiB default, so an idle subscription costs a few KiB rather than ~146 KB; messages
//! are capped at the request body limit.

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;

use crate::auth::{self, AuthError};
use crate::graphql::loaders;
use crate::http::HttpState;

const READ_BUFFER_BYTES: usize = 4096;

pub async fn upgrade(State(state): State<HttpState>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    let max_message = state.app.config.max_body_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let app = state.app.clone();
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let authorization = ["authorization", "Authorization"]
                        .iter()
                        .find_map(|key| payload.get(key).and_then(|v| v.as_str()));
                    match auth::authenticate(&app.db, authorization).await {
                        Ok(Some(scope)) => {
                            let mut data = Data::default();
                            data.insert(loaders::loaders(app.clone(), scope.workspace_id));
                            data.insert(scope);
                            Ok(data)
                        }
                        Ok(None) => Err(async_graphql::Error::new(
                            "Authentication required: send {\"authorization\": \"Bearer <token>\"} in connection_init.",
                        )),
                        Err(AuthError::Database(err)) => {
                            tracing::error!(error = %err, "WebSocket authentication failed on the database");
                            Err(async_graphql::Error::new("Internal error"))
                        }
                        Err(err) => Err(async_graphql::Error::new(err.to_string())),
                    }
                })
                .serve()
        })
}
