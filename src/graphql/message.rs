//! Messages: the type, the list, single sends and the status subscription.

use async_graphql::connection::PageInfo;
use async_graphql::futures_util::Stream;
use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::message;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::channels::MessageContent;
use crate::error::{ApiError, ApiResult};
use crate::graphql::broadcast::{Broadcast, MessageContentInput, MessageContentView};
use crate::graphql::channel::Channel;
use crate::graphql::contact::Contact;
use crate::graphql::context::{ContextExt, cursor, page_size, parse_id};
use crate::graphql::enums::{DeliveryStatus, MessageDirection, MessageSource, MessageType};
use crate::graphql::loaders::{self, BroadcastById, ChannelById, ContactById, UserById};
use crate::graphql::user::User;
use crate::services::messages::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MessageFilter};

pub struct Message(pub message::Model);

/// One message: to a contact (a broadcast's or a single send) or from one.
#[Object]
impl Message {
    /// The message's id; the custom channel's Idempotency-Key.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// To or from the contact.
    async fn direction(&self) -> MessageDirection {
        self.0.direction.into()
    }

    /// Where an outgoing message came from.
    async fn source(&self) -> Option<MessageSource> {
        self.0.source.map(Into::into)
    }

    /// The kind of outgoing message.
    async fn message_type(&self) -> Option<MessageType> {
        self.0.message_type.map(Into::into)
    }

    /// The message tag or template name.
    async fn subtype(&self) -> Option<&str> {
        self.0.subtype.as_deref()
    }

    /// What it says.
    async fn content(&self) -> MessageContentView {
        MessageContentView(serde_json::from_value::<MessageContent>(self.0.content.clone()).unwrap_or_default())
    }

    /// Its delivery status.
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }

    /// The contact.
    async fn contact(&self, ctx: &Context<'_>) -> ApiResult<Option<Contact>> {
        let Some(id) = self.0.contact_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(ContactById(id)).await?.map(Contact))
    }

    /// The channel.
    async fn channel(&self, ctx: &Context<'_>) -> ApiResult<Option<Channel>> {
        let Some(id) = self.0.channel_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(ChannelById(id)).await?.map(Channel))
    }

    /// The broadcast it belongs to.
    async fn broadcast(&self, ctx: &Context<'_>) -> ApiResult<Option<Broadcast>> {
        let Some(id) = self.0.broadcast_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(BroadcastById(id)).await?.map(Broadcast))
    }

    /// The user who sent it (or scheduled its broadcast).
    async fn sent_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.0.sent_by_user_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(UserById(id)).await?.map(User))
    }

    /// The contact's identifier it was sent to (or came from).
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }

    /// The provider's id for it.
    async fn provider_message_id(&self) -> Option<&str> {
        self.0.provider_message_id.as_deref()
    }

    /// Why it failed, or the last transient error while it is retried: the provider's code.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    /// The provider's (or Pregón's) explanation.
    async fn error_text(&self) -> Option<&str> {
        self.0.error_text.as_deref()
    }

    /// Attempts made to send it.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// When it was queued.
    async fn queued_at(&self) -> Option<DateTime<Utc>> {
        self.0.queued_at
    }

    /// When the provider accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// When it was delivered.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// When it was read.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }

    /// When it failed.
    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.0.failed_at
    }

    /// When the contact answered it (broadcast messages, within 24 hours).
    async fn replied_at(&self) -> Option<DateTime<Utc>> {
        self.0.replied_at
    }

    /// When it was created (received, for incoming messages).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct MessageConnection {
    page: crate::services::Page<message::Model>,
    filter: MessageFilter,
}

/// A message in a page, with its cursor.
#[derive(SimpleObject)]
pub struct MessageEdge {
    /// Pass as `after` to continue after this message.
    cursor: String,
    /// The message.
    node: Message,
}

/// A page of messages, newest first (Relay connection).
#[Object]
impl MessageConnection {
    /// The messages of this page, with cursors.
    async fn edges(&self) -> Vec<MessageEdge> {
        self.page.items.iter().map(|m| MessageEdge { cursor: cursor::encode(m.id), node: Message(m.clone()) }).collect()
    }

    /// The messages of this page.
    async fn nodes(&self) -> Vec<Message> {
        self.page.items.iter().cloned().map(Message).collect()
    }

    /// Where this page sits in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: false,
            has_next_page: self.page.has_next_page,
            start_cursor: self.page.items.first().map(|m| cursor::encode(m.id)),
            end_cursor: self.page.items.last().map(|m| cursor::encode(m.id)),
        }
    }

    /// How many messages match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(messages::count_messages(ctx.app(), ctx.scope()?, &self.filter).await?)
    }
}

