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
                    .table("teams")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("teams", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("teams", &["workspace_id", "name"], true)).await?;
        manager
            .create_table(
                Table::create()
                    .table("team_members")
                    .col(big_integer("team_id"))
                    .col(big_integer("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("team_id").col("user_id"))
                    .foreign_key(&mut fk("team_members", "team_id", "teams", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("team_members", "user_id", "users", ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("team_members", &["user_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("team_members").to_owned()).await?;
        manager.drop_table(Table::drop().table("teams").to_owned()).await
    }
}
