//! `GET /export/contacts.csv`: the contact export, streamed. Authenticated like the GraphQL
//! endpoint (`Authorization: Bearer <token>`); the selection comes in the query string, as
//! the GraphQL `exportContacts` query builds it: `segmentId`, or `filter` (the segment
//! filter as JSON), and optionally `search` and `tag`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{self, AuthError};
use crate::error::{ErrorCode, ServiceError};
use crate::http::{HttpState, error_response};
use crate::services::exports;
use crate::services::segments::Filter;

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
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let scope = match auth::authenticate(&state.app.db, authorization).await {
        Ok(Some(scope)) => scope,
        Ok(None) => {
            return error_response(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "Send an API token as `Authorization: Bearer <token>`.",
            );
        }
        Err(AuthError::Database(err)) => {
            tracing::error!(error = %err, "authentication failed on the database");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "Internal error");
        }
        Err(err) => return error_response(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, &err.to_string()),
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
