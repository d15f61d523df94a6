//! Indexes for the messages report: incoming messages by the time they arrived, outgoing ones
//! by the time they went out or failed (`COALESCE(sent_at, failed_at)`, an expression index:
//! the report filters on that exact expression). Both cover the columns the report groups by,
//! so a month of a million messages is read from the index alone (PostgreSQL `INCLUDE`; on
//! SQLite the same columns trail the key).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const GROUPED: &str = "channel_id, source, message_type, subtype, status, sent_at, failed_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DbBackend::Postgres => [
                "CREATE INDEX idx_messages_report_incoming ON messages (workspace_id, direction, created_at) INCLUDE (channel_id)".to_owned(),
                format!(
                    "CREATE INDEX idx_messages_report_outgoing ON messages (workspace_id, direction, (COALESCE(sent_at, failed_at))) INCLUDE ({GROUPED})"
                ),
            ],
            _ => [
                "CREATE INDEX idx_messages_report_incoming ON messages (workspace_id, direction, created_at, channel_id)".to_owned(),
                format!(
                    "CREATE INDEX idx_messages_report_outgoing ON messages (workspace_id, direction, (COALESCE(sent_at, failed_at)), {GROUPED})"
                ),
            ],
        };
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in ["idx_messages_report_incoming", "idx_messages_report_outgoing"] {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
