//! Exporting contacts as CSV ("Exportar contactos"), streamed: contacts are read in keyset
//! chunks and written as they are read, through a small bounded channel, so a million
//! contacts never sit in memory and a slow client slows the reading down.
//!
//! Columns: the contact's own fields, tags (joined with "; "), times, then one column per
//! custom field (headed by its key) and one per channel (the contact's identifier there).
//! The headers are ones the importer recognises, so an export imports back.

use std::time::Instant;

use bytes::Bytes;
use entity::{Role, channel, contact, contact_field};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
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

enum WriteError {
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

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

async fn send(sender: &Sender, writer: csv::Writer<Vec<u8>>) -> Result<(), WriteError> {
    let bytes =
        writer.into_inner().map_err(|err| WriteError::Failed(ServiceError::internal(anyhow::anyhow!("{err}"))))?;
    sender.send(Ok(Bytes::from(bytes))).await.map_err(|_| WriteError::ClientGone)
}

fn csv_error(err: csv::Error) -> WriteError {
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
    let mut rows = 0;
    let mut after = 0i64;
    loop {
        let page = scope
            .select::<contact::Entity>()
            .filter(condition.clone())
            .filter(contact::Column::Id.gt(after))
            .order_by_asc(contact::Column::Id)
            .limit(CHUNK)
            .all(&app.db)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        let ids: Vec<i64> = page.iter().map(|c| c.id).collect();
        let mut tags_of = tags::tags_of_contacts(&app.db, scope.workspace_id, &ids).await?;
        let mut identifiers_of = if channels.is_empty() {
            Default::default()
        } else {
            contacts::identifiers_of_contacts(&app.db, scope.workspace_id, &ids).await?
        };
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(page.len() * 160));
        let mut record: Vec<String> = Vec::with_capacity(header.len());
        for contact in &page {
            record.clear();
            let tags = tags_of.remove(&contact.id).unwrap_or_default();
            let identifiers = identifiers_of.remove(&contact.id).unwrap_or_default();
            record.push(contact.id.to_string());
            record.push(contact.first_name.clone().unwrap_or_default());
            record.push(contact.last_name.clone().unwrap_or_default());
            record.push(contact.phone.clone().unwrap_or_default());
            record.push(contact.email.clone().unwrap_or_default());
            record.push(contact.language.clone().unwrap_or_default());
            record.push(tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join("; "));
            record.push(contact.created_at.to_rfc3339());
            record.push(contact.updated_at.to_rfc3339());
            record.push(contact.last_interaction_at.map(|t| t.to_rfc3339()).unwrap_or_default());
            record.push(contact.last_interacted_channel_id.map(|id| id.to_string()).unwrap_or_default());
            for field in fields {
                record.push(match contact.custom_fields.get(&field.key) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                });
            }
            for channel in channels {
                let identifier = identifiers.iter().find(|(_, c)| c.id == channel.id);
                record.push(identifier.map(|(i, _)| i.identifier.clone()).unwrap_or_default());
            }
            writer.write_record(&record).map_err(csv_error)?;
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
