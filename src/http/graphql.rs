//! GraphQL over HTTP (the GraphQL-over-HTTP specification), `GET` and `POST /graphql`.
//!
//! - Requests: `POST` with `application/json` (or a GraphQL multipart upload); `GET` with
//!   `query`, `variables` and `operationName` in the query string, for queries only (a
//!   mutation over `GET` is 405). Other content types are 415; bodies over the limit are 413;
//!   a subscription is 400 and points to `/graphql/ws`.
//! - Responses: `application/graphql-response+json` when the client accepts it, else
//!   `application/json`; 406 when it accepts neither. With `application/graphql-response+json`
//!   a request that fails before execution (unparsable, invalid) is 400 and has no `data`;
//!   with `application/json` it is 200, as the specification asks for legacy clients.
//! - A token that is malformed, unknown or revoked is 401.
//! - Errors with a catalogued `extensions.reason` speak Spanish when `Accept-Language` asks.
//! - Every error carries `extensions.code`; errors raised by parsing, validation or input
//!   coercion (which async-graphql leaves without one) get `BAD_USER_INPUT`.

use async_graphql::http::MultipartOptions;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{self, AuthError};
use crate::catalogue::{Locale, Reason};
use crate::error::ErrorCode;
use crate::graphql::extensions::{self, ExecutionMarker};
use crate::graphql::loaders;
use crate::http::HttpState;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the response is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the response media type from `Accept` (none means `application/json`).
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut json = false;
    for item in accept.split(',') {
        let mut params = item.split(';');
        let media = params.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = params.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        if refused {
            continue;
        }
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(MediaType::GraphqlResponseJson),
            JSON | "application/*" | "*/*" | "" => json = true,
            _ => {}
        }
    }
    json.then_some(MediaType::Json)
}

/// A response with only errors, sent before GraphQL execution.
fn request_error(status: StatusCode, media: MediaType, code: ErrorCode, message: &str) -> Response {
    metrics::counter!("pregon_graphql_errors_total", "code" => code.as_str()).increment(1);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, [(header::CONTENT_TYPE, media.header())], body.to_string()).into_response()
}

fn not_acceptable() -> Response {
    request_error(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        ErrorCode::BadUserInput,
        "Accept application/graphql-response+json or application/json.",
    )
}

pub async fn post(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(essence.as_str(), JSON | GRAPHQL_RESPONSE_JSON | "multipart/form-data") {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            ErrorCode::BadUserInput,
            "Send the request as JSON with `Content-Type: application/json` (or a GraphQL multipart upload).",
        );
    }
    let multipart = essence == "multipart/form-data";
    let limit = if multipart { state.app.config.max_upload_bytes } else { state.app.config.max_body_bytes };
    let too_large = || {
        request_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            media,
            ErrorCode::BadUserInput,
            &format!("The request body is larger than {limit} bytes."),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    let request = if multipart {
        let options = MultipartOptions::default().max_file_size(limit).max_num_files(1);
        async_graphql::http::receive_body(Some(content_type.as_str()), futures_util::io::Cursor::new(bytes), options)
            .await
            .map_err(|err| err.to_string())
    } else {
        serde_json::from_slice::<async_graphql::Request>(&bytes).map_err(|err| err.to_string())
    };
    match request {
        Ok(request) if request.query.trim().is_empty() => request_error(
            StatusCode::BAD_REQUEST,
            media,
            ErrorCode::BadUserInput,
            "The body has no \"query\". Send {\"query\": \"…\", \"variables\": {…}}.",
        ),
        Ok(request) => execute(&state, &headers, request, media).await,
        Err(err) => request_error(
            StatusCode::BAD_REQUEST,
            media,
            ErrorCode::BadUserInput,
            &format!("The body is not a GraphQL request: {err}. Send {{\"query\": \"…\", \"variables\": {{…}}}}."),
        ),
    }
}

pub async fn get(State(state): State<HttpState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()) {
        Ok(request) if !request.query.is_empty() => request,
        _ => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                "Pass the operation as ?query=… (variables as URL-encoded JSON in &variables=…).",
            );
        }
    };
    if operation_type(&request) == Some(OperationType::Mutation) {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            ErrorCode::BadUserInput,
            "Mutations must be sent with POST.",
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, request, media).await
}

/// The type of the operation the request would run, if the document parses. A document
/// nested too deep is not parsed here (the parser would overflow the stack): the schema's
/// `InputLimits` refuses it.
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    if extensions::nesting_depth(&request.query) > extensions::MAX_NESTING {
        return None;
    }
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match document.operations {
        DocumentOperations::Single(operation) => Some(operation.node.ty),
        DocumentOperations::Multiple(operations) => {
            let name = request.operation_name.as_deref()?;
            operations.get(name).map(|operation| operation.node.ty)
        }
    }
}

async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: MediaType,
) -> Response {
    // Parsing twice costs little, and only documents that mention subscriptions pay it.
    if request.query.contains("subscription") && operation_type(&request) == Some(OperationType::Subscription) {
        return request_error(
            StatusCode::BAD_REQUEST,
            media,
            ErrorCode::BadUserInput,
            "Subscriptions are served over WebSocket at /graphql/ws (graphql-transport-ws or graphql-ws).",
        );
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let scope = match auth::authenticate(&state.app.db, authorization).await {
        Ok(scope) => scope,
        Err(AuthError::Database(err)) => {
            tracing::error!(error = %err, "authentication failed on the database");
            return request_error(StatusCode::INTERNAL_SERVER_ERROR, media, ErrorCode::Internal, "Internal error");
        }
        Err(err) => {
            let mut response =
                request_error(StatusCode::UNAUTHORIZED, media, ErrorCode::Unauthenticated, &err.to_string());
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    let locale = Locale::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    let marker = ExecutionMarker::default();
    let mut request = request.data(marker.clone()).data(locale);
    if let Some(scope) = scope {
        request = request.data(loaders::loaders(state.app.clone(), scope.workspace_id)).data(scope);
    }
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if let Some(async_graphql::Value::String(key)) = extensions.get("reason")
            && let Some(reason) = Reason::from_key(key)
        {
            error.message = reason.message(locale).to_owned();
        }
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
            metrics::counter!("pregon_graphql_errors_total", "code" => ErrorCode::BadUserInput.as_str()).increment(1);
        }
    }
    let executed = marker.executed();
    let (status, body) = if executed {
        (StatusCode::OK, serde_json::to_vec(&response))
    } else {
        let status = match media {
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        };
        (status, serde_json::to_vec(&json!({ "errors": response.errors })))
    };
    match body {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.header())], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialise a GraphQL response");
            request_error(StatusCode::INTERNAL_SERVER_ERROR, media, ErrorCode::Internal, "Internal error")
        }
    }
}
