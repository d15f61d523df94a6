//! `broadcasts`: one message content sent to a segment over a channel.

use sea_orm::entity::prelude::*;

use crate::BroadcastStatus;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub label: Option<String>,
    /// The channel; `None` with `use_last_interacted_channel` sends each contact on the
    /// channel it last wrote from.
    pub channel_id: Option<i64>,
    pub use_last_interacted_channel: bool,
    /// `None` once the segment is deleted: the broadcast then fails with the seed's reason.
    pub segment_id: Option<i64>,
    /// Text, WhatsApp template (name, language, parameters) or Messenger tag.
    pub content: Json,
    /// Send-rate cap: `send_rate_count` messages per `send_rate_period_secs`.
    pub send_rate_count: Option<i32>,
    pub send_rate_period_secs: Option<i32>,
    pub status: BroadcastStatus,
    /// Why the whole broadcast failed (a seed reason).
    pub failure_reason: Option<String>,
    pub scheduled_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_by_user_id: Option<i64>,
    pub sent_by_user_id: Option<i64>,
    /// The broadcast this one resends to the failed recipients of.
    pub resend_of_id: Option<i64>,
    /// For a resend: which of the original's recipients it goes to
    /// (`{"onlyFailed": bool, "errorCodes": [..]}`).
    pub resend_filter: Option<Json>,
    /// Segment size when scheduled.
    pub target_recipients: Option<i64>,
    /// Recipients a message was attempted for.
    pub completed_recipients: i64,
    /// Contacts left out: duplicates and identifiers malformed for the channel.
    pub excluded_recipients: i64,
    pub total_messages: i64,
    pub sent_count: i64,
    pub delivered_count: i64,
    pub read_count: i64,
    pub failed_count: i64,
    pub replied_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
