//! `POST /webhooks/{channelId}`: a provider's status callbacks and inbound messages.
//!
//! The CUSTOM channel's callbacks are authenticated by the channel's secret
//! (`Authorization: Bearer <secret>`); a missing or wrong one is 401 and changes nothing. The
//! body is `{"statuses": [{"messageId" | "providerMessageId", "status": "SENT" | "DELIVERED" |
//! "READ" | "FAILED", "error": {"code", "message"}}], "messages": [{"from", "text", "id",
//! "timestamp"}]}`; both lists are optional. A status for a message Pregón does not know is
//! acknowledged (so the provider does not retry forever) and logged. Statuses only move
//! forward (`services::delivery`); inbound messages update the contact's messaging window and
//! last interacted channel and count as replies to a broadcast sent in the previous 24 hours.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use entity::{ChannelKind, DeliveryStatus, channel};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::channels::adapter::StatusReport;
use crate::error::ErrorCode;
use crate::http::{HttpState, error_response};
use crate::services::delivery::{self, Inbound};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Callback {
    #[serde(default)]
    statuses: Vec<StatusItem>,
    #[serde(default)]
    messages: Vec<InboundItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusItem {
    message_id: Option<String>,
    provider_message_id: Option<String>,
    status: String,
    error: Option<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InboundItem {
    from: String,
    text: Option<String>,
    id: Option<String>,
    timestamp: Option<DateTime<Utc>>,
}

/// Most items one callback may carry.
const MAX_ITEMS: usize = 10_000;

pub async fn receive(
    State(state): State<HttpState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = &state.app;
    let Ok(channel_id) = channel_id.parse::<i64>() else {
        return error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such channel.");
    };
    let channel =
        match channel::Entity::find_by_id(channel_id).filter(channel::Column::DeletedAt.is_null()).one(&app.db).await {
            Ok(Some(channel)) => channel,
            Ok(None) => return error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such channel."),
            Err(err) => return internal(err),
        };
    if channel.kind != ChannelKind::Custom {
        return error_response(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "This channel's provider does not call Pregón's webhooks yet.",
        );
    }
    if !authorized(&channel, &headers) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "Send the channel's secret as `Authorization: Bearer <secret>`.",
        );
    }
    let callback: Callback = match serde_json::from_slice(&body) {
        Ok(callback) => callback,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("The body is not a status callback: {err}."),
            );
        }
    };
    if callback.statuses.len() + callback.messages.len() > MAX_ITEMS {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BadUserInput,
            &format!("At most {MAX_ITEMS} statuses and messages per callback."),
        );
    }
    let mut reports = Vec::with_capacity(callback.statuses.len());
    for (index, item) in callback.statuses.into_iter().enumerate() {
        match report(&channel, item) {
            Ok(report) => reports.push(report),
            Err(message) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadUserInput,
                    &format!("statuses[{index}]: {message}"),
                );
            }
        }
    }
    if let Some(index) = callback.messages.iter().position(|m| m.from.trim().is_empty()) {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            &format!("messages[{index}]: from is empty."),
        );
    }
    let statuses = reports.len();
    let unknown = match delivery::apply_reports(app, reports).await {
        Ok(unknown) => unknown,
        Err(err) => return internal(err),
    };
    let mut received = 0;
    for item in callback.messages {
        let inbound = Inbound {
            from: item.from,
            text: item.text,
            at: item.timestamp.unwrap_or_else(Utc::now),
            provider_message_id: item.id,
        };
        match delivery::record_inbound(app, &channel, inbound).await {
            Ok(Some(_)) => received += 1,
            Ok(None) => {}
            Err(err) => return internal(err),
        }
    }
    let body = serde_json::json!({ "statuses": statuses, "unknownMessages": unknown, "messages": received });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Compares the presented secret with the channel's by their SHA-256 digests, so the time
/// taken says nothing about how much of it matched.
fn authorized(channel: &channel::Model, headers: &HeaderMap) -> bool {
    let Some(secret) = channel.credentials.get("secret").and_then(|s| s.as_str()) else {
        return false;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default();
    !presented.is_empty() && Sha256::digest(presented.trim().as_bytes()) == Sha256::digest(secret.as_bytes())
}

fn report(channel: &channel::Model, item: StatusItem) -> Result<StatusReport, String> {
    let status = match item.status.trim().to_ascii_uppercase().as_str() {
        "SENT" => DeliveryStatus::Sent,
        "DELIVERED" => DeliveryStatus::Delivered,
        "READ" => DeliveryStatus::Read,
        "FAILED" => DeliveryStatus::Failed,
        other => return Err(format!("'{other}' is not a status; use SENT, DELIVERED, READ or FAILED.")),
    };
    let message_id = match item.message_id.as_deref().map(str::trim) {
        Some(id) => Some(id.parse::<i64>().map_err(|_| format!("'{id}' is not a Pregón message id."))?),
        None => None,
    };
    if message_id.is_none() && item.provider_message_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        return Err("give messageId (Pregón's) or providerMessageId (yours).".into());
    }
    let error = item.error.map(|e| {
        let code = match e.code {
            Some(serde_json::Value::String(code)) => code,
            Some(other) => other.to_string(),
            None => "PROVIDER_FAILED".into(),
        };
        (code, e.message.unwrap_or_else(|| "The provider reported the message failed.".into()))
    });
    Ok(StatusReport {
        channel_id: channel.id,
        message_id,
        provider_message_id: item.provider_message_id.map(|id| id.trim().to_owned()),
        status,
        at: Utc::now(),
        error,
    })
}

fn internal(err: impl std::fmt::Debug) -> Response {
    tracing::error!(error = ?err, "a webhook failed on the server");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "Internal error")
}
