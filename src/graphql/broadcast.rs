//! Broadcasts: the type, the table and calendar queries, the life-cycle mutations, and the
//! progress and change subscriptions.

use std::sync::Arc;

use async_graphql::connection::PageInfo;
use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject, Subscription};
use chrono::{DateTime, NaiveDate, Utc};
use entity::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::catalogue::{Locale, Reason};
use crate::channels::content::WhatsappTemplate;
use crate::channels::{MessageContent, RateLimit as Rate};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Event};
use crate::graphql::channel::{Channel, RateLimit, RateLimitInput};
use crate::graphql::context::{ContextExt, cursor, page_size, parse_id};
use crate::graphql::enums::BroadcastStatus;
use crate::graphql::loaders::{self, BroadcastById, ChannelById, SegmentById, UserById};
use crate::graphql::message::{MessageConnection, message_page};
use crate::graphql::segment::Segment;
use crate::graphql::user::User;
use crate::graphql::workspace::maybe;
use crate::progress::{self, ProgressSnapshot};
use crate::services::broadcasts::{
    self, BroadcastChanges, BroadcastFilter, ChannelChoice, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, NewBroadcast,
    ResendFilter,
};
use crate::services::messages::MessageFilter;

/// A WhatsApp template to send.
#[derive(InputObject, Clone)]
pub struct WhatsappTemplateInput {
    /// The approved template's name (lower-case letters, digits and _).
    name: String,
    /// Its language code, e.g. es, en_US, pt_BR.
    language: String,
    /// Values of its {{1}}, {{2}}… parameters, in order.
    #[graphql(default)]
    parameters: Vec<String>,
}

/// What a message says: a text, a WhatsApp template, or both; Messenger broadcasts add a tag.
#[derive(InputObject, Clone)]
pub struct MessageContentInput {
    /// The text (at most 4096 characters). Needed except for a template alone.
    text: Option<String>,
    /// A WhatsApp template; required for broadcasts on official WhatsApp channels.
    template: Option<WhatsappTemplateInput>,
    /// A Messenger message tag (CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, ACCOUNT_UPDATE,
    /// HUMAN_AGENT); required for broadcasts on Messenger.
    message_tag: Option<String>,
}

impl From<MessageContentInput> for MessageContent {
    fn from(input: MessageContentInput) -> Self {
        MessageContent {
            text: input.text,
            template: input.template.map(|t| WhatsappTemplate {
                name: t.name,
                language: t.language,
                parameters: t.parameters,
            }),
            message_tag: input.message_tag,
        }
    }
}

/// A message's content as stored.
pub struct MessageContentView(pub MessageContent);

/// What a message says.
#[Object(name = "MessageContent")]
impl MessageContentView {
    /// The text.
    async fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }

    /// The WhatsApp template, if any.
    async fn template(&self) -> Option<WhatsappTemplateView> {
        self.0.template.clone().map(WhatsappTemplateView)
    }

    /// The Messenger message tag, if any.
    async fn message_tag(&self) -> Option<&str> {
        self.0.message_tag.as_deref()
    }
}

pub struct WhatsappTemplateView(WhatsappTemplate);

/// A WhatsApp template and its parameter values.
#[Object(name = "WhatsappTemplate")]
impl WhatsappTemplateView {
    /// The template's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its language code.
    async fn language(&self) -> &str {
        &self.0.language
    }

    /// The values of its parameters, in order.
    async fn parameters(&self) -> &[String] {
        &self.0.parameters
    }
}

/// Why a broadcast failed as a whole.
#[derive(SimpleObject)]
pub struct BroadcastFailure {
    /// A stable key: BROADCAST_SEGMENT_NOT_FOUND, BROADCAST_NO_CONTACTS,
    /// BROADCAST_PLAN_LIMIT_EXCEEDED, BROADCAST_CHANNEL_UNAVAILABLE.
    code: String,
    /// The seed's message, in Spanish when the request's Accept-Language prefers it.
    message: String,
}

pub struct Broadcast(pub broadcast::Model);

