use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(big_integer("user_id"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("token_hash"))
                    .col(string("token_prefix"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("api_tokens", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("api_tokens", "user_id", "users", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("api_tokens", &["token_hash"], true)).await?;
        manager.create_index(index("api_tokens", &["workspace_id"], false)).await?;
        manager.create_index(index("api_tokens", &["user_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("api_tokens").to_owned()).await
    }
}
