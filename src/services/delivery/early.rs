//! Statuses that arrive before Pregón knows which message they are about.
//!
//! A provider names a message by its own id, which Pregón learns from the provider's answer to
//! the send. Providers often post DELIVERED (even READ) before that answer has reached Pregón:
//! their callback is fast, the HTTP answer slow. Such a status is held in `early_statuses` and
//! applied when a message on the channel gets that id ([`claim`], called by
//! `delivery::record` after every batch that records provider ids).
//!
//! The two sides race: the callback may look for the message just before the acceptance
//! commits, and the acceptance may look for held statuses just before the callback's row
//! commits. Each side therefore writes first and looks second ([`hold`] looks again after
//! its insert has committed), so at least one of them sees the other; a held row is taken
//! with `DELETE … RETURNING`, so only one applies it (and applying a status twice changes
//! nothing anyway: statuses only move forward).

use std::collections::HashMap;

use chrono::{Duration, Utc};
use entity::{MessageDirection, early_status, message};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::ingest::{PROVIDER_FAILED, reported_update};
use super::{Named, Update};
use crate::app::App;
use crate::channels::adapter::StatusReport;
use crate::error::ServiceResult;

/// A held status nothing claimed within this long names a message this database never sent
/// (another system sharing the provider account, a message sent from the provider's console).
pub const HOLD_HOURS: i64 = 24;

/// Holds `reports` (each with a provider id that matched no message), then looks once more for
/// their messages: the updates for those found meanwhile (their held rows are taken back).
pub async fn hold(app: &App, reports: Vec<StatusReport>) -> ServiceResult<Vec<(i64, Update)>> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let rows = reports.iter().filter_map(|report| {
        Some(early_status::ActiveModel {
            channel_id: Set(report.channel_id),
            provider_message_id: Set(report.provider_message_id.clone()?),
            status: Set(report.status),
            error_code: Set(report.error.as_ref().map(|(code, _)| code.clone())),
            error_text: Set(report.error.as_ref().map(|(_, text)| text.clone())),
            received_at: Set(now),
            ..Default::default()
        })
    });
    early_status::Entity::insert_many(rows).exec_without_returning(&app.db).await?;
    let mut by_channel: HashMap<i64, Vec<String>> = HashMap::new();
    for report in &reports {
        if let Some(id) = &report.provider_message_id {
            by_channel.entry(report.channel_id).or_default().push(id.clone());
        }
    }
    let mut named = Vec::new();
    for (channel_id, provider_ids) in by_channel {
        let found: Vec<(i64, Option<String>)> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .column(message::Column::ProviderMessageId)
            .filter(message::Column::ChannelId.eq(channel_id))
            .filter(message::Column::Direction.eq(MessageDirection::Outgoing))
            .filter(message::Column::ProviderMessageId.is_in(provider_ids))
            .into_tuple()
            .all(&app.db)
            .await?;
        named.extend(found.into_iter().filter_map(|(id, pid)| Some((channel_id, pid?, id))));
    }
    claim(app, &named).await
}

/// Takes the held statuses of messages that now carry their provider's id: the updates to
/// apply to them, oldest first.
pub async fn claim(app: &App, named: &[Named]) -> ServiceResult<Vec<(i64, Update)>> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_channel: HashMap<i64, HashMap<&str, i64>> = HashMap::new();
    for (channel_id, provider_id, message_id) in named {
        by_channel.entry(*channel_id).or_default().insert(provider_id.as_str(), *message_id);
    }
    let mut updates = Vec::new();
    for (channel_id, ids) in by_channel {
        let keys: Vec<String> = ids.keys().map(|id| (*id).to_owned()).collect();
        for chunk in keys.chunks(500) {
            let mut taken = early_status::Entity::delete_many()
                .filter(early_status::Column::ChannelId.eq(channel_id))
                .filter(early_status::Column::ProviderMessageId.is_in(chunk.iter().cloned()))
                .exec_with_returning(&app.db)
                .await?;
            taken.sort_by_key(|row| row.id);
            for row in taken {
                let Some(message_id) = ids.get(row.provider_message_id.as_str()) else { continue };
                if let Some(update) = update_of(row) {
                    updates.push((*message_id, update));
                }
            }
        }
    }
    Ok(updates)
}

/// Removes held statuses nothing claimed within [`HOLD_HOURS`]; how many.
pub async fn sweep(app: &App) -> ServiceResult<u64> {
    let cutoff = Utc::now() - Duration::hours(HOLD_HOURS);
    let result =
        early_status::Entity::delete_many().filter(early_status::Column::ReceivedAt.lt(cutoff)).exec(&app.db).await?;
    Ok(result.rows_affected)
}

/// The update a held status makes, as it would have made on arrival (a held failure is final).
fn update_of(row: early_status::Model) -> Option<Update> {
    let error = match (row.error_code, row.error_text) {
        (None, None) => None,
        (code, text) => {
            Some((code.unwrap_or_else(|| PROVIDER_FAILED.0.into()), text.unwrap_or_else(|| PROVIDER_FAILED.1.into())))
        }
    };
    reported_update(&StatusReport {
        channel_id: row.channel_id,
        message_id: None,
        provider_message_id: Some(row.provider_message_id),
        status: row.status,
        at: row.received_at,
        error,
        retryable: false,
    })
}
