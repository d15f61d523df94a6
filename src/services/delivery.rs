//! Delivery statuses: the one place where a message's status changes, whoever reports it (the
//! dispatcher, a provider's webhook, the sandbox), and where inbound messages are recorded.
//!
//! - this file: the pure `transition` and `record`, which writes changes with their counters;
//! - `ingest`: everything a provider's callback says, applied in batches (group commit);
//! - `inbound`: messages contacts send, matched to the contact they come from;
//! - `early`: statuses that arrive before the provider's answer to the send named the message.
//!
//! Rules (DESIGN.md, seed 003): statuses only move forward (QUEUED → SENDING → SENT →
//! DELIVERED → READ); FAILED is final and can only follow QUEUED, SENDING or SENT; a later
//! status fills the earlier timestamps it implies (a READ is also delivered and sent); nothing
//! changes more than 30 days after sending. Every change updates the broadcast's counters in the
//! same transaction, so they always equal counts over the message rows:
//! `sent = sent_at set`, `delivered = delivered_at set`, `read = read_at set`,
//! `failed = status FAILED`, `replied = replied_at set`, `completed_recipients = messages no
//! longer QUEUED or SENDING`. Each update is guarded by the status it was computed from; one
//! that lost a race is recomputed from the row as it now is.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{BroadcastStatus, DeliveryStatus, broadcast, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::app::App;
use crate::error::ServiceResult;
use crate::events::{ChangeAction, MessageStatusEvent};

mod early;
pub mod inbound;
pub mod ingest;

pub use ingest::{IngestSummary, Ingestor, apply_reports, ingest};

/// Statuses are tracked for this long after sending (seed 004).
pub const TRACKING_DAYS: i64 = 30;

/// A reply within this long of a broadcast message counts as a reply to it.
pub const REPLY_WINDOW_HOURS: i64 = 24;

/// What a status change depends on, read from a message row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub id: i64,
    pub workspace_id: i64,
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub status: DeliveryStatus,
    pub provider_message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&message::Model> for Tracked {
    fn from(m: &message::Model) -> Tracked {
        Tracked {
            id: m.id,
            workspace_id: m.workspace_id,
            broadcast_id: m.broadcast_id,
            contact_id: m.contact_id,
            channel_id: m.channel_id,
            status: m.status,
            provider_message_id: m.provider_message_id.clone(),
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            created_at: m.created_at,
        }
    }
}

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The provider accepted it (SENT). `at` is when the request that it accepted went out
    /// (or the time the provider reports): the message's `sentAt`. It is never later than the
    /// provider's own time of receipt, which its watermarks (Messenger) are compared with.
    Accepted { provider_message_id: Option<String>, at: DateTime<Utc> },
    /// Reported DELIVERED.
    Delivered,
    /// Reported READ.
    Read,
    /// Failed for good, with the provider's (or our) code and text.
    Failed { code: String, text: String },
    /// A transient failure: back to QUEUED until `at` (only from SENDING).
    Retry { at: DateTime<Utc>, code: String, text: String },
    /// The provider accepted it, then reported a temporary failure (a throughput limit): send
    /// it again at `at`. SENT → QUEUED, no longer counted as sent nor completed; from SENDING
    /// it is a plain retry.
    Requeue { at: DateTime<Utc>, code: String, text: String },
}

/// Counter changes of one broadcast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deltas {
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub completed: i64,
}

impl Deltas {
    fn add(&mut self, other: Deltas) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.read += other.read;
        self.failed += other.failed;
        self.completed += other.completed;
    }

    fn is_zero(&self) -> bool {
        *self == Deltas::default()
    }
}

/// One computed change to one message row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub message: Tracked,
    pub to: DeliveryStatus,
    pub set_sent: bool,
    /// The send time written with `set_sent`.
    pub sent_at: DateTime<Utc>,
    pub set_delivered: bool,
    pub set_read: bool,
    pub provider_message_id: Option<String>,
    pub error: Option<(String, String)>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// SENT → QUEUED for another attempt: the send time and the provider's id are cleared.
    pub requeue: bool,
    pub deltas: Deltas,
}

fn rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Queued => 0,
        DeliveryStatus::Sending => 1,
        DeliveryStatus::Sent => 2,
        DeliveryStatus::Delivered => 3,
        DeliveryStatus::Read => 4,
        DeliveryStatus::Failed => 5,
    }
}