/// A broadcast: one content sent to a segment over a channel (seed 002).
#[Object]
impl Broadcast {
    /// The broadcast's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its label (the table's "Etiqueta").
    async fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }

    /// Where it is in its life.
    async fn status(&self) -> BroadcastStatus {
        self.0.status.into()
    }

    /// The channel it goes out on; null with useLastInteractedChannel.
    async fn channel(&self, ctx: &Context<'_>) -> ApiResult<Option<Channel>> {
        let Some(id) = self.0.channel_id.filter(|_| !self.0.use_last_interacted_channel) else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(ChannelById(id)).await?.map(Channel))
    }

    /// Whether each contact gets it on the channel it last wrote from.
    async fn use_last_interacted_channel(&self) -> bool {
        self.0.use_last_interacted_channel
    }

    /// The target segment; null once it is deleted.
    async fn segment(&self, ctx: &Context<'_>) -> ApiResult<Option<Segment>> {
        let Some(id) = self.0.segment_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(SegmentById(id)).await?.map(Segment))
    }

    /// What it says.
    async fn content(&self) -> ApiResult<MessageContentView> {
        Ok(MessageContentView(broadcasts::stored_content(&self.0)?))
    }

    /// The content as a one-line preview (the detail drawer's "Vista previa"): as it goes out
    /// on `channelId` when given (with "last interacted channel", choose one to preview), else
    /// on the broadcast's channel. Content a channel cannot carry previews as the reason.
    async fn preview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Preview as sent on this channel.")] channel_id: Option<ID>,
    ) -> ApiResult<String> {
        let content = broadcasts::stored_content(&self.0)?;
        let channel_id = match channel_id {
            Some(id) => Some(parse_id(&id, "channelId", "channel")?),
            None => self.0.channel_id.filter(|_| !self.0.use_last_interacted_channel),
        };
        let Some(channel_id) = channel_id else {
            return Ok(content.preview());
        };
        let Some(channel) = loaders::from_context(ctx).load_one(ChannelById(channel_id)).await? else {
            return Err(ApiError::bad_input(
                "channelId",
                format!("No channel with id {channel_id} in this workspace."),
            ));
        };
        Ok(match content.plan_for(channel.kind, !self.0.use_last_interacted_channel) {
            Ok(planned) => match (&planned.subtype, planned.message_type) {
                (Some(tag), entity::MessageType::FacebookMessageTag) => {
                    format!("[{tag}] {}", content.text.as_deref().unwrap_or_default())
                }
                _ => content.preview(),
            },
            Err(problem) => format!("Cannot be sent on this channel: {}", problem.message),
        })
    }

    /// Its send-rate cap; null sends as fast as the channel allows (seed 002: "lo antes
    /// posible").
    async fn send_rate(&self) -> Option<RateLimit> {
        match (self.0.send_rate_count, self.0.send_rate_period_secs) {
            (Some(count), Some(period)) => Some(Rate { count: count as u32, period_secs: period as u32 }.into()),
            _ => None,
        }
    }

    /// Who scheduled or sent it ("Enviado por").
    async fn sent_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.0.sent_by_user_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(UserById(id)).await?.map(User))
    }

    /// Who created it.
    async fn created_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.0.created_by_user_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(UserById(id)).await?.map(User))
    }

    /// When it was sent or is scheduled to be ("Tiempo de entrega"); null for a DRAFT.
    async fn delivery_time(&self) -> Option<DateTime<Utc>> {
        self.0.started_at.or(self.0.scheduled_at)
    }

    /// When it is scheduled to start.
    async fn scheduled_at(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_at
    }

    /// When it started.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    /// When it completed or failed.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    /// Why it failed as a whole (FAILED only).
    async fn failure_reason(&self, ctx: &Context<'_>) -> Option<BroadcastFailure> {
        let key = self.0.failure_reason.as_deref()?;
        let locale = ctx.data_opt::<Locale>().copied().unwrap_or_default();
        let message = Reason::from_key(key).map_or_else(|| key.to_owned(), |reason| reason.message(locale).to_owned());
        Some(BroadcastFailure { code: key.to_owned(), message })
    }

    /// The broadcast this one resends to.
    async fn resend_of(&self, ctx: &Context<'_>) -> ApiResult<Option<Broadcast>> {
        let Some(id) = self.0.resend_of_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(BroadcastById(id)).await?.map(Broadcast))
    }

    /// The segment's size when it was scheduled ("Destinatarios"); who is sent to is decided
    /// again when it starts, so it can differ from completedRecipients (seed 000).
    async fn target_recipients(&self) -> Option<i64> {
        self.0.target_recipients
    }

    /// Recipients a message was attempted for (sent or failed).
    async fn completed_recipients(&self) -> i64 {
        self.0.completed_recipients
    }

    /// Contacts left out when it started: duplicates sharing an identifier, and identifiers
    /// missing or malformed for the channel.
    async fn excluded_recipients(&self) -> i64 {
        self.0.excluded_recipients
    }

    /// Messages it expanded to ("Total de mensajes").
    async fn total_messages(&self) -> i64 {
        self.0.total_messages
    }

    /// Messages the provider accepted.
    async fn sent_count(&self) -> i64 {
        self.0.sent_count
    }

    /// Messages reported delivered (or read).
    async fn delivered_count(&self) -> i64 {
        self.0.delivered_count
    }

    /// Messages reported read.
    async fn read_count(&self) -> i64 {
        self.0.read_count
    }

    /// Messages that failed.
    async fn failed_count(&self) -> i64 {
        self.0.failed_count
    }

    /// Messages the contact answered within 24 hours.
    async fn replied_count(&self) -> i64 {
        self.0.replied_count
    }

    /// Its messages, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many messages to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Only messages in this status.")] status: Option<crate::graphql::enums::DeliveryStatus>,
        #[graphql(desc = "Only failed messages with this error code.")] error_code: Option<String>,
    ) -> ApiResult<MessageConnection> {
        let filter = MessageFilter {
            broadcast_id: Some(self.0.id),
            status: status.map(Into::into),
            error_code,
            ..MessageFilter::default()
        };
        message_page(ctx, filter, first, after).await
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct BroadcastConnection {
    page: crate::services::Page<broadcast::Model>,
    filter: BroadcastFilter,
}

/// A broadcast in a page, with its cursor.
#[derive(SimpleObject)]
pub struct BroadcastEdge {
    /// Pass as `after` to continue after this broadcast.
    cursor: String,
    /// The broadcast.
    node: Broadcast,
}

/// A page of broadcasts, newest first (Relay connection).
#[Object]
impl BroadcastConnection {
    /// The broadcasts of this page, with cursors.
    async fn edges(&self) -> Vec<BroadcastEdge> {
        self.page
            .items
            .iter()
            .map(|b| BroadcastEdge { cursor: cursor::encode(b.id), node: Broadcast(b.clone()) })
            .collect()
    }

    /// The broadcasts of this page.
    async fn nodes(&self) -> Vec<Broadcast> {
        self.page.items.iter().cloned().map(Broadcast).collect()
    }

    /// Where this page sits in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: false,
            has_next_page: self.page.has_next_page,
            start_cursor: self.page.items.first().map(|b| cursor::encode(b.id)),
            end_cursor: self.page.items.last().map(|b| cursor::encode(b.id)),
        }
    }

    /// How many broadcasts match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(broadcasts::count_broadcasts(ctx.app(), ctx.scope()?, &self.filter).await?)
    }
}

