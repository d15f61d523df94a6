//! `api_tokens`: bearer tokens. Only a SHA-256 hash of the secret is stored.

use sea_orm::entity::prelude::*;

use crate::Role;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub user_id: i64,
    pub name: String,
    /// The access level the token carries; never above its user's.
    pub role: Role,
    /// Hex SHA-256 of the whole token; unique.
    pub token_hash: String,
    /// The first characters of the token, to recognise it in a list.
    pub token_prefix: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "user_id", to = "id")]
    pub user: BelongsTo<super::user::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