impl Tracked {
    /// The row as it is once `change` is written.
    fn after(&self, change: &Change, now: DateTime<Utc>) -> Tracked {
        let mut next = self.clone();
        next.status = change.to;
        if change.set_sent {
            next.sent_at = Some(change.sent_at);
        }
        if change.set_delivered {
            next.delivered_at = Some(now);
        }
        if change.set_read {
            next.read_at = Some(now);
        }
        if change.provider_message_id.is_some() {
            next.provider_message_id.clone_from(&change.provider_message_id);
        }
        if change.requeue {
            next.sent_at = None;
            next.provider_message_id = None;
        }
        next
    }
}

/// The change `update` makes to `message` at `now`; `None` when it changes nothing (a status
/// that would move backwards, anything after FAILED, anything after the tracking period).
///
/// One exception to "never backwards": the provider's answer to the send can arrive after its
/// own DELIVERED or READ callback (the callback named our id). The acceptance then changes no
/// status but records the provider's message id, which later statuses are looked up by.
pub fn transition(message: &Tracked, update: &Update, now: DateTime<Utc>) -> Option<Change> {
    let current = rank(message.status);
    let base = Change {
        message: message.clone(),
        to: message.status,
        set_sent: false,
        sent_at: now,
        set_delivered: false,
        set_read: false,
        provider_message_id: None,
        error: None,
        next_attempt_at: None,
        requeue: false,
        deltas: Deltas::default(),
    };
    if let Update::Accepted { provider_message_id: Some(id), .. } = update
        && current >= 2
        && message.provider_message_id.is_none()
    {
        return Some(Change { provider_message_id: Some(id.clone()), ..base });
    }
    if message.status == DeliveryStatus::Failed {
        return None;
    }
    let attempted = current <= 1;
    let tracked_since = message.sent_at.unwrap_or(message.created_at);
    let past_tracking = now - tracked_since > Duration::days(TRACKING_DAYS);
    let forward = |to: DeliveryStatus, provider_message_id: Option<String>, sent_at: DateTime<Utc>| {
        let target = rank(to);
        if target <= current {
            return None;
        }
        let set_sent = message.sent_at.is_none();
        let set_delivered = target >= 3 && message.delivered_at.is_none();
        let set_read = target >= 4 && message.read_at.is_none();
        Some(Change {
            to,
            set_sent,
            sent_at: std::cmp::min(sent_at, now),
            set_delivered,
            set_read,
            provider_message_id,
            deltas: Deltas {
                sent: set_sent as i64,
                delivered: set_delivered as i64,
                read: set_read as i64,
                failed: 0,
                completed: attempted as i64,
            },
            ..base.clone()
        })
    };
    match update {
        Update::Accepted { provider_message_id, at } => forward(DeliveryStatus::Sent, provider_message_id.clone(), *at),
        Update::Delivered if !past_tracking => forward(DeliveryStatus::Delivered, None, now),
        Update::Read if !past_tracking => forward(DeliveryStatus::Read, None, now),
        Update::Delivered | Update::Read => None,
        Update::Failed { code, text } => {
            if current > 2 || (current == 2 && past_tracking) {
                return None;
            }
            Some(Change {
                to: DeliveryStatus::Failed,
                error: Some((code.clone(), text.clone())),
                deltas: Deltas { failed: 1, completed: attempted as i64, ..Deltas::default() },
                ..base
            })
        }
        Update::Retry { at, code, text } => (message.status == DeliveryStatus::Sending).then(|| Change {
            to: DeliveryStatus::Queued,
            error: Some((code.clone(), text.clone())),
            next_attempt_at: Some(*at),
            ..base
        }),
        Update::Requeue { at, code, text } => match message.status {
            DeliveryStatus::Sending => {
                transition(message, &Update::Retry { at: *at, code: code.clone(), text: text.clone() }, now)
            }
            DeliveryStatus::Sent if !past_tracking => Some(Change {
                to: DeliveryStatus::Queued,
                error: Some((code.clone(), text.clone())),
                next_attempt_at: Some(*at),
                requeue: true,
                deltas: Deltas { sent: -i64::from(message.sent_at.is_some()), completed: -1, ..Deltas::default() },
                ..base
            }),
            _ => None,
        },
    }
}

