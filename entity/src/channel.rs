//! `channels`: a connected messaging account (a WhatsApp number, a Messenger page, a bot…).

use sea_orm::entity::prelude::*;

use crate::ChannelKind;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Provider API base URL; `None` means the kind's official host.
    pub base_url: Option<String>,
    /// Provider credentials, a JSON object of strings. Write-only through the API.
    pub credentials: Json,
    /// Rate-limit override: `rate_limit_count` messages per `rate_limit_period_secs`.
    pub rate_limit_count: Option<i32>,
    pub rate_limit_period_secs: Option<i32>,
    /// Messages per rolling 24 hours the provider accepts (e.g. a WhatsApp tier).
    pub daily_limit: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set when deleted: the row stays so that message history keeps its channel.
    pub deleted_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
