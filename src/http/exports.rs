//! `GET /export/messages.csv`: the messages data export (below).
//!
//! `GET /export/contacts.csv`: the contact export, streamed. Authenticated like the GraphQL
//! endpoint (`Authorization: Bearer <token>`); the selection comes in the query string, as
//! the GraphQL `exportContacts` query builds it: `segmentId`, or `filter` (the segment
//! filter as JSON), and optionally `search` and `tag`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::{self, AuthError};
use crate::error::{ErrorCode, ServiceError};
use crate::http::{HttpState, error_response};
use crate::services::reports::{self, ListKind, ReportFilter};
use crate::services::segments::Filter;
use crate::services::{exports, message_exports};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactExportParams {
    segment_id: Option<String>,
    filter: Option<String>,
    search: Option<String>,
    tag: Option<String>,
}

pub async fn contacts_csv(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(params): Query<ContactExportParams>,
) -> Response {
    let scope = match authenticated(&state, &headers).await {
        Ok(scope) => scope,
        Err(response) => return response,
    };
    let segment_id = match params.segment_id.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, "segmentId is not a segment id.");
        }
    };
    let filter = match params.filter.as_deref().map(serde_json::from_str::<Filter>) {
        None => None,
        Some(Ok(filter)) => Some(filter),
        Some(Err(err)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!(
                    "filter is not a segment filter in JSON ({err}); build the URL with the exportContacts query."
                ),
            );
        }
    };
    let started = async {
        let selection = exports::selection(&state.app, &scope, segment_id, filter, params.search, params.tag).await?;
        exports::export_contacts(state.app.clone(), scope, selection).await
    };
    match started.await {
        Ok(stream) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\""),
            ],
            Body::from_stream(stream),
        )
            .into_response(),
        Err(err) => service_error(err),
    }
}

/// The caller, from `Authorization: Bearer <token>`; or the response refusing them.
async fn authenticated(state: &HttpState, headers: &HeaderMap) -> Result<crate::auth::Scope, Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth::authenticate(&state.app.db, authorization).await {
        Ok(Some(scope)) => Ok(scope),
        Ok(None) => Err(error_response(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "Send an API token as `Authorization: Bearer <token>`.",
        )),
        Err(AuthError::Database(err)) => {
            tracing::error!(error = %err, "authentication failed on the database");
            Err(error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "Internal error"))
        }
        Err(err) => Err(error_response(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, &err.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageExportParams {
    list: Option<String>,
    from: Option<String>,
    to: Option<String>,
    channel_id: Option<String>,
}

/// `GET /export/messages.csv?list=FAILED|INCOMING|OUTGOING&from=…&to=…[&channelId=…]`: a data
/// export of messages (`services::message_exports`), built by the `exportFailedMessages` and
/// `exportMessages` mutations.
pub async fn messages_csv(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(params): Query<MessageExportParams>,
) -> Response {
    let scope = match authenticated(&state, &headers).await {
        Ok(scope) => scope,
        Err(response) => return response,
    };
    let bad = |message: &str| error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message);
    let kind = match params.list.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("FAILED") | None => ListKind::Failed,
        Some("INCOMING") => ListKind::Incoming,
        Some("OUTGOING") => ListKind::Outgoing,
        Some(_) => return bad("list is FAILED, INCOMING or OUTGOING."),
    };
    let time = |value: Option<&str>| -> Option<DateTime<Utc>> {
        value.and_then(|v| DateTime::parse_from_rfc3339(v).ok()).map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(to)) = (time(params.from.as_deref()), time(params.to.as_deref())) else {
        return bad("from and to must be RFC 3339 times; build the URL with exportFailedMessages or exportMessages.");
    };
    let channel_ids = match params.channel_id.as_deref().map(str::parse::<i64>) {
        None => Vec::new(),
        Some(Ok(id)) => vec![id],
        Some(Err(_)) => return bad("channelId is not a channel id."),
    };
    let started = async {
        let tz = reports::time_zone(&state.app, &scope).await?;
        let period = reports::period(None, Some(from), Some(to), tz, Utc::now())?;
        let filter = ReportFilter { channel_ids, ..ReportFilter::default() };
        message_exports::export_messages(state.app.clone(), scope, period, filter, kind)
    };
    let name = match kind {
        ListKind::Failed => "failed-messages.csv",
        ListKind::Incoming => "incoming-messages.csv",
        ListKind::Outgoing => "outgoing-messages.csv",
    };
    match started.await {
        Ok(stream) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            Body::from_stream(stream),
        )
            .into_response(),
        Err(err) => service_error(err),
    }
}

fn service_error(err: ServiceError) -> Response {
    let code = err.code();
    let status = match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::LimitReached => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let ServiceError::Internal(cause) = &err {
        tracing::error!(error = ?cause, "internal error answered as INTERNAL");
        return error_response(status, code, "Internal error");
    }
    error_response(status, code, &err.to_string())
}