/// Applies `updates` to the messages they name, given the rows as last read (`known`), and
/// publishes what changed. Rows not in `known` are read first; an update that lost a race is
/// recomputed from the row as it now is.
pub async fn record(app: &App, mut known: Vec<Tracked>, updates: Vec<(i64, Update)>) -> ServiceResult<()> {
    let mut pending = updates;
    for _round in 0..5 {
        if pending.is_empty() {
            return Ok(());
        }
        let have: std::collections::HashSet<i64> = known.iter().map(|t| t.id).collect();
        let missing: Vec<i64> = pending.iter().map(|(id, _)| *id).filter(|id| !have.contains(id)).collect();
        if !missing.is_empty() {
            known.extend(load_tracked(&app.db, &missing).await?);
        }
        let mut by_id: HashMap<i64, Tracked> = known.drain(..).map(|t| (t.id, t)).collect();
        let now = Utc::now();
        let mut changes = Vec::with_capacity(pending.len());
        let mut retry_updates = Vec::new();
        // Several updates of one message in one batch (DELIVERED and READ posted together)
        // apply in order, each from the row as the one before leaves it.
        for (id, update) in pending.drain(..) {
            let Some(message) = by_id.get_mut(&id) else { continue };
            if let Some(change) = transition(message, &update, now) {
                *message = message.after(&change, now);
                changes.push((change, update));
            }
        }
        let (raced, named) = apply(app, changes, now).await?;
        for (change, update) in raced {
            retry_updates.push((change.message.id, update));
        }
        // Statuses that came before the provider's id was known apply now.
        retry_updates.extend(early::claim(app, &named).await?);
        pending = retry_updates;
    }
    if !pending.is_empty() {
        tracing::warn!(messages = pending.len(), "status updates kept losing races; dropped");
    }
    Ok(())
}

async fn load_tracked(conn: &impl ConnectionTrait, ids: &[i64]) -> ServiceResult<Vec<Tracked>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let found = message::Entity::find().filter(message::Column::Id.is_in(chunk.iter().copied())).all(conn).await?;
        rows.extend(found.iter().map(Tracked::from));
    }
    Ok(rows)
}

/// A message that now carries its provider's id: (channel, provider message id, message id).
pub(crate) type Named = (i64, String, i64);

/// Writes `changes` in one transaction with the counters they move; returns those whose row
/// had changed meanwhile (not applied), and the messages that got their provider's id.
async fn apply(
    app: &App,
    changes: Vec<(Change, Update)>,
    now: DateTime<Utc>,
) -> ServiceResult<(Vec<(Change, Update)>, Vec<Named>)> {
    if changes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let mut raced = Vec::new();
    let mut applied = Vec::with_capacity(changes.len());
    // By broadcast id, so that concurrent transactions lock counter rows in the same order.
    let mut deltas: std::collections::BTreeMap<i64, Deltas> = Default::default();
    let mut count = |change: &Change| {
        if let Some(broadcast_id) = change.message.broadcast_id
            && !change.deltas.is_zero()
        {
            deltas.entry(broadcast_id).or_default().add(change.deltas);
        }
    };
    // Forward moves (SENT, DELIVERED, READ: the dispatcher's acceptances and most callbacks)
    // are written a few hundred to a statement; failures, retries and requeues one by one.
    // A message changed twice in one batch is written in two rounds, in order.
    for round in rounds(changes) {
        let (forward, single): (Vec<_>, Vec<_>) = round.into_iter().partition(|(change, _)| is_forward(change));
        for chunk in forward.chunks(BULK_ROWS) {
            let done = write_forward(&txn, chunk, now).await?;
            for (change, update) in chunk {
                if done.contains(&change.message.id) {
                    count(change);
                    applied.push(change.clone());
                } else {
                    raced.push((change.clone(), update.clone()));
                }
            }
        }
        for (change, update) in single {
            if write_one(&txn, &change, now).await? {
                count(&change);
                applied.push(change);
            } else {
                raced.push((change, update));
            }
        }
    }
    let mut broadcasts = Vec::with_capacity(deltas.len());
    let mut completed = Vec::new();
    for (broadcast_id, d) in deltas {
        let updated = bump_counters(&txn, broadcast_id, d, now).await?;
        for model in updated {
            if model.status == BroadcastStatus::Running
                && model.completed_recipients >= model.total_messages
                && let Some(done) = complete_broadcast(&txn, model.id, now).await?
            {
                completed.push(done);
                continue;
            }
            // A message of a completed broadcast went back to the queue (the provider asked
            // for it to be sent again): the broadcast is running again until it is sent.
            if model.status == BroadcastStatus::Completed
                && model.completed_recipients < model.total_messages
                && let Some(reopened) = reopen_broadcast(&txn, model.id, now).await?
            {
                completed.push(reopened);
                continue;
            }
            broadcasts.push(model);
        }
    }
    txn.commit().await?;
    if applied.iter().any(|change| change.requeue) {
        app.wake_dispatcher();
    }
    let named = applied
        .iter()
        .filter_map(|change| {
            let channel_id = change.message.channel_id?;
            let provider_id = change.provider_message_id.clone()?;
            Some((channel_id, provider_id, change.message.id))
        })
        .collect();
    for change in applied.iter().filter(|change| change.to != change.message.status) {
        app.events.publish_message(MessageStatusEvent {
            workspace_id: change.message.workspace_id,
            message_id: change.message.id,
            broadcast_id: change.message.broadcast_id,
            contact_id: change.message.contact_id,
            status: change.to,
            error_code: change.error.as_ref().map(|(code, _)| code.clone()),
            at: now,
        });
    }
    for model in &broadcasts {
        app.progress.publish(model);
    }
    for model in &completed {
        crate::services::broadcasts::announce(app, model, ChangeAction::Updated);
    }
    Ok((raced, named))
}