/// One day of the broadcast calendar.
#[derive(SimpleObject)]
pub struct BroadcastCalendarDay {
    /// The day, in the workspace's time zone.
    date: NaiveDate,
    /// Its broadcasts, by time.
    broadcasts: Vec<Broadcast>,
}

#[derive(Default)]
pub struct BroadcastQuery;

#[Object]
impl BroadcastQuery {
    /// The workspace's broadcasts, newest first (seed 002's table), optionally by status and
    /// by broadcast time (sent, else scheduled, else created).
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE_SIZE as i32).max(0) as usize * child_complexity + 1")]
    async fn broadcasts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only broadcasts in this status.")] status: Option<BroadcastStatus>,
        #[graphql(desc = "Broadcast time at or after this.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Broadcast time before this.")] to: Option<DateTime<Utc>>,
        #[graphql(desc = "How many broadcasts to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<BroadcastConnection> {
        let first = page_size(first, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let after = after.as_deref().map(cursor::decode).transpose()?;
        let filter = BroadcastFilter { status: status.map(Into::into), from, to };
        let page = broadcasts::list_broadcasts(ctx.app(), ctx.scope()?, &filter, after, first).await?;
        Ok(BroadcastConnection { page, filter })
    }

    /// One broadcast (the detail drawer); null when there is none with this id here.
    async fn broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
    ) -> ApiResult<Option<Broadcast>> {
        let id = parse_id(&id, "id", "broadcast")?;
        Ok(broadcasts::find_broadcast(&ctx.app().db, ctx.scope()?, id).await?.map(Broadcast))
    }

    /// The broadcasts of a month, day by day in the workspace's time zone; a DRAFT without a
    /// time shows on the day it was created (seed 002, "Vista de Calendario").
    async fn broadcast_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The month, as YYYY-MM.")] month: String,
    ) -> ApiResult<Vec<BroadcastCalendarDay>> {
        let days = broadcasts::calendar(ctx.app(), ctx.scope()?, &month).await?;
        Ok(days
            .into_iter()
            .map(|(date, list)| BroadcastCalendarDay { date, broadcasts: list.into_iter().map(Broadcast).collect() })
            .collect())
    }
}

