//! Exporting contacts as CSV ("Exportar contactos"), streamed: contacts are read in keyset
//! chunks and written as they are read, through a small bounded channel, so a million
//! contacts never sit in memory and a slow client slows the reading down.
//!
//! Columns: the contact's own fields, tags (joined with "; "), times, then one column per
//! custom field (headed by its key) and one per channel (the contact's identifier there).
//! The headers are ones the importer recognises, so an export imports back.
//!
//! Formula injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! is read as a formula by spreadsheet programs, and contact fields and inbound texts come from
//! anyone. Such a cell is written with a leading `'` (OWASP, "CSV Injection"), except a plain
//! number such as an E.164 phone (`+593991234567`), which no spreadsheet runs. The importer
//! takes the `'` off again, so an export imports back unchanged; stored values are never
//! altered. (The one value that does not survive the round trip is one that was stored with
//! such a `'` already in front, e.g. `'=x`: it imports back as `=x`.)

use std::fmt::Write as _;
use std::time::Instant;

use bytes::Bytes;
use entity::{Role, channel, contact, contact_field};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult};
use crate::services::contacts::{self, ContactFilter};
use crate::services::{channels, contact_fields, tags};

/// Contacts read per query.
const CHUNK: u64 = 5000;

/// Checks that the caller may export; done before the response starts.
pub fn authorize(scope: &Scope) -> ServiceResult<()> {
    scope.require(Role::Manager, "Exporting contacts")
}

/// Starts exporting the contacts matching `filter`; the CSV arrives on the stream. A failure
/// midway ends the stream with an error, so the client sees a broken transfer, never a
/// silently short file.
pub async fn export_contacts(
    app: AppState,
    scope: Scope,
    filter: ContactFilter,
) -> ServiceResult<ReceiverStream<Result<Bytes, std::io::Error>>> {
    authorize(&scope)?;
    // Compile the filter before answering, so a bad one is an error, not a broken stream.
    let condition = contacts::filter_condition(&app, &scope, &filter).await?;
    let mut fields: Vec<contact_field::Model> =
        contact_fields::definitions(&app.db, &scope).await?.into_values().collect();
    fields.sort_by(|a, b| a.key.cmp(&b.key));
    let channels = channels::list_channels(&app, &scope).await?;
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        let started = Instant::now();
        match write_all(&app, &scope, condition, &fields, &channels, &sender).await {
            Ok(rows) => {
                tracing::info!(
                    workspace = scope.workspace_id,
                    rows,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "contacts exported"
                );
            }
            Err(WriteError::ClientGone) => {
                tracing::info!(workspace = scope.workspace_id, "contact export abandoned by the client")
            }
            Err(WriteError::Failed(err)) => {
                tracing::error!(workspace = scope.workspace_id, error = %err, "contact export failed midway");
                let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    });
    Ok(ReceiverStream::new(receiver))
}

pub(crate) enum WriteError {
    ClientGone,
    Failed(ServiceError),
}

impl From<ServiceError> for WriteError {
    fn from(err: ServiceError) -> Self {
        WriteError::Failed(err)
    }
}

impl From<sea_orm::DbErr> for WriteError {
    fn from(err: sea_orm::DbErr) -> Self {
        WriteError::Failed(err.into())
    }
}

pub(crate) type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// `text` as a CSV cell that no spreadsheet evaluates as a formula (see the module's doc).
pub fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !plain_number(text) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether an imported cell is one [`cell`] neutralised: the original, without the `'`.
pub fn uncell(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number(rest) => rest,
        _ => text,
    }
}

/// A signed decimal number: `+593991234567`, `-12.5`.
fn plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let mut parts = digits.splitn(2, ['.', ',']);
    let whole = parts.next().unwrap_or_default();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && parts.next().is_none_or(|fraction| !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) async fn send(sender: &Sender, writer: csv::Writer<Vec<u8>>) -> Result<(), WriteError> {
    let bytes =
        writer.into_inner().map_err(|err| WriteError::Failed(ServiceError::internal(anyhow::anyhow!("{err}"))))?;
    sender.send(Ok(Bytes::from(bytes))).await.map_err(|_| WriteError::ClientGone)
}

pub(crate) fn csv_error(err: csv::Error) -> WriteError {
    WriteError::Failed(ServiceError::internal(err))
}

