//! `early_statuses`: a delivery status a provider reported before Pregón knew which message it
//! is about (the provider's callback overtook its own answer to the send, the answer that
//! carries the provider's message id). Applied and removed once a message on the channel gets
//! that provider id; removed unapplied after a day.

use sea_orm::entity::prelude::*;

use crate::DeliveryStatus;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "early_statuses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub provider_message_id: String,
    /// SENT, DELIVERED, READ or FAILED.
    pub status: DeliveryStatus,
    /// The provider's code and text, for FAILED.
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub received_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