/// One page of the messages matching `filter`.
pub async fn message_page(
    ctx: &Context<'_>,
    filter: MessageFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<MessageConnection> {
    let first = page_size(first, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = after.as_deref().map(cursor::decode).transpose()?;
    let page = messages::list_messages(ctx.app(), ctx.scope()?, &filter, after, first).await?;
    Ok(MessageConnection { page, filter })
}

#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// The workspace's messages, newest first, optionally of one broadcast or contact.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE_SIZE as i32).max(0) as usize * child_complexity + 1")]
    #[allow(clippy::too_many_arguments)]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this broadcast's messages.")] broadcast_id: Option<ID>,
        #[graphql(desc = "Only messages to or from this contact.")] contact_id: Option<ID>,
        #[graphql(desc = "Only messages in this status.")] status: Option<DeliveryStatus>,
        #[graphql(desc = "Only incoming or only outgoing messages.")] direction: Option<MessageDirection>,
        #[graphql(desc = "Only failed messages with this error code.")] error_code: Option<String>,
        #[graphql(desc = "How many messages to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<MessageConnection> {
        let filter = MessageFilter {
            broadcast_id: broadcast_id.map(|id| parse_id(&id, "broadcastId", "broadcast")).transpose()?,
            contact_id: contact_id.map(|id| parse_id(&id, "contactId", "contact")).transpose()?,
            status: status.map(Into::into),
            direction: direction.map(Into::into),
            error_code,
        };
        message_page(ctx, filter, first, after).await
    }

    /// One message; null when there is none with this id here.
    async fn message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id.")] id: ID,
    ) -> ApiResult<Option<Message>> {
        let id = parse_id(&id, "id", "message")?;
        Ok(messages::find_message(ctx.app(), ctx.scope()?, id).await?.map(Message))
    }
}

/// Who a single send is on behalf of.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SendSource {
    /// An integration, through the API (the default).
    Api,
    /// A person, from an app built on Pregón.
    User,
}

#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Sends one message to a contact on a channel, through the dispatcher (at the channel's
    /// rate, with retries). Outside the channel's messaging window a plain message is FAILED at
    /// once with that reason; a WhatsApp template or Messenger tag may go outside it. On
    /// Messenger an automated message (source API) goes only within 24 hours of the contact's
    /// last message, and a person's reply (source USER) between 24 hours and 7 days goes with
    /// the HUMAN_AGENT tag.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact.")] contact_id: ID,
        #[graphql(desc = "The channel to send on.")] channel_id: ID,
        #[graphql(desc = "What it says.")] content: MessageContentInput,
        #[graphql(desc = "API (default) or USER.", default_with = "SendSource::Api")] source: SendSource,
    ) -> ApiResult<Message> {
        let contact_id = parse_id(&contact_id, "contactId", "contact")?;
        let channel_id = parse_id(&channel_id, "channelId", "channel")?;
        let source = match source {
            SendSource::Api => entity::MessageSource::Api,
            SendSource::User => entity::MessageSource::User,
        };
        let sent =
            messages::send_message(ctx.app(), ctx.scope()?, contact_id, channel_id, content.into(), source).await?;
        Ok(Message(sent))
    }
}

/// A message's status changed.
#[derive(SimpleObject)]
pub struct MessageStatusChange {
    /// The message's id.
    message_id: ID,
    /// Its broadcast.
    broadcast_id: Option<ID>,
    /// Its contact.
    contact_id: Option<ID>,
    /// The new status.
    status: DeliveryStatus,
    /// For FAILED (or a retry), the error code.
    error_code: Option<String>,
    /// When it changed.
    at: DateTime<Utc>,
}

#[derive(Default)]
pub struct MessageSubscription;

#[Subscription]
impl MessageSubscription {
    /// Status changes of the workspace's messages, as they happen: of one broadcast, one
    /// contact, or one contact within one broadcast.
    async fn message_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this broadcast's messages.")] broadcast_id: Option<ID>,
        #[graphql(desc = "Only this contact's messages.")] contact_id: Option<ID>,
    ) -> Result<impl Stream<Item = MessageStatusChange> + use<>, ApiError> {
        let workspace_id = ctx.scope()?.workspace_id;
        let broadcast_id = broadcast_id.map(|id| parse_id(&id, "broadcastId", "broadcast")).transpose()?;
        let contact_id = contact_id.map(|id| parse_id(&id, "contactId", "contact")).transpose()?;
        let events = BroadcastStream::new(ctx.app().events.subscribe_messages());
        Ok(events.filter_map(move |event| match event {
            Ok(event)
                if event.workspace_id == workspace_id
                    && broadcast_id.is_none_or(|id| event.broadcast_id == Some(id))
                    && contact_id.is_none_or(|id| event.contact_id == Some(id)) =>
            {
                Some(MessageStatusChange {
                    message_id: event.message_id.into(),
                    broadcast_id: event.broadcast_id.map(Into::into),
                    contact_id: event.contact_id.map(Into::into),
                    status: event.status.into(),
                    error_code: event.error_code.clone(),
                    at: event.at,
                })
            }
            Ok(_) => None,
            Err(lagged) => {
                tracing::warn!(error = %lagged, "a messageStatusChanged subscriber fell behind and skipped events");
                None
            }
        }))
    }
}