/// Writes one change with everything it records (errors, retries, requeues), guarded by the
/// status it was computed from; whether it was written.
async fn write_one(txn: &DatabaseTransaction, change: &Change, now: DateTime<Utc>) -> ServiceResult<bool> {
    let mut statement = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::val(change.to))
        .col_expr(message::Column::UpdatedAt, Expr::val(now))
        .filter(message::Column::Id.eq(change.message.id))
        .filter(message::Column::Status.eq(change.message.status));
    if change.set_sent {
        statement = statement.col_expr(message::Column::SentAt, Expr::val(change.sent_at));
    }
    if change.set_delivered {
        statement = statement.col_expr(message::Column::DeliveredAt, Expr::val(now));
    }
    if change.set_read {
        statement = statement.col_expr(message::Column::ReadAt, Expr::val(now));
    }
    if let Some(id) = &change.provider_message_id {
        statement = statement.col_expr(message::Column::ProviderMessageId, Expr::val(id.as_str()));
    }
    if change.requeue {
        statement = statement
            .col_expr(message::Column::SentAt, Expr::val(None::<DateTime<Utc>>))
            .col_expr(message::Column::ProviderMessageId, Expr::val(None::<String>));
    }
    match (&change.error, change.to) {
        (Some((code, text)), status) => {
            statement = statement
                .col_expr(message::Column::ErrorCode, Expr::val(code.as_str()))
                .col_expr(message::Column::ErrorText, Expr::val(text.as_str()));
            if status == DeliveryStatus::Failed {
                statement = statement
                    .col_expr(message::Column::FailedAt, Expr::val(now))
                    .col_expr(message::Column::NextAttemptAt, Expr::val(None::<DateTime<Utc>>));
            }
        }
        (None, DeliveryStatus::Sent) => {
            // Accepted after earlier transient errors: the last error no longer applies.
            statement = statement
                .col_expr(message::Column::ErrorCode, Expr::val(None::<String>))
                .col_expr(message::Column::ErrorText, Expr::val(None::<String>))
                .col_expr(message::Column::NextAttemptAt, Expr::val(None::<DateTime<Utc>>));
        }
        _ => {}
    }
    if let Some(at) = change.next_attempt_at {
        statement = statement.col_expr(message::Column::NextAttemptAt, Expr::val(at));
    }
    Ok(statement.exec(txn).await?.rows_affected > 0)
}

/// Most rows in one bulk statement (9 values each, well within both engines' parameter limits).
const BULK_ROWS: usize = 500;

/// A move forward with nothing else to record: written in bulk by [`write_forward`].
fn is_forward(change: &Change) -> bool {
    change.error.is_none() && change.next_attempt_at.is_none() && !change.requeue && change.to != DeliveryStatus::Queued
}

/// Groups changes so that each message appears once per group, in their order.
fn rounds(changes: Vec<(Change, Update)>) -> Vec<Vec<(Change, Update)>> {
    let mut rounds: Vec<Vec<(Change, Update)>> = Vec::new();
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for (change, update) in changes {
        let round = seen.entry(change.message.id).and_modify(|n| *n += 1).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push((change, update));
    }
    rounds
}