/// A broadcast to create, as a DRAFT.
#[derive(InputObject)]
pub struct CreateBroadcastInput {
    /// Its name.
    name: String,
    /// A label, to group broadcasts.
    label: Option<String>,
    /// The channel to send on; leave out and set useLastInteractedChannel to send each contact
    /// on the channel it last wrote from.
    channel_id: Option<ID>,
    /// Send each contact on the channel it last wrote from.
    #[graphql(default)]
    use_last_interacted_channel: bool,
    /// The target segment.
    segment_id: ID,
    /// What it says.
    content: MessageContentInput,
    /// A cap below the channel's rate; leave out to send as fast as the channel allows.
    send_rate: Option<RateLimitInput>,
}

/// Changes to a DRAFT; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateBroadcastInput {
    /// New name.
    name: Option<String>,
    /// New label; null removes it.
    label: MaybeUndefined<String>,
    /// Another channel.
    channel_id: Option<ID>,
    /// Switch to (true) or from (false, with channelId) the last interacted channel.
    use_last_interacted_channel: Option<bool>,
    /// Another segment.
    segment_id: Option<ID>,
    /// New content.
    content: Option<MessageContentInput>,
    /// New send-rate cap; null sends as fast as the channel allows.
    send_rate: MaybeUndefined<RateLimitInput>,
}

fn channel_choice(channel_id: Option<ID>, last_interacted: Option<bool>) -> ApiResult<Option<ChannelChoice>> {
    match (channel_id, last_interacted) {
        (Some(_), Some(true)) => {
            Err(ApiError::bad_input("channelId", "Choose a channel or useLastInteractedChannel, not both."))
        }
        (Some(id), _) => Ok(Some(ChannelChoice::Fixed(parse_id(&id, "channelId", "channel")?))),
        (None, Some(true)) => Ok(Some(ChannelChoice::LastInteracted)),
        (None, Some(false)) => Err(ApiError::bad_input("channelId", "Give the channelId to send on.")),
        (None, None) => Ok(None),
    }
}

#[derive(Default)]
pub struct BroadcastMutation;

