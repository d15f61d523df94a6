use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let counter = |name: &'static str| big_integer(name).default(0).to_owned();
        manager
            .create_table(
                Table::create()
                    .table("broadcasts")
                    .col(big_pk_auto("id"))
                    .col(big_integer("workspace_id"))
                    .col(string("name"))
                    .col(string_null("label"))
                    .col(big_integer_null("channel_id"))
                    .col(boolean("use_last_interacted_channel").default(false))
                    .col(big_integer_null("segment_id"))
                    .col(json_binary("content"))
                    .col(integer_null("send_rate_count"))
                    .col(integer_null("send_rate_period_secs"))
                    .col(string("status"))
                    .col(string_null("failure_reason"))
                    .col(timestamp_with_time_zone_null("scheduled_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .col(big_integer_null("created_by_user_id"))
                    .col(big_integer_null("sent_by_user_id"))
                    .col(big_integer_null("resend_of_id"))
                    .col(big_integer_null("target_recipients"))
                    .col(counter("completed_recipients"))
                    .col(counter("excluded_recipients"))
                    .col(counter("total_messages"))
                    .col(counter("sent_count"))
                    .col(counter("delivered_count"))
                    .col(counter("read_count"))
                    .col(counter("failed_count"))
                    .col(counter("replied_count"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("broadcasts", "workspace_id", "workspaces", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("broadcasts", "channel_id", "channels", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("broadcasts", "segment_id", "segments", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("broadcasts", "created_by_user_id", "users", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("broadcasts", "sent_by_user_id", "users", ForeignKeyAction::SetNull))
                    .foreign_key(&mut fk("broadcasts", "resend_of_id", "broadcasts", ForeignKeyAction::SetNull))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("broadcasts", &["workspace_id", "status"], false)).await?;
        manager.create_index(index("broadcasts", &["workspace_id", "scheduled_at"], false)).await?;
        // The scheduler's scan: due SCHEDULED broadcasts of every workspace.
        manager.create_index(index("broadcasts", &["status", "scheduled_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("broadcasts").to_owned()).await
    }
}