/// Writes forward moves in one statement, each guarded by the status it was computed from;
/// the ids written. The same SQL on both engines (`UPDATE … FROM` a `VALUES` list).
async fn write_forward(
    txn: &DatabaseTransaction,
    changes: &[(Change, Update)],
    now: DateTime<Utc>,
) -> ServiceResult<std::collections::HashSet<i64>> {
    if changes.is_empty() {
        return Ok(Default::default());
    }
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(changes.len() * 8 + 1);
    for (change, _) in changes {
        values.push(change.message.id.into());
        values.push(change.message.status.to_value().into());
        values.push(change.to.to_value().into());
        values.push(change.set_sent.then_some(change.sent_at).into());
        values.push(change.set_delivered.then_some(now).into());
        values.push(change.set_read.then_some(now).into());
        values.push(change.provider_message_id.clone().into());
        // Accepted after earlier transient errors: the last error no longer applies.
        values.push(i32::from(change.to == DeliveryStatus::Sent).into());
    }
    values.push(now.into());
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; changes.len()].join(", ");
    let sql = format!(
        "WITH v (id, from_status, to_status, sent_at, delivered_at, read_at, pid, clear) AS (VALUES {rows}) \
         UPDATE messages SET status = v.to_status, \
         sent_at = COALESCE(messages.sent_at, v.sent_at), \
         delivered_at = COALESCE(messages.delivered_at, v.delivered_at), \
         read_at = COALESCE(messages.read_at, v.read_at), \
         provider_message_id = COALESCE(v.pid, messages.provider_message_id), \
         error_code = CASE WHEN v.clear = 1 THEN NULL ELSE messages.error_code END, \
         error_text = CASE WHEN v.clear = 1 THEN NULL ELSE messages.error_text END, \
         next_attempt_at = CASE WHEN v.clear = 1 THEN NULL ELSE messages.next_attempt_at END, \
         updated_at = ? \
         FROM v WHERE messages.id = v.id AND messages.status = v.from_status RETURNING messages.id"
    );
    let statement = crate::db::portable(txn.get_database_backend(), &sql, values);
    let mut done = std::collections::HashSet::with_capacity(changes.len());
    for row in txn.query_all_raw(statement).await? {
        done.insert(row.try_get_by_index::<i64>(0)?);
    }
    Ok(done)
}

/// Adds `d` to a broadcast's counters; the updated row.
async fn bump_counters(
    conn: &impl ConnectionTrait,
    broadcast_id: i64,
    d: Deltas,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<broadcast::Model>> {
    let add = |column: broadcast::Column, by: i64| Expr::col(column).add(by);
    Ok(broadcast::Entity::update_many()
        .col_expr(broadcast::Column::SentCount, add(broadcast::Column::SentCount, d.sent))
        .col_expr(broadcast::Column::DeliveredCount, add(broadcast::Column::DeliveredCount, d.delivered))
        .col_expr(broadcast::Column::ReadCount, add(broadcast::Column::ReadCount, d.read))
        .col_expr(broadcast::Column::FailedCount, add(broadcast::Column::FailedCount, d.failed))
        .col_expr(broadcast::Column::CompletedRecipients, add(broadcast::Column::CompletedRecipients, d.completed))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .exec_with_returning(conn)
        .await?)
}

/// COMPLETED → RUNNING when a message went back to the queue; the row if this call reopened it.
async fn reopen_broadcast(
    conn: &impl ConnectionTrait,
    broadcast_id: i64,
    now: DateTime<Utc>,
) -> ServiceResult<Option<broadcast::Model>> {
    Ok(broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Running))
        .col_expr(broadcast::Column::CompletedAt, Expr::val(None::<DateTime<Utc>>))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Completed))
        .exec_with_returning(conn)
        .await?
        .pop())
}

/// RUNNING → COMPLETED once every message is attempted; the row if this call completed it.
pub async fn complete_broadcast(
    conn: &impl ConnectionTrait,
    broadcast_id: i64,
    now: DateTime<Utc>,
) -> ServiceResult<Option<broadcast::Model>> {
    Ok(broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Completed))
        .col_expr(broadcast::Column::CompletedAt, Expr::val(now))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Running))
        .filter(Expr::col(broadcast::Column::CompletedRecipients).gte(Expr::col(broadcast::Column::TotalMessages)))
        .exec_with_returning(conn)
        .await?
        .pop())
}

