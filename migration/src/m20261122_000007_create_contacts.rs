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
                    .table("contacts")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(string_null("first_name"))
                    .col(string_null("last_name"))
                    .col(string_null("phone"))
                    .col(string_null("email"))
                    .col(string_null("language"))
                    .col(json_binary("custom_fields"))
                    .col(timestamp_with_time_zone_null("last_interaction_at"))
                    .col(big_integer_null("last_interacted_channel_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("contacts", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk(
                        "contacts",
                        "last_interacted_channel_id",
                        "channels",
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        // Keyset pagination (newest first) and the lookups duplicates and imports need.
        manager.create_index(index("contacts", &["workspace_id", "id"], false)).await?;
        manager.create_index(index("contacts", &["workspace_id", "created_at"], false)).await?;
        manager.create_index(index("contacts", &["workspace_id", "phone"], false)).await?;
        manager.create_index(index("contacts", &["workspace_id", "email"], false)).await?;
        manager.create_index(index("contacts", &["workspace_id", "last_interaction_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("contacts").to_owned()).await
    }
}
