//! `/webhooks/{channelId}`: what providers post to Pregón (statuses of the messages it sent,
//! inbound messages) and Meta's subscription check.
//!
//! Each provider's request is read the provider's way by `channels::webhook` (signature first:
//! a missing or wrong one is 401 and changes nothing); the events are applied by
//! `services::delivery::ingest` in one call, which answers once they are committed. A status
//! for a message Pregón does not know is acknowledged (so the provider does not retry forever)
//! and logged; one that names a provider id no message carries yet is held until the send's
//! answer records it. Statuses only move forward; inbound messages are stored once per
//! provider id, update the contact's messaging window and last interacted channel and count as
//! replies to a broadcast sent in the previous 24 hours.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::channel;

use crate::app::App;
use crate::channels::webhook::{self, WebhookError, WebhookEvents, WebhookRequest};
use crate::error::ErrorCode;
use crate::http::{HttpState, error_response};
use crate::services::delivery;

/// Most events one request may carry.
const MAX_ITEMS: usize = 10_000;

pub async fn receive(
    State(state): State<HttpState>,
    Path(channel_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = &state.app;
    let channel = match live_channel(app, &channel_id).await {
        Ok(channel) => channel,
        Err(response) => return response,
    };
    let url = format!("{}{}", app.public_url(), uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path()));
    let request = WebhookRequest { channel: &channel, url: &url, headers: &headers, body: &body };
    let events = match webhook::read(&request) {
        Ok(events) => events,
        Err(err) => return refused(channel.id, err),
    };
    if events.len() > MAX_ITEMS {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadUserInput,
            &format!("At most {MAX_ITEMS} statuses and messages per callback."),
        );
    }
    if holds_nul(&events) {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            "The callback holds a NUL character (U+0000), which Pregón cannot store; nothing was applied.",
        );
    }
    let kind = channel.kind;
    let summary = match delivery::ingest(&state.app, channel, events).await {
        Ok(summary) => summary,
        Err(err) => return internal(err),
    };
    if let Some((content_type, body)) = webhook::acknowledgement(kind) {
        return (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    let body = serde_json::json!({
        "statuses": summary.statuses,
        "unknownMessages": summary.unknown,
        "heldStatuses": summary.held,
        "messages": summary.messages,
        "duplicateMessages": summary.duplicates,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Whether any text of the events holds a NUL character. PostgreSQL can neither store nor
/// compare one (the query fails), SQLite would store it: such a callback is refused as a
/// whole, on either database.
fn holds_nul(events: &WebhookEvents) -> bool {
    let nul = |text: &str| text.contains('\0');
    events.statuses.iter().any(|status| {
        status.provider_message_id.as_deref().is_some_and(nul)
            || status.error.as_ref().is_some_and(|(code, text)| nul(code) || nul(text))
    }) || events.watermarks.iter().any(|watermark| nul(&watermark.address))
        || events.inbound.iter().any(|inbound| {
            nul(&inbound.from)
                || inbound.text.as_deref().is_some_and(nul)
                || inbound.provider_message_id.as_deref().is_some_and(nul)
        })
        || events.unreachable.iter().chain(&events.reachable).any(|address| nul(address))
}

/// `GET /webhooks/{channelId}`: Meta's subscription check, answered with `hub.challenge`.
pub async fn verify(
    State(state): State<HttpState>,
    Path(channel_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let channel = match live_channel(&state.app, &channel_id).await {
        Ok(channel) => channel,
        Err(response) => return response,
    };
    match webhook::verify_subscription(&channel, &query) {
        Ok(challenge) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], challenge).into_response(),
        // Meta expects 403 when the token does not match.
        Err(WebhookError::Unauthorized(message)) => {
            error_response(StatusCode::FORBIDDEN, ErrorCode::Forbidden, &message)
        }
        Err(err) => refused(channel.id, err),
    }
}

async fn live_channel(app: &App, channel_id: &str) -> Result<channel::Model, Response> {
    let not_found = || error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such channel.");
    let Ok(channel_id) = channel_id.parse::<i64>() else {
        return Err(not_found());
    };
    match crate::services::channels::webhook_channel(app, channel_id).await {
        Ok(Some(channel)) => Ok(channel),
        Ok(None) => Err(not_found()),
        Err(err) => Err(internal(err)),
    }
}

fn refused(channel_id: i64, err: WebhookError) -> Response {
    match err {
        WebhookError::Unauthorized(message) => {
            tracing::warn!(channel_id, "a webhook with a missing or wrong signature was refused");
            error_response(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, &message)
        }
        WebhookError::Invalid(message) => error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message),
        WebhookError::NotAccepted(message) => error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, &message),
    }
}

fn internal(err: impl std::fmt::Debug) -> Response {
    tracing::error!(error = ?err, "a webhook failed on the server");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "Internal error")
}
