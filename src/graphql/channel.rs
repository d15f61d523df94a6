//! Channels and the capability table.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::channel;

use crate::channels::{self as caps, MessagingWindow, capabilities};
use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::enums::{BroadcastRequirement, ChannelKind, DeliveryStatus, IdentifierKind};
use crate::graphql::scalars::JsonObject;
use crate::graphql::workspace::maybe;
use crate::services::channels;

pub struct Channel(pub channel::Model);

/// A connected messaging account: a WhatsApp number, a Messenger page, a Telegram bot…
#[Object]
impl Channel {
    /// The channel's id (the seed's "ID del canal").
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The name the workspace gave it.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The provider.
    async fn kind(&self) -> ChannelKind {
        self.0.kind.into()
    }

    /// What this kind of channel can do.
    async fn capabilities(&self) -> ChannelCapabilities {
        ChannelCapabilities(capabilities(self.0.kind))
    }

    /// The provider API base URL in use: the override, else the official host. Null for
    /// kinds not reached over HTTP.
    async fn base_url(&self) -> Option<String> {
        channels::effective_base_url(&self.0)
    }

    /// Whether `baseUrl` is an override rather than the official host.
    async fn base_url_overridden(&self) -> bool {
        self.0.base_url.is_some()
    }

    /// The names of the credentials set on the channel. Values are write-only and never
    /// returned.
    async fn credential_keys(&self) -> Vec<String> {
        channels::credential_keys(&self.0)
    }

    /// The rate messages are sent at: the override, else the kind's default.
    async fn rate_limit(&self) -> RateLimit {
        channels::effective_rate(&self.0).into()
    }

    /// Whether `rateLimit` is an override rather than the kind's default.
    async fn rate_limit_overridden(&self) -> bool {
        self.0.rate_limit_count.is_some()
    }

    /// Messages per rolling 24 hours the provider accepts from this account (e.g. a
    /// WhatsApp tier); null when unlimited. Beyond it, messages fail with that reason.
    async fn daily_limit(&self) -> Option<i32> {
        self.0.daily_limit
    }

