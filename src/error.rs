//! Errors, and where each kind belongs.
//!
//! - [`ServiceError`] is what `services/` return. It says what went wrong in the domain's
//!   words (not found, forbidden, bad input, conflict, limit reached) and carries any
//!   unexpected failure as `Internal` with its cause. Services share one type because every
//!   module needs the same handful of outcomes; each variant carries its own message.
//! - [`ApiError`] is the GraphQL boundary. It deliberately has **no `Display`**: async-graphql
//!   turns anything that is `Display` into an error whose message is that text, so a resolver
//!   that could `?` a `DbErr` straight into `async_graphql::Error` would leak SQL to clients.
//!   Resolvers return `ApiResult<T>`; a `DbErr` or `ServiceError::Internal` becomes the
//!   message "Internal error" with `extensions.code = INTERNAL`, and its cause is logged.
//! - HTTP handlers outside GraphQL (health, metrics, webhooks) answer with plain status codes
//!   and never put an internal cause in a body either.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

use crate::catalogue::Reason;

/// The `extensions.code` values clients rely on (DESIGN.md, API contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    LimitReached,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::LimitReached => "LIMIT_REACHED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// The outcome of a service call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Input a person can correct; `field` names the argument or input field when known.
    #[error("{message}")]
    BadInput { field: Option<String>, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    LimitReached(String),
    /// One of the seeds' reasons, with its fixed wording (see `catalogue`).
    #[error("{}", .0.english())]
    Catalogued(Reason),
    /// Anything unexpected. The text is for logs only.
    #[error("internal error: {0}")]
    Internal(#[source] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::BadInput { field: Some(field.into()), message: message.into() }
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        ServiceError::NotFound(format!("No {what} with id {id} in this workspace."))
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        ServiceError::Internal(cause.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::Forbidden(_) => ErrorCode::Forbidden,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::BadInput { .. } => ErrorCode::BadUserInput,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::LimitReached(_) => ErrorCode::LimitReached,
            ServiceError::Catalogued(reason) => reason_code(*reason),
            ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// The code an error with a catalogued reason carries.
fn reason_code(reason: Reason) -> ErrorCode {
    match reason {
        Reason::SegmentNotFound | Reason::BroadcastSegmentNotFound => ErrorCode::NotFound,
        Reason::SegmentLimitReached | Reason::BroadcastPlanLimitExceeded => ErrorCode::LimitReached,
        Reason::SegmentNameNotUnique => ErrorCode::Conflict,
        Reason::BroadcastNoContacts | Reason::BroadcastChannelUnavailable => ErrorCode::BadUserInput,
    }
}

impl From<DbErr> for ServiceError {
    /// A unique-constraint violation the service did not anticipate still answers CONFLICT
    /// (with a generic message); services that expect one map it to a specific message with
    /// [`conflict_on_unique`].
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return ServiceError::Conflict("Another record already has this value, and it must be unique.".into());
        }
        ServiceError::Internal(err.into())
    }
}

/// Maps a unique-constraint violation to CONFLICT with `message`; other errors pass through.
pub fn conflict_on_unique(message: impl Into<String>) -> impl FnOnce(DbErr) -> ServiceError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ServiceError::Conflict(message.into()),
        _ => ServiceError::from(err),
    }
}

/// The GraphQL boundary error. No `Display` on purpose (see the module comment). `Clone`
/// because async-graphql requires it of a resolver's error type.
#[derive(Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    /// A catalogued reason: sent as `extensions.reason`; the HTTP layer localises the message.
    reason: Option<Reason>,
    /// For `Internal` only: logged when the error is converted, never sent.
    cause: Option<std::sync::Arc<anyhow::Error>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), field: None, reason: None, cause: None }
    }

    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.to_owned()), ..ApiError::new(ErrorCode::BadUserInput, message) }
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "Authentication required: send an API token as `Authorization: Bearer <token>`.",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        let code = err.code();
        match err {
            ServiceError::Internal(cause) => {
                ApiError { cause: Some(std::sync::Arc::new(cause)), ..ApiError::new(code, "Internal error") }
            }
            ServiceError::BadInput { field, message } => ApiError { field, ..ApiError::new(code, message) },
            ServiceError::Catalogued(reason) => {
                ApiError { reason: Some(reason), ..ApiError::new(code, reason.english()) }
            }
            other => ApiError::new(code, other.to_string()),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ServiceError::from(err).into()
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        if let Some(cause) = &err.cause {
            tracing::error!(error = ?cause, "internal error answered as INTERNAL");
        }
        metrics::counter!("pregon_graphql_errors_total", "code" => err.code.as_str()).increment(1);
        async_graphql::Error::new(err.message).extend_with(|_, ext| {
            ext.set("code", err.code.as_str());
            if let Some(field) = &err.field {
                ext.set("field", field.as_str());
            }
            if let Some(reason) = err.reason {
                ext.set("reason", reason.key());
            }
        })
    }
}
