//! `rate_limits`: the shared GCRA state of a rate several instances hold together (the
//! dispatcher's `pacing` module reserves send slots from it on PostgreSQL).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limits")]
pub struct Model {
    /// What is limited: `channel:{id}` or `broadcast:{id}`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Theoretical arrival time: the earliest the next message may go.
    pub tat: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
