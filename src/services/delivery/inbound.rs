//! Messages contacts send to the workspace, and recipients a provider says can (or can no
//! longer) be reached.
//!
//! An inbound message is matched to its contact in this order: the channel's identifier (a
//! conversation already known on this channel), then a contact of the workspace with that phone
//! number (phone channels) or email address (email channels) that has no other identifier on
//! the channel, the oldest first. The identifier is then linked to that contact, so an imported
//! contact who answers a broadcast opens their messaging window, counts as a reply and stays one
//! contact. A custom channel's identifier that is a phone number in international format or an
//! email address is matched the same way. Only when nothing matches is a contact created.
//!
//! A provider message id is stored once per channel: a redelivered callback (same id) changes
//! nothing. A message within 24 hours of a broadcast message to the same contact counts as a
//! reply to it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{DeliveryStatus, MessageDirection, broadcast, channel, contact, contact_channel, message, workspace};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect,
};

use crate::app::App;
use crate::channels::webhook::Inbound;
use crate::channels::{IdentifierKind, capabilities};
use crate::error::ServiceResult;
use crate::events::{ChangeAction, Event};
use crate::normalize;

/// A reply within this long of a broadcast message counts as a reply to it.
pub const REPLY_WINDOW_HOURS: i64 = 24;

/// What became of one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored, from this contact.
    Stored { contact_id: i64 },
    /// A redelivery of a message already stored.
    Duplicate,
    /// The sender's identifier is not valid for the channel (logged and skipped).
    Invalid,
}

/// Everything a batch of callbacks says that changes contacts and inbound messages.
#[derive(Default)]
pub struct Batch<'a> {
    /// (channel, message) in the order received.
    pub messages: Vec<(&'a channel::Model, &'a Inbound)>,
    /// (channel, identifier) the provider says can no longer be reached.
    pub unreachable: Vec<(&'a channel::Model, &'a str)>,
    /// (channel, identifier) the provider says can be reached again.
    pub reachable: Vec<(&'a channel::Model, &'a str)>,
}

/// Writes `batch` in one transaction; what became of each message, in order.
pub async fn record_batch(app: &App, batch: &Batch<'_>) -> ServiceResult<Vec<Received>> {
    if batch.messages.is_empty() && batch.unreachable.is_empty() && batch.reachable.is_empty() {
        return Ok(Vec::new());
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let mut countries: HashMap<i64, Option<String>> = HashMap::new();
    let mut results = Vec::with_capacity(batch.messages.len());
    // Replies counted per broadcast, one counter update each at the end of the batch.
    let mut replied: HashMap<i64, i64> = HashMap::new();
    let mut contacts: Vec<(i64, i64, ChangeAction)> = Vec::new();
    for (channel, address) in &batch.unreachable {
        set_reachable(&txn, channel, address, false).await?;
    }
    for (channel, address) in &batch.reachable {
        set_reachable(&txn, channel, address, true).await?;
    }
    for (channel, inbound) in &batch.messages {
        if let std::collections::hash_map::Entry::Vacant(entry) = countries.entry(channel.workspace_id) {
            let workspace = workspace::Entity::find_by_id(channel.workspace_id).one(&txn).await?;
            entry.insert(workspace.and_then(|workspace| workspace.default_country));
        }
        let country = countries[&channel.workspace_id].as_deref();
        let outcome = record_one(&txn, channel, inbound, country).await?;
        if let Some((contact_id, action, reply)) = outcome.1 {
            contacts.push((channel.workspace_id, contact_id, action));
            if let Some(broadcast_id) = reply {
                *replied.entry(broadcast_id).or_default() += 1;
            }
        }
        results.push(outcome.0);
    }
    let mut counted = Vec::with_capacity(replied.len());
    for (broadcast_id, replies) in replied {
        counted.extend(
            broadcast::Entity::update_many()
                .col_expr(broadcast::Column::RepliedCount, Expr::col(broadcast::Column::RepliedCount).add(replies))
                .col_expr(broadcast::Column::UpdatedAt, Expr::val(Utc::now()))
                .filter(broadcast::Column::Id.eq(broadcast_id))
                .exec_with_returning(&txn)
                .await?,
        );
    }
    txn.commit().await?;
    for model in &counted {
        app.progress.publish(model);
    }
    for (workspace_id, contact_id, action) in contacts {
        app.events.publish(Event::ContactChanged { workspace_id, contact_id, action });
    }
    Ok(results)
}

/// The contact, whether it was created, and the broadcast a reply counts on.
type Stored = Option<(i64, ChangeAction, Option<i64>)>;

async fn record_one(
    txn: &DatabaseTransaction,
    channel: &channel::Model,
    inbound: &Inbound,
    default_country: Option<&str>,
) -> ServiceResult<(Received, Stored)> {
    let kind = capabilities(channel.kind).identifier;
    let Ok(identifier) = kind.normalize(&inbound.from, default_country) else {
        tracing::warn!(
            channel_id = channel.id,
            "inbound message from an identifier not valid for the channel; skipped"
        );
        return Ok((Received::Invalid, None));
    };
    if let Some(provider_id) = &inbound.provider_message_id {
        let stored = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::ChannelId.eq(channel.id))
            .filter(message::Column::Direction.eq(MessageDirection::Incoming))
            .filter(message::Column::ProviderMessageId.eq(provider_id.as_str()))
            .into_tuple::<i64>()
            .one(txn)
            .await?;
        if stored.is_some() {
            return Ok((Received::Duplicate, None));
        }
    }
    let now = Utc::now();
    let at = std::cmp::min(inbound.at, now);
    let (contact_id, action) = match_contact(txn, channel, kind, &identifier, at, now).await?;
    contact::Entity::update_many()
        .col_expr(contact::Column::LastInteractionAt, Expr::val(at))
        .col_expr(contact::Column::LastInteractedChannelId, Expr::val(channel.id))
        .col_expr(contact::Column::UpdatedAt, Expr::val(now))
        .filter(contact::Column::Id.eq(contact_id))
        .filter(
            sea_orm::Condition::any()
                .add(contact::Column::LastInteractionAt.is_null())
                .add(contact::Column::LastInteractionAt.lte(at)),
        )
        .exec(txn)
        .await?;
    let row = message::ActiveModel {
        workspace_id: Set(channel.workspace_id),
        contact_id: Set(Some(contact_id)),
        channel_id: Set(Some(channel.id)),
        direction: Set(MessageDirection::Incoming),
        content: Set(serde_json::json!({ "text": inbound.text })),
        address: Set(Some(identifier)),
        status: Set(DeliveryStatus::Delivered),
        delivered_at: Set(Some(at)),
        provider_message_id: Set(inbound.provider_message_id.clone()),
        attempts: Set(0),
        created_at: Set(at),
        updated_at: Set(now),
        ..Default::default()
    };
    message::Entity::insert(row).exec_without_returning(txn).await?;
    let reply = record_reply(txn, contact_id, at).await?;
    Ok((Received::Stored { contact_id }, Some((contact_id, action, reply))))
}