#[Object]
impl BroadcastMutation {
    /// Creates a DRAFT broadcast. A channel that cannot broadcast, or content without the
    /// template or tag its channel needs, is BAD_USER_INPUT. MANAGER or above.
    async fn create_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast.")] input: CreateBroadcastInput,
    ) -> ApiResult<Broadcast> {
        let channel = channel_choice(input.channel_id, Some(input.use_last_interacted_channel))?;
        let Some(channel) = channel else {
            return Err(ApiError::bad_input("channelId", "Give a channelId, or set useLastInteractedChannel."));
        };
        let new = NewBroadcast {
            name: input.name,
            label: input.label,
            channel,
            segment_id: parse_id(&input.segment_id, "segmentId", "segment")?,
            content: input.content.into(),
            send_rate: input.send_rate.map(RateLimitInput::into_rate),
        };
        Ok(Broadcast(broadcasts::create_broadcast(ctx.app(), ctx.scope()?, new).await?))
    }

    /// Changes a DRAFT (anything else is CONFLICT). MANAGER or above.
    async fn update_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateBroadcastInput,
    ) -> ApiResult<Broadcast> {
        let id = parse_id(&id, "id", "broadcast")?;
        let changes = BroadcastChanges {
            name: input.name,
            label: maybe(input.label),
            channel: channel_choice(input.channel_id, input.use_last_interacted_channel)?,
            segment_id: input.segment_id.map(|s| parse_id(&s, "segmentId", "segment")).transpose()?,
            content: input.content.map(Into::into),
            send_rate: maybe(input.send_rate).map(|rate| rate.map(RateLimitInput::into_rate)),
        };
        Ok(Broadcast(broadcasts::update_broadcast(ctx.app(), ctx.scope()?, id, changes).await?))
    }

    /// Deletes a broadcast that sent nothing (DRAFT, SCHEDULED, or FAILED when starting);
    /// answers its id. MANAGER or above.
    async fn delete_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
    ) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "broadcast")?;
        Ok(broadcasts::delete_broadcast(ctx.app(), ctx.scope()?, id).await?.into())
    }

    /// Schedules a DRAFT (or moves a SCHEDULED one) to start at `at`; targetRecipients
    /// becomes the segment's size now. MANAGER or above.
    async fn schedule_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
        #[graphql(desc = "When to start it (RFC 3339), in the future.")] at: DateTime<Utc>,
    ) -> ApiResult<Broadcast> {
        let id = parse_id(&id, "id", "broadcast")?;
        Ok(Broadcast(broadcasts::schedule_broadcast(ctx.app(), ctx.scope()?, id, at).await?))
    }

    /// Sends a DRAFT or SCHEDULED broadcast now: it is SCHEDULED for now and the dispatcher
    /// starts it at once (follow it with broadcastProgress). MANAGER or above.
    async fn send_broadcast_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
    ) -> ApiResult<Broadcast> {
        let id = parse_id(&id, "id", "broadcast")?;
        Ok(Broadcast(broadcasts::send_broadcast_now(ctx.app(), ctx.scope()?, id).await?))
    }

    /// Cancels a SCHEDULED broadcast: it returns to DRAFT. MANAGER or above.
    async fn cancel_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] id: ID,
    ) -> ApiResult<Broadcast> {
        let id = parse_id(&id, "id", "broadcast")?;
        Ok(Broadcast(broadcasts::cancel_broadcast(ctx.app(), ctx.scope()?, id).await?))
    }

    /// Creates a new broadcast, linked to a COMPLETED one (`resendOf`), to exactly the
    /// recipients whose message failed (optionally only with the given error codes) — or to
    /// all its recipients with onlyFailed false — as a DRAFT or sent at once. Replaces seed
    /// 000's export / re-import / tag / segment / resend steps. MANAGER or above.
    async fn resend_broadcast(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The original broadcast's id.")] id: ID,
        #[graphql(desc = "Only the recipients whose message failed.", default = true)] only_failed: bool,
        #[graphql(desc = "Only failures with one of these error codes (with onlyFailed).", default)] error_codes: Vec<
            String,
        >,
        #[graphql(desc = "Send at once instead of creating a DRAFT.", default = false)] send_now: bool,
    ) -> ApiResult<Broadcast> {
        let id = parse_id(&id, "id", "broadcast")?;
        let filter = ResendFilter { only_failed, error_codes };
        Ok(Broadcast(broadcasts::resend_broadcast(ctx.app(), ctx.scope()?, id, filter, send_now).await?))
    }
}