async fn write_all(
    app: &AppState,
    scope: &Scope,
    condition: Option<sea_orm::Condition>,
    fields: &[contact_field::Model],
    channels: &[channel::Model],
    sender: &Sender,
) -> Result<u64, WriteError> {
    let mut header: Vec<String> = [
        "Contact ID",
        "First name",
        "Last name",
        "Phone",
        "Email",
        "Language",
        "Tags",
        "Created at",
        "Updated at",
        "Last interaction at",
        "Last interacted channel ID",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(fields.iter().map(|f| f.key.clone()));
    header.extend(channels.iter().map(|c| format!("Channel {} ({})", c.id, c.name)));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).map_err(csv_error)?;
    send(sender, writer).await?;

    let Some(condition) = condition else {
        return Ok(0);
    };
    let backend = app.db.get_database_backend();
    let mut rows = 0;
    let mut after = 0i64;
    let mut number = String::new();
    loop {
        // Only the exported columns, read by position (no per-row name lookups, no models).
        let mut select = scope
            .select::<contact::Entity>()
            .select_only()
            .columns([
                contact::Column::Id,
                contact::Column::FirstName,
                contact::Column::LastName,
                contact::Column::Phone,
                contact::Column::Email,
                contact::Column::Language,
                contact::Column::CreatedAt,
                contact::Column::UpdatedAt,
                contact::Column::LastInteractionAt,
                contact::Column::LastInteractedChannelId,
            ])
            .filter(condition.clone())
            .filter(contact::Column::Id.gt(after))
            .order_by_asc(contact::Column::Id)
            .limit(CHUNK);
        if !fields.is_empty() {
            select = select.column(contact::Column::CustomFields);
        }
        let page = app.db.query_all_raw(select.build(backend)).await?;
        if page.is_empty() {
            break;
        }
        let ids: Vec<i64> = page.iter().map(|row| row.try_get_by_index::<i64>(0)).collect::<Result<_, _>>()?;
        after = *ids.last().expect("the page is not empty");
        let tags = tags::tag_names_of_contacts(&app.db, scope.workspace_id, &ids).await?;
        let identifiers = if channels.is_empty() {
            Vec::new()
        } else {
            contacts::identifier_rows_of_contacts(&app.db, scope.workspace_id, &ids).await?
        };
        // Both come ordered by contact id, as the page is: walk them alongside it, skipping
        // rows of contacts between the page's ids that the filter left out.
        let (mut tag_at, mut identifier_at) = (0, 0);
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(page.len() * 160));
        for (row, id) in page.iter().zip(&ids) {
            number.clear();
            write!(number, "{id}").expect("writing to a String");
            writer.write_field(&number).map_err(csv_error)?;
            for index in 1..=5 {
                let text: Option<String> = row.try_get_by_index(index)?;
                writer.write_field(cell(text.as_deref().unwrap_or_default()).as_ref()).map_err(csv_error)?;
            }
            while tag_at < tags.len() && tags[tag_at].0 < *id {
                tag_at += 1;
            }
            let first_tag = tag_at;
            while tag_at < tags.len() && tags[tag_at].0 == *id {
                tag_at += 1;
            }
            let joined = tags[first_tag..tag_at].iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>().join("; ");
            writer.write_field(cell(&joined).as_ref()).map_err(csv_error)?;
            for index in 6..=7 {
                let time: chrono::DateTime<chrono::Utc> = row.try_get_by_index(index)?;
                writer.write_field(time.to_rfc3339()).map_err(csv_error)?;
            }
            let interacted: Option<chrono::DateTime<chrono::Utc>> = row.try_get_by_index(8)?;
            writer.write_field(interacted.map(|t| t.to_rfc3339()).unwrap_or_default()).map_err(csv_error)?;
            let channel: Option<i64> = row.try_get_by_index(9)?;
            writer.write_field(channel.map(|c| c.to_string()).unwrap_or_default()).map_err(csv_error)?;
            if !fields.is_empty() {
                let custom: serde_json::Value = row.try_get_by_index(10)?;
                for field in fields {
                    match custom.get(&field.key) {
                        Some(serde_json::Value::String(text)) => writer.write_field(cell(text).as_ref()),
                        Some(serde_json::Value::Null) | None => writer.write_field(""),
                        Some(other) => writer.write_field(other.to_string()),
                    }
                    .map_err(csv_error)?;
                }
            }
            while identifier_at < identifiers.len() && identifiers[identifier_at].0 < *id {
                identifier_at += 1;
            }
            for channel in channels {
                let mut value = "";
                let mut at = identifier_at;
                while at < identifiers.len() && identifiers[at].0 == *id {
                    if identifiers[at].1 == channel.id {
                        value = &identifiers[at].2;
                    }
                    at += 1;
                }
                writer.write_field(cell(value).as_ref()).map_err(csv_error)?;
            }
            writer.write_record(None::<&[u8]>).map_err(csv_error)?;
        }
        rows += page.len() as u64;
        send(sender, writer).await?;
        if (page.len() as u64) < CHUNK {
            break;
        }
    }
    Ok(rows)
}

/// The contacts an export selects: a saved segment's filter, or a filter, optionally
/// narrowed by a search and a tag. The filter is checked strictly here.
pub async fn selection(
    app: &AppState,
    scope: &Scope,
    segment_id: Option<i64>,
    filter: Option<crate::services::segments::Filter>,
    search: Option<String>,
    tag: Option<String>,
) -> ServiceResult<ContactFilter> {
    authorize(scope)?;
    let filter = match (segment_id, filter) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::bad_input("filter", "Give a segment or a filter, not both."));
        }
        (Some(id), None) => {
            let segment = crate::services::segments::get_segment(&app.db, scope, id).await?;
            Some(crate::services::segments::stored_filter(&segment)?)
        }
        (None, Some(filter)) => {
            crate::services::segments::filter::validate(&app.db, scope, &filter).await?;
            Some(filter)
        }
        (None, None) => None,
    };
    Ok(ContactFilter { search, tag, filter })
}

#[cfg(test)]
mod tests {
    use super::{cell, uncell};

    #[test]
    fn formula_cells_are_neutralised_and_come_back_unchanged() {
        for risky in ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "+", "-"] {
            let written = cell(risky);
            assert_eq!(written, format!("'{risky}"));
            assert_eq!(uncell(&written), risky);
        }
        for plain in ["+593991234567", "-12.5", "12", "Ana", "", "'quoted", "a=b"] {
            assert_eq!(cell(plain), plain);
            assert_eq!(uncell(plain), plain, "a value nobody neutralised is read as it is");
        }
    }
}
