//! `contact_channels`: a contact's identifier on one channel (phone, PSID, chat id…) and
//! its messaging window.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub contact_id: i64,
    pub channel_id: i64,
    /// Unique per channel: one conversation belongs to one contact.
    pub identifier: String,
    /// Last inbound message on this channel: the start of the messaging window.
    pub last_incoming_at: Option<DateTimeUtc>,
    /// Set when the provider says the contact cannot be reached (e.g. blocked the bot).
    pub unreachable_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "contact_id", to = "id")]
    pub contact: BelongsTo<super::contact::Entity>,
    #[sea_orm(belongs_to, from = "channel_id", to = "id")]
    pub channel: BelongsTo<super::channel::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
