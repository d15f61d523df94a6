//! Database migrations, one file per change: `mYYYYMMDD_NNNNNN_<verb>_<table>.rs`.
//!
//! Migrations never import the `entity` crate: they describe the schema as it was on the day
//! they were written, so later entity changes cannot rewrite history.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_workspaces;
mod m20261122_000002_create_users;
mod m20261122_000003_create_teams;
mod m20261122_000004_create_api_tokens;
mod m20261122_000005_create_channels;
mod m20261122_000006_create_contact_fields;
mod m20261122_000007_create_contacts;
mod m20261122_000008_create_tags;
mod m20261122_000009_create_contact_channels;
mod m20261122_000010_create_segments;
mod m20261122_000011_create_broadcasts;
mod m20261122_000012_create_messages;
mod m20261122_000013_alter_messages;
mod m20261122_000014_alter_broadcasts;
mod m20261122_000015_alter_messages;
mod m20261122_000016_report_indexes;
mod m20261201_000017_create_rate_limits;
mod m20261202_000018_create_early_statuses;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_workspaces::Migration),
            Box::new(m20261122_000002_create_users::Migration),
            Box::new(m20261122_000003_create_teams::Migration),
            Box::new(m20261122_000004_create_api_tokens::Migration),
            Box::new(m20261122_000005_create_channels::Migration),
            Box::new(m20261122_000006_create_contact_fields::Migration),
            Box::new(m20261122_000007_create_contacts::Migration),
            Box::new(m20261122_000008_create_tags::Migration),
            Box::new(m20261122_000009_create_contact_channels::Migration),
            Box::new(m20261122_000010_create_segments::Migration),
            Box::new(m20261122_000011_create_broadcasts::Migration),
            Box::new(m20261122_000012_create_messages::Migration),
            Box::new(m20261122_000013_alter_messages::Migration),
            Box::new(m20261122_000014_alter_broadcasts::Migration),
            Box::new(m20261122_000015_alter_messages::Migration),
            Box::new(m20261122_000016_report_indexes::Migration),
            Box::new(m20261201_000017_create_rate_limits::Migration),
            Box::new(m20261202_000018_create_early_statuses::Migration),
        ]
    }
}

/// A foreign key from `table.column` to `target.id`, declared inside `CREATE TABLE`
/// (SQLite cannot add one later).
pub(crate) fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(on_delete)
        .to_owned()
}

/// An index named `idx_<table>_<columns>`.
pub(crate) fn index(table: &'static str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!("idx_{table}_{}", columns.join("_"))).table(table);
    for column in columns {
        stmt.col(*column);
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}
