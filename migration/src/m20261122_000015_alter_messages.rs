//! `messages` is the outbox a broadcast expands into, a million rows in one statement, so
//! what each row costs to write matters:
//!
//! - Three indexes only ever serve rows that have left the queue (looked up by the provider's
//!   id, counted by send time for daily limits, re-queued when a lease runs out); as partial
//!   indexes, queued rows are not written into them.
//! - On PostgreSQL every foreign key is a trigger run per inserted row: the five on `messages`
//!   took 19 of the 35 seconds of expanding 1,000,000 recipients. They go there, and the
//!   services hold those rules: channels are only soft-deleted, a broadcast with messages
//!   cannot be deleted, deleting a user clears `sent_by_user_id` and deleting (or merging away)
//!   a contact clears `contact_id` (its history stays, as ON DELETE SET NULL kept it), and
//!   workspaces are not deleted. SQLite cannot drop a constraint without rebuilding the table,
//!   and writes the same rows in about 5 s with them, so it keeps them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (the full index it replaces, the partial one, its columns, its condition)
const PARTIAL: [(&str, &str, &str, &str); 3] = [
    (
        "idx_messages_channel_id_provider_message_id",
        "idx_messages_channel_id_provider_message_id_set",
        "channel_id, provider_message_id",
        "provider_message_id IS NOT NULL",
    ),
    (
        "idx_messages_channel_id_sent_at",
        "idx_messages_channel_id_sent_at_set",
        "channel_id, sent_at",
        "sent_at IS NOT NULL",
    ),
    (
        "idx_messages_status_next_attempt_at",
        "idx_messages_status_next_attempt_at_sending",
        "status, next_attempt_at",
        "status = 'SENDING'",
    ),
];

const FOREIGN_KEYS: [&str; 5] = [
    "fk_messages_workspace_id",
    "fk_messages_broadcast_id",
    "fk_messages_contact_id",
    "fk_messages_channel_id",
    "fk_messages_sent_by_user_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (full, partial, columns, condition) in PARTIAL {
            db.execute_unprepared(&format!("CREATE INDEX {partial} ON messages ({columns}) WHERE {condition}")).await?;
            db.execute_unprepared(&format!("DROP INDEX {full}")).await?;
        }
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            for name in FOREIGN_KEYS {
                db.execute_unprepared(&format!("ALTER TABLE messages DROP CONSTRAINT {name}")).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            for (name, column, target, action) in [
                ("fk_messages_workspace_id", "workspace_id", "workspaces", "CASCADE"),
                ("fk_messages_broadcast_id", "broadcast_id", "broadcasts", "CASCADE"),
                ("fk_messages_contact_id", "contact_id", "contacts", "SET NULL"),
                ("fk_messages_channel_id", "channel_id", "channels", "SET NULL"),
                ("fk_messages_sent_by_user_id", "sent_by_user_id", "users", "SET NULL"),
            ] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE messages ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target} (id) ON DELETE {action}"
                ))
                .await?;
            }
        }
        for (full, partial, columns, _) in PARTIAL {
            db.execute_unprepared(&format!("CREATE INDEX {full} ON messages ({columns})")).await?;
            db.execute_unprepared(&format!("DROP INDEX {partial}")).await?;
        }
        Ok(())
    }
}
