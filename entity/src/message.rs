//! `messages`: one row per recipient of a broadcast, per single send and per inbound
//! message. The dispatcher's durable outbox.

use sea_orm::entity::prelude::*;

use crate::{DeliveryStatus, MessageDirection, MessageSource, MessageType};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    /// Unique together with `contact_id`: expanding a broadcast twice adds nothing.
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub direction: MessageDirection,
    /// Outgoing only.
    pub source: Option<MessageSource>,
    pub message_type: Option<MessageType>,
    /// Facebook tag or WhatsApp template name.
    pub subtype: Option<String>,
    pub content: Json,
    /// The recipient's identifier on the channel at send time.
    pub address: Option<String>,
    pub status: DeliveryStatus,
    pub queued_at: Option<DateTimeUtc>,
    pub sending_at: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    /// A broadcast message the contact answered within 24 hours.
    pub replied_at: Option<DateTimeUtc>,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub sent_by_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
