//! `contacts`: the people a workspace messages.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// E.164 (`+593991234567`).
    pub phone: Option<String>,
    /// Trimmed and lower-cased.
    pub email: Option<String>,
    /// BCP 47 language tag (`es`, `pt-BR`).
    pub language: Option<String>,
    /// Custom field values keyed by `contact_fields.key`.
    pub custom_fields: Json,
    /// Last time the contact wrote to the workspace, on any channel.
    pub last_interaction_at: Option<DateTimeUtc>,
    pub last_interacted_channel_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
