//! Services decide: each is a plain async function over sea-orm, taking the [`App`] and the
//! caller's [`Scope`](crate::auth::Scope), enforcing the rules and returning
//! [`ServiceResult`](crate::error::ServiceResult). Resolvers only translate to and from them.
//!
//! [`App`]: crate::app::App

pub mod api_tokens;
pub mod broadcasts;
pub mod channels;
pub mod contact_fields;
pub mod contacts;
pub mod delivery;
pub mod duplicates;
pub mod exports;
pub mod imports;
pub mod message_exports;
pub mod messages;
pub mod reports;
pub mod segments;
pub mod tags;
pub mod teams;
pub mod users;
pub mod workspaces;

/// One page of a keyset-paginated list, newest first.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether rows follow the last item.
    pub has_next_page: bool,
}

/// Fetches `first + 1` rows to learn whether a next page exists, then trims.
pub(crate) fn into_page<T>(mut rows: Vec<T>, first: u64) -> Page<T> {
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Page { items: rows, has_next_page }
}

/// Maps a normalisation failure to BAD_USER_INPUT on `field`.
pub(crate) fn field_error(field: &'static str) -> impl Fn(String) -> crate::error::ServiceError {
    move |message| crate::error::ServiceError::bad_input(field, message)
}