    /// When the channel was connected.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// `count` messages per `periodSeconds` seconds.
#[derive(SimpleObject)]
pub struct RateLimit {
    /// Messages per period.
    count: i32,
    /// The period, in seconds.
    period_seconds: i32,
    /// The same rate, in messages per second.
    per_second: f64,
}

impl From<caps::RateLimit> for RateLimit {
    fn from(rate: caps::RateLimit) -> Self {
        RateLimit {
            count: rate.count as i32,
            period_seconds: rate.period_secs as i32,
            per_second: rate.per_second_f64(),
        }
    }
}

/// A rate: `count` messages per `periodSeconds` seconds.
#[derive(InputObject)]
pub struct RateLimitInput {
    /// Messages per period, 1 to 100000.
    count: i32,
    /// The period in seconds, 1 to 86400 (default 1).
    #[graphql(default = 1)]
    period_seconds: i32,
}

impl RateLimitInput {
    pub(crate) fn into_rate(self) -> caps::RateLimit {
        // Negative numbers become 0, which the service rejects with a clear message.
        caps::RateLimit { count: self.count.max(0) as u32, period_secs: self.period_seconds.max(0) as u32 }
    }
}

pub struct ChannelCapabilities(&'static caps::Capabilities);

/// What a kind of channel can do (seed 003: capabilities, statuses, windows, rate limits).
#[Object]
impl ChannelCapabilities {
    /// The kind these capabilities describe.
    async fn kind(&self) -> ChannelKind {
        self.0.kind.into()
    }

    /// The provider's name.
    async fn label(&self) -> &str {
        self.0.label
    }

    /// Whether broadcasts can be sent on it (not on Instagram, web chat, WeChat or email).
    async fn can_broadcast(&self) -> bool {
        self.0.can_broadcast
    }

    /// What a broadcast must carry on it: a WhatsApp template, a Messenger tag, or nothing.
    async fn broadcast_requirement(&self) -> BroadcastRequirement {
        self.0.broadcast_requirement.into()
    }

    /// Hours after a contact's last message during which the business may write freely;
    /// null when the channel has no such window.
    async fn messaging_window_hours(&self) -> Option<i32> {
        match self.0.messaging_window {
            MessagingWindow::Hours(hours) => Some(hours as i32),
            MessagingWindow::None | MessagingWindow::WhileOnPage => None,
        }
    }

    /// The messaging window in words.
    async fn messaging_window_description(&self) -> String {
        match self.0.messaging_window {
            MessagingWindow::None => "No window: messages can be sent at any time.".into(),
            MessagingWindow::Hours(hours) if hours % 24 == 0 => {
                format!("{} days after the contact's last message.", hours / 24)
            }
            MessagingWindow::Hours(hours) => format!("{hours} hours after the contact's last message."),
            MessagingWindow::WhileOnPage => "Only while the visitor keeps the chat page open.".into(),
        }
    }

    /// The delivery statuses the provider reports back (seed 003's status table).
    async fn reported_statuses(&self) -> Vec<DeliveryStatus> {
        self.0.reported_statuses.iter().map(|s| (*s).into()).collect()
    }

    /// The default rate limit (seed 003's "Límites de frecuencia").
    async fn default_rate_limit(&self) -> RateLimit {
        self.0.default_rate.into()
    }

    /// How contacts are addressed on it.
    async fn identifier_kind(&self) -> IdentifierKind {
        self.0.identifier.into()
    }

    /// The provider's official API host, used when a channel sets no baseUrl.
    async fn official_base_url(&self) -> Option<&str> {
        self.0.official_base_url
    }

    /// Credentials a channel of this kind must have.
    async fn required_credentials(&self) -> Vec<&str> {
        self.0.required_credentials.to_vec()
    }

    /// Credentials it may also have.
    async fn optional_credentials(&self) -> Vec<&str> {
        self.0.optional_credentials.to_vec()
    }
}

#[derive(Default)]
pub struct ChannelQuery;

#[Object]
impl ChannelQuery {
    /// The workspace's channels, by name.
    async fn channels(&self, ctx: &Context<'_>) -> ApiResult<Vec<Channel>> {
        Ok(channels::list_channels(ctx.app(), ctx.scope()?).await?.into_iter().map(Channel).collect())
    }

    /// One channel; null when there is none with this id in the workspace.
    async fn channel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel's id.")] id: ID,
    ) -> ApiResult<Option<Channel>> {
        let id = parse_id(&id, "id", "channel")?;
        Ok(channels::find_channel(&ctx.app().db, ctx.scope()?, id).await?.map(Channel))
    }

    /// The capability table of every channel kind, to choose one before connecting it.
    async fn channel_kinds(&self, ctx: &Context<'_>) -> ApiResult<Vec<ChannelCapabilities>> {
        ctx.scope()?;
        Ok(caps::capabilities::all().iter().map(ChannelCapabilities).collect())
    }
}

/// A channel to connect.
#[derive(InputObject)]
pub struct CreateChannelInput {
    /// A name for it, e.g. "WhatsApp ventas".
    name: String,
    /// The provider.
    kind: ChannelKind,
    /// The provider credentials, as the kind's `requiredCredentials` and
    /// `optionalCredentials` name them, e.g. {"botToken": "123:abc"}. Write-only.
    #[graphql(default)]
    credentials: JsonObject,
    /// Override of the provider API base URL (tests and staging point it at a mock).
    /// Required for CUSTOM channels: the URL messages are posted to.
    base_url: Option<String>,
    /// Override of the kind's default rate limit.
    rate_limit: Option<RateLimitInput>,
    /// Messages per rolling 24 hours the provider accepts, if limited.
    daily_limit: Option<i32>,
}

/// Changes to a channel; fields left out stay as they are, null resets to the default.
#[derive(InputObject)]
pub struct UpdateChannelInput {
    /// New name.
    name: Option<String>,
    /// Credentials to set; merged into the stored ones (a key set to null is removed).
    credentials: Option<JsonObject>,
    /// New base URL; null returns to the official host.
    base_url: MaybeUndefined<String>,
    /// New rate limit; null returns to the kind's default.
    rate_limit: MaybeUndefined<RateLimitInput>,
    /// New daily limit; null removes it.
    daily_limit: MaybeUndefined<i32>,
}

#[derive(Default)]
pub struct ChannelMutation;

#[Object]
impl ChannelMutation {
    /// Connects a channel. OWNER or ADMIN.
    async fn create_channel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel to connect.")] input: CreateChannelInput,
    ) -> ApiResult<Channel> {
        let new = channels::NewChannel {
            name: input.name,
            kind: input.kind.into(),
            credentials: input.credentials.0,
            base_url: input.base_url,
            rate_limit: input.rate_limit.map(RateLimitInput::into_rate),
            daily_limit: input.daily_limit,
        };
        Ok(Channel(channels::create_channel(ctx.app(), ctx.scope()?, new).await?))
    }

    /// Changes a channel. OWNER or ADMIN.
    async fn update_channel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The channel's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateChannelInput,
    ) -> ApiResult<Channel> {
        let id = parse_id(&id, "id", "channel")?;
        let changes = channels::ChannelChanges {
            name: input.name,
            credentials: input.credentials.map(|c| c.0),
            base_url: maybe(input.base_url),
            rate_limit: maybe(input.rate_limit).map(|r| r.map(RateLimitInput::into_rate)),
            daily_limit: maybe(input.daily_limit),
        };
        Ok(Channel(channels::update_channel(ctx.app(), ctx.scope()?, id, changes).await?))
    }

    /// Deletes a channel: its settings and credentials are erased and contacts can no
    /// longer be reached through it (contacts stay). Cannot be undone. Answers the id.
    /// OWNER or ADMIN.
    async fn delete_channel(&self, ctx: &Context<'_>, #[graphql(desc = "The channel's id.")] id: ID) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "channel")?;
        Ok(channels::delete_channel(ctx.app(), ctx.scope()?, id).await?.into())
    }
}
