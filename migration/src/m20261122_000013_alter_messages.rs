//! What the dispatcher needs of `messages`: when a broadcast message was replied to, and
//! indexes for claiming a lane's messages in order and for counting a channel's sends of the
//! last 24 hours.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("messages").add_column(timestamp_with_time_zone_null("replied_at")).to_owned(),
            )
            .await?;
        // A lane claims `WHERE broadcast_id = ? AND status = 'QUEUED' ORDER BY id LIMIT n`:
        // with `id` in the index that is an ordered range scan, not a sort of every queued row.
        // It covers what `(broadcast_id, status)` served, which goes.
        manager.drop_index(Index::drop().name("idx_messages_broadcast_id_status").table("messages").to_owned()).await?;
        manager.create_index(index("messages", &["broadcast_id", "status", "id"], false)).await?;
        // Daily limits: a channel's messages accepted in the last 24 hours.
        manager.create_index(index("messages", &["channel_id", "sent_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_messages_channel_id_sent_at").table("messages").to_owned()).await?;
        manager
            .drop_index(Index::drop().name("idx_messages_broadcast_id_status_id").table("messages").to_owned())
            .await?;
        manager.create_index(index("messages", &["broadcast_id", "status"], false)).await?;
        manager.alter_table(Table::alter().table("messages").drop_column("replied_at").to_owned()).await
    }
}
