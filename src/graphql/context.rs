//! What resolvers read from the request context.

use async_graphql::{Context, ID};
use base64::Engine;

use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ApiResult};

pub trait ContextExt {
    /// The application (database, event bus, settings).
    fn app(&self) -> &AppState;
    /// The caller; UNAUTHENTICATED when the request carried no valid token.
    fn scope(&self) -> ApiResult<&Scope>;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn scope(&self) -> ApiResult<&Scope> {
        self.data_opt::<Scope>().ok_or_else(ApiError::unauthenticated)
    }
}

/// Reads a numeric id argument; `what` names the object in the error.
pub fn parse_id(id: &ID, argument: &str, what: &str) -> ApiResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_input(argument, format!("'{}' is not a {what} id.", id.as_str())))
}

pub fn parse_ids(ids: &[ID], argument: &str, what: &str) -> ApiResult<Vec<i64>> {
    ids.iter().map(|id| parse_id(id, argument, what)).collect()
}

/// Opaque keyset cursors: the row id, base64url-encoded.
pub mod cursor {
    use super::*;

    pub fn encode(id: i64) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{id}"))
    }

    /// A cursor over pairs of ids.
    pub fn encode_pair(first: i64, second: i64) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("pair:{first}:{second}"))
    }

    pub fn decode_pair(cursor: &str) -> ApiResult<(i64, i64)> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (first, second) = text.strip_prefix("pair:")?.split_once(':')?;
                Some((first.parse().ok()?, second.parse().ok()?))
            })
            .ok_or_else(|| ApiError::bad_input("after", "This cursor is not one Pregón gave out; pass an endCursor."))
    }

    pub fn decode(cursor: &str) -> ApiResult<i64> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("id:").and_then(|id| id.parse().ok()))
            .ok_or_else(|| ApiError::bad_input("after", "This cursor is not one Pregón gave out; pass an endCursor."))
    }
}

/// Checks a page size against the allowed range.
pub fn page_size(first: Option<i32>, default: u64, max: u64) -> ApiResult<u64> {
    match first {
        None => Ok(default),
        Some(n) if n >= 0 && (n as u64) <= max => Ok(n as u64),
        Some(_) => Err(ApiError::bad_input("first", format!("first must be between 0 and {max}."))),
    }
}
