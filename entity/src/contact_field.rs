//! `contact_fields`: the custom fields a workspace defines for its contacts.

use sea_orm::entity::prelude::*;

use crate::ContactFieldType;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_fields")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    /// Stable machine key (`loyalty_level`), unique within the workspace; the key in
    /// `contacts.custom_fields`.
    pub key: String,
    /// Label shown to people.
    pub name: String,
    pub field_type: ContactFieldType,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
