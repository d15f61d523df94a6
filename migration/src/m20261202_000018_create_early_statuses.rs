//! The return path's two guarantees in the schema:
//!
//! - `early_statuses`: a status a provider reported for a provider message id that no message
//!   carries yet. Providers often call back before their own HTTP answer to the send has
//!   arrived (that answer is what tells Pregón the id); such a status is held here and applied
//!   as soon as the acceptance records the id. Rows nothing claims within a day are removed.
//! - One inbound message per (channel, provider message id): providers redeliver callbacks
//!   (on timeouts, non-2xx answers, or as a matter of course), and a redelivery must not store
//!   the message twice. Earlier duplicates are removed (the first copy stays) before the unique
//!   index is built.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INBOUND_INDEX: &str = "idx_messages_inbound_channel_id_provider_message_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("early_statuses")
                    .col(big_pk_auto("id"))
                    .col(big_integer("channel_id"))
                    .col(string("provider_message_id"))
                    .col(string("status"))
                    .col(string_null("error_code"))
                    .col(text_null("error_text"))
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(crate::index("early_statuses", &["channel_id", "provider_message_id"], false)).await?;
        manager.create_index(crate::index("early_statuses", &["received_at"], false)).await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "DELETE FROM messages WHERE direction = 'INCOMING' AND provider_message_id IS NOT NULL \
             AND id NOT IN (SELECT MIN(id) FROM messages WHERE direction = 'INCOMING' \
             AND provider_message_id IS NOT NULL GROUP BY channel_id, provider_message_id)",
        )
        .await?;
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {INBOUND_INDEX} ON messages (channel_id, provider_message_id) \
             WHERE direction = 'INCOMING' AND provider_message_id IS NOT NULL"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(&format!("DROP INDEX {INBOUND_INDEX}")).await?;
        manager.drop_table(Table::drop().table("early_statuses").to_owned()).await
    }
}
