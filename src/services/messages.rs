//! Messages: single sends (`sendMessage`) and reading message rows.
//!
//! A single message goes through the same outbox and dispatcher as a broadcast's: it is written
//! QUEUED (or FAILED at once, with the reason, when the contact is outside the channel's
//! messaging window — seed 003: such messages "no se entregarán" and show an error) and the
//! dispatcher sends it at the channel's rate.

use chrono::Utc;
use entity::{
    DeliveryStatus, MessageDirection, MessageSource, MessageType, channel, contact, contact_channel, message,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::app::App;
use crate::auth::Scope;
use crate::channels::content::HUMAN_AGENT;
use crate::channels::{Adapters, IdentifierKind, MessageContent, MessagingWindow, capabilities};
use crate::error::{ServiceError, ServiceResult};
use crate::events::MessageStatusEvent;
use crate::services::{Page, into_page};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub direction: Option<MessageDirection>,
    pub error_code: Option<String>,
}

/// Writes one outgoing message to `contact_id` on `channel_id` and wakes the dispatcher.
/// `source` is API or USER.
pub async fn send_message(
    app: &App,
    scope: &Scope,
    contact_id: i64,
    channel_id: i64,
    content: MessageContent,
    source: MessageSource,
) -> ServiceResult<message::Model> {
    let mut content = content.normalized().map_err(|p| ServiceError::bad_input(p.field, p.message))?;
    let contact = scope.get::<contact::Entity>(&app.db, "contact", contact_id).await?;
    let channel = scope
        .select::<channel::Entity>()
        .filter(channel::Column::Id.eq(channel_id))
        .filter(channel::Column::DeletedAt.is_null())
        .one(&app.db)
        .await?
        .ok_or_else(|| {
            ServiceError::bad_input("channelId", format!("No channel with id {channel_id} in this workspace."))
        })?;
    let caps = capabilities(channel.kind);
    let mut planned = content.plan_for(channel.kind, false).map_err(|p| ServiceError::bad_input(p.field, p.message))?;
    let identifier = scope
        .select::<contact_channel::Entity>()
        .filter(contact_channel::Column::ContactId.eq(contact.id))
        .filter(contact_channel::Column::ChannelId.eq(channel.id))
        .one(&app.db)
        .await?;
    let address = identifier.as_ref().map(|row| row.identifier.clone()).or_else(|| match caps.identifier {
        IdentifierKind::Phone => contact.phone.clone(),
        IdentifierKind::Email => contact.email.clone(),
        IdentifierKind::Opaque => contact.phone.clone(),
        _ => None,
    });
    let Some(address) = address else {
        return Err(ServiceError::bad_input(
            "contactId",
            format!("The contact has no identifier on this {} channel; add one first.", caps.label),
        ));
    };
    if identifier.as_ref().is_some_and(|row| row.unreachable_at.is_some()) {
        return Err(ServiceError::bad_input(
            "contactId",
            "The provider reported this contact unreachable on this channel (e.g. it blocked the bot).",
        ));
    }
    let now = Utc::now();
    let last_incoming = identifier.as_ref().and_then(|row| row.last_incoming_at);
    let beyond = |window: MessagingWindow| match window {
        MessagingWindow::Hours(hours) => {
            last_incoming.is_none_or(|last| now - last > chrono::Duration::hours(i64::from(hours)))
        }
        _ => false,
    };
    // Messenger: past the standard 24 hours a person's reply goes with the HUMAN_AGENT tag
    // (up to 7 days); an automated message may not go at all.
    let (window, automated) = (caps.messaging_window, caps.automated_window());
    if !planned.outside_window
        && planned.message_type == MessageType::Session
        && automated != window
        && beyond(automated)
        && !beyond(window)
        && source == MessageSource::User
    {
        content.message_tag = Some(HUMAN_AGENT.to_owned());
        planned = content.plan_for(channel.kind, false).map_err(|p| ServiceError::bad_input(p.field, p.message))?;
    }
    let applies = if planned.message_type == MessageType::Session { automated } else { window };
    let outside_window = !planned.outside_window && beyond(applies);
    // Outside the window the message is recorded FAILED whatever the provider; otherwise it
    // must be one Pregón can send on.
    if !outside_window && !Adapters::supports(channel.kind) {
        return Err(ServiceError::bad_input(
            "channelId",
            format!("Pregón has no sending adapter for {} channels; use another channel.", caps.label),
        ));
    }
    // Outside the window the row is written FAILED at once (never QUEUED, so no sender can
    // pick it up in between).
    let failure = match applies {
        MessagingWindow::Hours(hours) if outside_window && applies != window => Some((
            "OUTSIDE_MESSAGING_WINDOW".to_owned(),
            format!(
                "Outside the messaging window: on {} an automated message may go only within {hours} hours of \
                 the contact's last message (a person's reply, sent as USER, within {} days with the HUMAN_AGENT tag).",
                caps.label,
                match window {
                    MessagingWindow::Hours(outer) => outer / 24,
                    _ => 0,
                }
            ),
        )),
        MessagingWindow::Hours(hours) if outside_window => Some((
            "OUTSIDE_MESSAGING_WINDOW".to_owned(),
            format!(
                "Outside the messaging window: the contact has not written on this {} channel in the last {hours} hours.",
                caps.label
            ),
        )),
        _ => None,
    };
    let created = message::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        contact_id: Set(Some(contact.id)),
        channel_id: Set(Some(channel.id)),
        direction: Set(MessageDirection::Outgoing),
        source: Set(Some(source)),
        message_type: Set(Some(planned.message_type)),
        subtype: Set(planned.subtype.clone()),
        content: Set(serde_json::to_value(&content).map_err(ServiceError::internal)?),
        address: Set(Some(address)),
        status: Set(if failure.is_some() { DeliveryStatus::Failed } else { DeliveryStatus::Queued }),
        queued_at: Set(Some(now)),
        failed_at: Set(failure.as_ref().map(|_| now)),
        error_code: Set(failure.as_ref().map(|(code, _)| code.clone())),
        error_text: Set(failure.as_ref().map(|(_, text)| text.clone())),
        attempts: Set(0),
        next_attempt_at: Set(if failure.is_some() { None } else { Some(now) }),
        sent_by_user_id: Set(Some(scope.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await?;
    if let Some((code, _)) = failure {
        app.events.publish_message(MessageStatusEvent {
            workspace_id: created.workspace_id,
            message_id: created.id,
            broadcast_id: None,
            contact_id: created.contact_id,
            status: DeliveryStatus::Failed,
            error_code: Some(code),
            at: now,
        });
        return Ok(created);
    }
    app.wake_dispatcher();
    Ok(created)
}

pub async fn find_message(app: &App, scope: &Scope, id: i64) -> ServiceResult<Option<message::Model>> {
    scope.find::<message::Entity>(&app.db, id).await
}

/// One page, newest first, after the message id `after`.
pub async fn list_messages(
    app: &App,
    scope: &Scope,
    filter: &MessageFilter,
    after: Option<i64>,
    first: u64,
) -> ServiceResult<Page<message::Model>> {
    let mut query = filtered(scope, filter);
    if let Some(after) = after {
        query = query.filter(message::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(message::Column::Id).limit(first + 1).all(&app.db).await?;
    Ok(into_page(rows, first))
}

pub async fn count_messages(app: &App, scope: &Scope, filter: &MessageFilter) -> ServiceResult<u64> {
    Ok(filtered(scope, filter).count(&app.db).await?)
}

fn filtered(scope: &Scope, filter: &MessageFilter) -> sea_orm::Select<message::Entity> {
    let mut query = scope.select::<message::Entity>();
    if let Some(id) = filter.broadcast_id {
        query = query.filter(message::Column::BroadcastId.eq(id));
    }
    if let Some(id) = filter.contact_id {
        query = query.filter(message::Column::ContactId.eq(id));
    }
    if let Some(status) = filter.status {
        query = query.filter(message::Column::Status.eq(status));
    }
    if let Some(direction) = filter.direction {
        query = query.filter(message::Column::Direction.eq(direction));
    }
    if let Some(code) = &filter.error_code {
        query = query.filter(message::Column::ErrorCode.eq(code.as_str()));
    }
    query
}
