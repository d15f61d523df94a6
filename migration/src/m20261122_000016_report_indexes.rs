//! Indexes for the messages report: incoming messages by the time they arrived, outgoing ones
//! by the time they went out or failed (`COALESCE(sent_at, failed_at)`, an expression index:
//! the report filters and buckets on that exact expression).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str)] = &[
    ("idx_messages_report_incoming", "workspace_id, direction, created_at"),
    ("idx_messages_report_outgoing", "workspace_id, direction, (COALESCE(sent_at, failed_at))"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON messages ({columns})")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
