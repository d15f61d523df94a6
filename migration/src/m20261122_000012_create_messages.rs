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
                    .table("messages")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(big_integer_null("broadcast_id"))
                    .col(big_integer_null("contact_id"))
                    .col(big_integer_null("channel_id"))
                    .col(string("direction"))
                    .col(string_null("source"))
                    .col(string_null("message_type"))
                    .col(string_null("subtype"))
                    .col(json_binary("content"))
                    .col(string_null("address"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone_null("queued_at"))
                    .col(timestamp_with_time_zone_null("sending_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(timestamp_with_time_zone_null("read_at"))
                    .col(timestamp_with_time_zone_null("failed_at"))
                    .col(string_null("provider_message_id"))
                    .col(string_null("error_code"))
                    .col(text_null("error_text"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(big_integer_null("sent_by_user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("messages", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("messages", "broadcast_id", "broadcasts", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("messages", "contact_id", "contacts", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("messages", "channel_id", "channels", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("messages", "sent_by_user_id", "users", ForeignKeyAction::SetNull))
                    .to_owned(),
            )
            .await?;
        // One message per recipient of a broadcast: re-running expansion adds nothing.
        manager.create_index(index("messages", &["broadcast_id", "contact_id"], true)).await?;
        manager.create_index(index("messages", &["broadcast_id", "status"], false)).await?;
        manager.create_index(index("messages", &["workspace_id", "created_at"], false)).await?;
        manager.create_index(index("messages", &["contact_id", "created_at"], false)).await?;
        // The dispatcher's claim: due QUEUED messages.
        manager.create_index(index("messages", &["status", "next_attempt_at"], false)).await?;
        // Provider status callbacks find their message by the provider's id.
        manager.create_index(index("messages", &["channel_id", "provider_message_id"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("messages").to_owned()).await
    }
}
