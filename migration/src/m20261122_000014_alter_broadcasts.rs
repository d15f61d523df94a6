//! A resend's recipients: which of the original broadcast's messages it goes to
//! (`{"onlyFailed": bool, "errorCodes": [..]}`), evaluated when it starts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("broadcasts").add_column(json_binary_null("resend_filter")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("broadcasts").drop_column("resend_filter").to_owned()).await
    }
}
