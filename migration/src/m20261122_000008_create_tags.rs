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
                    .table("tags")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(string("name"))
                    .col(string("name_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("tags", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("tags", &["workspace_id", "name_key"], true)).await?;
        manager
            .create_table(
                Table::create()
                    .table("contact_tags")
                    .col(big_integer("contact_id"))
                    .col(big_integer("tag_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("contact_id").col("tag_id"))
                    .foreign_key(&mut fk("contact_tags", "contact_id", "contacts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("contact_tags", "tag_id", "tags", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        // "Contacts with tag X" (segments) reads this index without touching the table.
        manager.create_index(index("contact_tags", &["tag_id", "contact_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("contact_tags").to_owned()).await?;
        manager.drop_table(Table::drop().table("tags").to_owned()).await
    }
}
