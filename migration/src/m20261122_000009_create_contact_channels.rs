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
                    .table("contact_channels")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(big_integer("contact_id"))
                    .col(big_integer("channel_id"))
                    .col(string("identifier"))
                    .col(timestamp_with_time_zone_null("last_incoming_at"))
                    .col(timestamp_with_time_zone_null("unreachable_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("contact_channels", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("contact_channels", "contact_id", "contacts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("contact_channels", "channel_id", "channels", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("contact_channels", &["channel_id", "identifier"], true)).await?;
        manager.create_index(index("contact_channels", &["contact_id", "channel_id"], true)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("contact_channels").to_owned()).await
    }
}