/// Marks `address` unreachable on the channel (the provider says the contact blocked it or
/// unsubscribed); it is reachable again when the contact next writes.
pub async fn mark_unreachable(app: &App, channel_id: i64, address: &str) -> ServiceResult<()> {
    inbound::set_reachable_address(&app.db, channel_id, address, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(status: DeliveryStatus) -> Tracked {
        let now = Utc::now();
        Tracked {
            id: 1,
            workspace_id: 1,
            broadcast_id: Some(1),
            contact_id: Some(1),
            channel_id: Some(1),
            status,
            provider_message_id: None,
            sent_at: (rank(status) >= 2 && status != DeliveryStatus::Failed).then_some(now),
            delivered_at: (rank(status) >= 3 && status != DeliveryStatus::Failed).then_some(now),
            read_at: (status == DeliveryStatus::Read).then_some(now),
            created_at: now,
        }
    }

    #[test]
    fn statuses_never_move_backwards() {
        let now = Utc::now();
        assert!(transition(&tracked(DeliveryStatus::Read), &Update::Delivered, now).is_none());
        assert!(transition(&tracked(DeliveryStatus::Delivered), &Update::Delivered, now).is_none());
        let failed = Update::Failed { code: "x".into(), text: "y".into() };
        assert!(transition(&tracked(DeliveryStatus::Delivered), &failed, now).is_none());
        assert!(transition(&tracked(DeliveryStatus::Failed), &Update::Read, now).is_none());
    }

    #[test]
    fn a_read_fills_in_sent_and_delivered_and_counts_each_once() {
        let change = transition(&tracked(DeliveryStatus::Sending), &Update::Read, Utc::now()).unwrap();
        assert_eq!(change.to, DeliveryStatus::Read);
        assert_eq!(change.deltas, Deltas { sent: 1, delivered: 1, read: 1, failed: 0, completed: 1 });
        let change = transition(&tracked(DeliveryStatus::Delivered), &Update::Read, Utc::now()).unwrap();
        assert_eq!(change.deltas, Deltas { read: 1, ..Deltas::default() });
    }

    #[test]
    fn retries_only_come_back_from_sending() {
        let retry = Update::Retry { at: Utc::now(), code: "HTTP_500".into(), text: "x".into() };
        let change = transition(&tracked(DeliveryStatus::Sending), &retry, Utc::now()).unwrap();
        assert_eq!((change.to, change.deltas), (DeliveryStatus::Queued, Deltas::default()));
        assert!(transition(&tracked(DeliveryStatus::Sent), &retry, Utc::now()).is_none());
    }

    #[test]
    fn tracking_stops_after_thirty_days() {
        let mut message = tracked(DeliveryStatus::Sent);
        message.sent_at = Some(Utc::now() - Duration::days(31));
        assert!(transition(&message, &Update::Delivered, Utc::now()).is_none());
    }

    #[test]
    fn an_answer_that_comes_after_its_own_delivery_still_records_the_provider_id() {
        let accepted = Update::Accepted { provider_message_id: Some("wamid.1".into()), at: Utc::now() };
        let change = transition(&tracked(DeliveryStatus::Delivered), &accepted, Utc::now()).unwrap();
        assert_eq!(change.to, DeliveryStatus::Delivered);
        assert_eq!(change.provider_message_id.as_deref(), Some("wamid.1"));
        assert_eq!(change.deltas, Deltas::default());
        let mut known = tracked(DeliveryStatus::Read);
        known.provider_message_id = Some("wamid.1".into());
        assert!(transition(&known, &accepted, Utc::now()).is_none(), "an id is recorded once");
        let failed = tracked(DeliveryStatus::Failed);
        assert!(transition(&failed, &accepted, Utc::now()).is_some_and(|c| c.to == DeliveryStatus::Failed));
    }

    #[test]
    fn updates_of_one_message_in_one_batch_apply_in_order() {
        let now = Utc::now();
        let sending = tracked(DeliveryStatus::Sending);
        let delivered = transition(&sending, &Update::Delivered, now).unwrap();
        let after = sending.after(&delivered, now);
        let read = transition(&after, &Update::Read, now).unwrap();
        assert_eq!(read.message.status, DeliveryStatus::Delivered, "guarded by the status the first leaves");
        assert_eq!(read.deltas, Deltas { read: 1, ..Deltas::default() });
    }
}
