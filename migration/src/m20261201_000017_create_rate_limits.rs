//! `rate_limits`: the shared state of every rate several instances must hold together (a
//! channel's rate, a broadcast's send rate). One row per key (`channel:12`, `broadcast:7`) with
//! its theoretical arrival time (GCRA): the earliest moment the next message may go. An
//! instance reserves a run of send slots by moving it forward in one statement, so the slots of
//! all instances never overlap. A row whose time has long passed means the same as no row and
//! may be deleted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("rate_limits")
                    .col(string("key").primary_key())
                    .col(timestamp_with_time_zone("tat"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("rate_limits").to_owned()).await
    }
}
