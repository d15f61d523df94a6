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
                    .table("contact_fields")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(string("key"))
                    .col(string("name"))
                    .col(string("field_type"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("contact_fields", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("contact_fields", &["workspace_id", "key"], true)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("contact_fields").to_owned()).await
    }
}