/// The contact `identifier` belongs to on `channel`, with its messaging window opened at `at`:
/// the one the identifier is linked to, else a contact with that phone or email (then linked),
/// else a new contact.
async fn match_contact(
    txn: &DatabaseTransaction,
    channel: &channel::Model,
    kind: IdentifierKind,
    identifier: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<(i64, ChangeAction)> {
    let linked = contact_channel::Entity::find()
        .filter(contact_channel::Column::ChannelId.eq(channel.id))
        .filter(contact_channel::Column::Identifier.eq(identifier))
        .one(txn)
        .await?;
    if let Some(row) = linked {
        if row.last_incoming_at.is_none_or(|last| last < at) {
            contact_channel::Entity::update_many()
                .col_expr(contact_channel::Column::LastIncomingAt, Expr::val(at))
                .col_expr(contact_channel::Column::UnreachableAt, Expr::val(None::<DateTime<Utc>>))
                .filter(contact_channel::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
        }
        return Ok((row.contact_id, ChangeAction::Updated));
    }
    let (known, action) = match known_contact(txn, channel, kind, identifier).await? {
        Some(contact_id) => (contact_id, ChangeAction::Updated),
        None => {
            let created = contact::ActiveModel {
                workspace_id: Set(channel.workspace_id),
                phone: Set((kind == IdentifierKind::Phone).then(|| identifier.to_owned())),
                email: Set((kind == IdentifierKind::Email).then(|| identifier.to_owned())),
                custom_fields: Set(serde_json::json!({})),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            (created.id, ChangeAction::Created)
        }
    };
    let link = contact_channel::ActiveModel {
        workspace_id: Set(channel.workspace_id),
        contact_id: Set(known),
        channel_id: Set(channel.id),
        identifier: Set(identifier.to_owned()),
        last_incoming_at: Set(Some(at)),
        created_at: Set(now),
        ..Default::default()
    };
    contact_channel::Entity::insert(link).exec_without_returning(txn).await?;
    Ok((known, action))
}

/// The oldest contact of the channel's workspace whose phone (phone channels) or email (email
/// channels) is `identifier` and that has no identifier on the channel yet.
async fn known_contact(
    txn: &DatabaseTransaction,
    channel: &channel::Model,
    kind: IdentifierKind,
    identifier: &str,
) -> ServiceResult<Option<i64>> {
    // A custom channel's identifiers are opaque, but one that is a phone number in
    // international format (an SMS gateway) or an email address is matched the same way.
    let column = match kind {
        IdentifierKind::Phone => contact::Column::Phone,
        IdentifierKind::Email => contact::Column::Email,
        IdentifierKind::Opaque if normalize::phone(identifier, None).is_ok_and(|phone| phone == identifier) => {
            contact::Column::Phone
        }
        IdentifierKind::Opaque if normalize::email(identifier).is_ok_and(|email| email == identifier) => {
            contact::Column::Email
        }
        _ => return Ok(None),
    };
    // Sorted here, not in SQL: with `ORDER BY id` SQLite walked the whole workspace in id
    // order instead of looking the phone up in its index (3 ms an inbound message at 20,000
    // contacts).
    let mut candidates: Vec<i64> = contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .filter(contact::Column::WorkspaceId.eq(channel.workspace_id))
        .filter(column.eq(identifier))
        .limit(100)
        .into_tuple()
        .all(txn)
        .await?;
    candidates.sort_unstable();
    if candidates.is_empty() {
        return Ok(None);
    }
    let taken: Vec<i64> = contact_channel::Entity::find()
        .select_only()
        .column(contact_channel::Column::ContactId)
        .filter(contact_channel::Column::ChannelId.eq(channel.id))
        .filter(contact_channel::Column::ContactId.is_in(candidates.clone()))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(candidates.into_iter().find(|id| !taken.contains(id)))
}

/// Marks `address` on the channel unreachable (the contact blocked the bot or unsubscribed), or
/// reachable again (unblocked, subscribed again).
async fn set_reachable(
    conn: &impl ConnectionTrait,
    channel: &channel::Model,
    address: &str,
    reachable: bool,
) -> ServiceResult<()> {
    let kind = capabilities(channel.kind).identifier;
    let address = kind.normalize(address, None).unwrap_or_else(|_| address.to_owned());
    set_reachable_address(conn, channel.id, &address, reachable).await
}

/// [`set_reachable`] for an identifier already in its normalised form.
pub(super) async fn set_reachable_address(
    conn: &impl ConnectionTrait,
    channel_id: i64,
    address: &str,
    reachable: bool,
) -> ServiceResult<()> {
    let update = contact_channel::Entity::update_many()
        .filter(contact_channel::Column::ChannelId.eq(channel_id))
        .filter(contact_channel::Column::Identifier.eq(address));
    let update = if reachable {
        update
            .col_expr(contact_channel::Column::UnreachableAt, Expr::val(None::<DateTime<Utc>>))
            .filter(contact_channel::Column::UnreachableAt.is_not_null())
    } else {
        update
            .col_expr(contact_channel::Column::UnreachableAt, Expr::val(Utc::now()))
            .filter(contact_channel::Column::UnreachableAt.is_null())
    };
    update.exec(conn).await?;
    Ok(())
}

/// Marks the latest broadcast message sent to the contact in the previous 24 hours as
/// replied (once); the broadcast to count it on.
async fn record_reply(conn: &impl ConnectionTrait, contact_id: i64, at: DateTime<Utc>) -> ServiceResult<Option<i64>> {
    // Only the contact's own rows are read: with `broadcast_id IS NOT NULL` or an `ORDER BY
    // sent_at` in the statement, SQLite walked a broadcast's whole index instead (2 ms a
    // reply at 20,000 recipients). A contact has few messages in a day; the newest is
    // picked here.
    let candidates: Vec<(i64, Option<i64>, Option<DateTime<Utc>>)> = message::Entity::find()
        .select_only()
        .columns([message::Column::Id, message::Column::BroadcastId, message::Column::SentAt])
        .filter(message::Column::ContactId.eq(contact_id))
        .filter(message::Column::Direction.eq(MessageDirection::Outgoing))
        .filter(message::Column::SentAt.gte(at - Duration::hours(REPLY_WINDOW_HOURS)))
        .filter(message::Column::RepliedAt.is_null())
        .into_tuple()
        .all(conn)
        .await?;
    let answered = candidates
        .into_iter()
        .filter_map(|(id, broadcast_id, sent_at)| Some((id, broadcast_id?, sent_at?)))
        .filter(|(_, _, sent_at)| *sent_at <= at)
        .max_by_key(|(_, _, sent_at)| *sent_at);
    let Some((answered_id, broadcast_id, _)) = answered else {
        return Ok(None);
    };
    let marked = message::Entity::update_many()
        .col_expr(message::Column::RepliedAt, Expr::val(at))
        .filter(message::Column::Id.eq(answered_id))
        .filter(message::Column::RepliedAt.is_null())
        .exec(conn)
        .await?;
    Ok((marked.rows_affected > 0).then_some(broadcast_id))
}