/// A broadcast's progress at one moment.
pub struct BroadcastProgress(Arc<ProgressSnapshot>);

/// A broadcast's progress: counts so far, the current rate and when it should end.
#[Object]
impl BroadcastProgress {
    /// The broadcast's id.
    async fn broadcast_id(&self) -> ID {
        self.0.broadcast_id.into()
    }

    /// Its status; the last event of a stream carries COMPLETED or FAILED.
    async fn status(&self) -> BroadcastStatus {
        self.0.status.into()
    }

    /// Why it failed (FAILED only), as a stable key.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// Target recipients (the segment's size when scheduled).
    async fn target(&self) -> Option<i64> {
        self.0.target
    }

    /// Messages it expanded to.
    async fn total(&self) -> i64 {
        self.0.total
    }

    /// Messages attempted so far (sent or failed).
    async fn processed(&self) -> i64 {
        self.0.processed
    }

    /// Messages the provider accepted.
    async fn sent(&self) -> i64 {
        self.0.sent
    }

    /// Messages delivered.
    async fn delivered(&self) -> i64 {
        self.0.delivered
    }

    /// Messages read.
    async fn read(&self) -> i64 {
        self.0.read
    }

    /// Messages failed.
    async fn failed(&self) -> i64 {
        self.0.failed
    }

    /// Messages replied to.
    async fn replied(&self) -> i64 {
        self.0.replied
    }

    /// Messages attempted per second, over the last few seconds.
    async fn current_rate(&self) -> f64 {
        self.0.current_rate
    }

    /// When it should finish at the current rate (RUNNING only).
    async fn estimated_completion_at(&self) -> Option<DateTime<Utc>> {
        self.0.estimated_completion_at
    }

    /// When these numbers were taken.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What happened to a broadcast.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum BroadcastChangeAction {
    /// It was created.
    Created,
    /// It changed: its settings or its status.
    Updated,
    /// It was deleted.
    Deleted,
}

/// A broadcast that changed.
#[derive(SimpleObject)]
pub struct BroadcastChange {
    /// The broadcast's id.
    broadcast_id: ID,
    /// What happened.
    action: BroadcastChangeAction,
    /// Its status after the change.
    status: BroadcastStatus,
}

#[derive(Default)]
pub struct BroadcastSubscription;

#[Subscription]
impl BroadcastSubscription {
    /// A broadcast's progress: a snapshot at once, then the newest numbers at most ten times a
    /// second while they change, and a last event with COMPLETED or FAILED, after which the
    /// stream ends.
    async fn broadcast_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The broadcast's id.")] broadcast_id: ID,
    ) -> Result<impl Stream<Item = BroadcastProgress> + use<>, ApiError> {
        let id = parse_id(&broadcast_id, "broadcastId", "broadcast")?;
        let subscription = broadcasts::follow_progress(ctx.app(), ctx.scope()?, id).await?;
        Ok(progress::stream(subscription).map(BroadcastProgress))
    }

    /// Every broadcast of the workspace that is created, changed, deleted or changes status.
    async fn broadcast_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = BroadcastChange> + use<>, ApiError> {
        let workspace_id = ctx.scope()?.workspace_id;
        let events = BroadcastStream::new(ctx.app().events.subscribe());
        Ok(events.filter_map(move |event| match event {
            Ok(event) => match *event {
                Event::BroadcastChanged { workspace_id: w, broadcast_id, action, status } if w == workspace_id => {
                    Some(BroadcastChange {
                        broadcast_id: broadcast_id.into(),
                        action: match action {
                            events::ChangeAction::Created => BroadcastChangeAction::Created,
                            events::ChangeAction::Updated => BroadcastChangeAction::Updated,
                            events::ChangeAction::Deleted => BroadcastChangeAction::Deleted,
                        },
                        status: status.into(),
                    })
                }
                _ => None,
            },
            Err(lagged) => {
                tracing::warn!(error = %lagged, "a broadcastChanged subscriber fell behind and skipped events");
                None
            }
        }))
    }
}
