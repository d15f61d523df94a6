//! The data export of messages (seeds 000 and 001, "Exportación de datos"): the failed-message
//! log, or the incoming or outgoing messages of a period, as CSV, streamed with no row cap.
//!
//! Columns, as the seed lists them for failed messages: date and time, sender ID, sender type,
//! contact ID, message ID, content type, content, channel ID, type, subtype, error. Outgoing
//! and incoming exports add the status and the delivered and read times. "Contact ID" is the
//! header the importer reads, so a failed-message export imports back ("Update only, by
//! contact ID") to tag the contacts to resend to.

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{MessageDirection, Role, message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::app::AppState;
use crate::auth::Scope;
use crate::channels::MessageContent;
use crate::error::ServiceResult;
use crate::services::exports::{WriteError, csv_error, send};
use crate::services::reports::{self, ListKind, Period, ReportFilter};

/// Messages read per query.
const CHUNK: u64 = 2000;

/// Checks that the caller may export messages; done before the response starts.
pub fn authorize(scope: &Scope) -> ServiceResult<()> {
    scope.require(Role::Manager, "Exporting messages")
}

/// The CSV header of a list's export.
pub fn header(kind: ListKind) -> Vec<&'static str> {
    let mut header = vec![
        "Date and time",
        "Sender ID",
        "Sender type",
        "Contact ID",
        "Message ID",
        "Content type",
        "Content",
        "Channel ID",
        "Type",
        "Subtype",
        "Error",
    ];
    if kind != ListKind::Failed {
        header.extend(["Status", "Delivered at", "Read at"]);
    }
    header
}

/// Starts exporting a list; the CSV arrives on the stream. A failure midway ends the stream
/// with an error, so the client sees a broken transfer, never a silently short file.
pub fn export_messages(
    app: AppState,
    scope: Scope,
    period: Period,
    filter: ReportFilter,
    kind: ListKind,
) -> ServiceResult<ReceiverStream<Result<Bytes, std::io::Error>>> {
    authorize(&scope)?;
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        let started = Instant::now();
        match write_all(&app, &scope, &period, &filter, kind, &sender).await {
            Ok(rows) => tracing::info!(
                workspace = scope.workspace_id,
                rows,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "messages exported"
            ),
            Err(WriteError::ClientGone) => {
                tracing::info!(workspace = scope.workspace_id, "message export abandoned by the client")
            }
            Err(WriteError::Failed(err)) => {
                tracing::error!(workspace = scope.workspace_id, error = %err, "message export failed midway");
                let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    });
    Ok(ReceiverStream::new(receiver))
}

async fn write_all(
    app: &AppState,
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
    sender: &crate::services::exports::Sender,
) -> Result<u64, WriteError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header(kind)).map_err(csv_error)?;
    send(sender, writer).await?;
    let mut after: Option<(DateTime<Utc>, i64)> = None;
    let mut rows = 0;
    loop {
        let chunk = reports::list_chunk(app, scope, period, filter, kind, after, CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        after = Some((reports::list_timestamp(kind, last), last.id));
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(chunk.len() * 160));
        for row in &chunk {
            let cells = record(kind, row).into_iter().map(|text| match crate::services::exports::cell(&text) {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(neutralised) => neutralised,
            });
            writer.write_record(cells).map_err(csv_error)?;
        }
        rows += chunk.len() as u64;
        send(sender, writer).await?;
    }
    Ok(rows)
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)).unwrap_or_default()
}

fn id(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One CSV row.
fn record(kind: ListKind, row: &message::Model) -> Vec<String> {
    let content: MessageContent = serde_json::from_value(row.content.clone()).unwrap_or_default();
    let (content_type, text) = match &content.template {
        Some(_) => ("template", content.preview()),
        None => ("text", content.text.clone().unwrap_or_default()),
    };
    let sender_type = match (row.direction, row.source) {
        (MessageDirection::Incoming, _) => "CONTACT".to_owned(),
        (_, Some(source)) => sea_orm::ActiveEnum::to_value(&source),
        (_, None) => String::new(),
    };
    let error = match (&row.error_code, &row.error_text) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.clone(),
        (None, Some(text)) => text.clone(),
        (None, None) => String::new(),
    };
    let mut record = vec![
        time(Some(reports::list_timestamp(kind, row))),
        id(row.sent_by_user_id),
        sender_type,
        id(row.contact_id),
        row.id.to_string(),
        content_type.to_owned(),
        text,
        id(row.channel_id),
        row.message_type.map(|t| sea_orm::ActiveEnum::to_value(&t)).unwrap_or_default(),
        row.subtype.clone().unwrap_or_default(),
        error,
    ];
    if kind != ListKind::Failed {
        record.push(sea_orm::ActiveEnum::to_value(&row.status));
        record.push(time(row.delivered_at));
        record.push(time(row.read_at));
    }
    record
}
