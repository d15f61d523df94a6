//! `workspaces`: the tenant. Every other row belongs to exactly one workspace.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// IANA time zone name; reports and the broadcast calendar use it.
    pub time_zone: String,
    /// ISO 3166-1 alpha-2 region used to read phone numbers written without `+`.
    pub default_country: Option<String>,
    /// Plan limit: broadcast messages per calendar month.
    pub monthly_broadcast_message_limit: i64,
    /// Plan limit: segments per workspace (seed 000: 500).
    pub segment_limit: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
