//! The workspace: reading and changing its settings, and creating new ones.

use chrono::Utc;
use entity::{ChannelKind, Role, channel, user, workspace};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::app::App;
use crate::auth::Scope;
use crate::config::WorkspaceDefaults;
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;
use crate::services::{api_tokens, field_error};

/// Seed 000: "el número máximo de segmentos en un espacio de trabajo es 500".
pub const SEGMENT_LIMIT: i32 = 500;

pub async fn get_workspace(app: &App, scope: &Scope) -> ServiceResult<workspace::Model> {
    scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await
}

/// Changes to a workspace; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// `Some(None)` clears it.
    pub default_country: Option<Option<String>>,
}

pub async fn update_workspace(app: &App, scope: &Scope, changes: WorkspaceChanges) -> ServiceResult<workspace::Model> {
    scope.require(Role::Admin, "Changing the workspace")?;
    let current = get_workspace(app, scope).await?;
    let mut active: workspace::ActiveModel = current.into();
    if let Some(name) = changes.name {
        active.name = Set(normalize::required_name(&name, 100).map_err(field_error("name"))?);
    }
    if let Some(tz) = changes.time_zone {
        active.time_zone = Set(time_zone(&tz)?);
    }
    if let Some(country) = changes.default_country {
        let country = country.map(|c| normalize::country(&c)).transpose().map_err(field_error("defaultCountry"))?;
        active.default_country = Set(country);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(&app.db).await?)
}

fn time_zone(input: &str) -> ServiceResult<String> {
    let tz: chrono_tz::Tz = input.trim().parse().map_err(|_| {
        ServiceError::bad_input(
            "timeZone",
            format!("'{}' is not an IANA time zone such as 'America/Guayaquil' or 'UTC'.", input.trim()),
        )
    })?;
    Ok(tz.name().to_owned())
}

/// A new workspace, its owner, the owner's first API token (shown once) and its sandbox
/// channel.
pub struct CreatedWorkspace {
    pub workspace: workspace::Model,
    pub owner: user::Model,
    pub owner_token: String,
    pub sandbox_channel: channel::Model,
}

/// Creates a workspace with an owner, a sandbox channel and an owner token, in one
/// transaction. Used by first start, `pregon workspace create` and tests.
pub async fn create_workspace(
    db: &DatabaseConnection,
    settings: &WorkspaceDefaults,
) -> ServiceResult<CreatedWorkspace> {
    let name = normalize::required_name(&settings.name, 100).map_err(field_error("name"))?;
    let tz = time_zone(&settings.time_zone)?;
    let email = normalize::email(&settings.owner_email).map_err(field_error("ownerEmail"))?;
    let txn = crate::db::begin_write(db).await?;
    let created = create_in(&txn, name, tz, email, settings.monthly_message_limit).await?;
    txn.commit().await?;
    Ok(created)
}

async fn create_in(
    txn: &impl ConnectionTrait,
    name: String,
    time_zone: String,
    owner_email: String,
    monthly_message_limit: i64,
) -> ServiceResult<CreatedWorkspace> {
    let now = Utc::now();
    let workspace = workspace::ActiveModel {
        name: Set(name),
        time_zone: Set(time_zone),
        default_country: Set(None),
        monthly_broadcast_message_limit: Set(monthly_message_limit),
        segment_limit: Set(SEGMENT_LIMIT),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let owner = user::ActiveModel {
        workspace_id: Set(workspace.id),
        name: Set("Owner".into()),
        email: Set(owner_email),
        role: Set(Role::Owner),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let sandbox_channel = channel::ActiveModel {
        workspace_id: Set(workspace.id),
        name: Set("Sandbox (simulated, sends nothing)".into()),
        kind: Set(ChannelKind::Sandbox),
        base_url: Set(None),
        credentials: Set(serde_json::json!({})),
        rate_limit_count: Set(None),
        rate_limit_period_secs: Set(None),
        daily_limit: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let (_, owner_token) = api_tokens::insert_token(txn, workspace.id, owner.id, "Owner token", Role::Owner).await?;
    Ok(CreatedWorkspace { workspace, owner, owner_token, sandbox_channel })
}

/// Creates the first workspace when the database has none; `None` when one exists.
///
/// On PostgreSQL an advisory lock makes this safe when several instances start at once
/// against an empty database.
pub async fn ensure_first_workspace(
    db: &DatabaseConnection,
    settings: &WorkspaceDefaults,
) -> ServiceResult<Option<CreatedWorkspace>> {
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(727366001)").await?;
    }
    if workspace::Entity::find().count(&txn).await? > 0 {
        return Ok(None);
    }
    let name = normalize::required_name(&settings.name, 100).map_err(field_error("name"))?;
    let tz = time_zone(&settings.time_zone)?;
    let email = normalize::email(&settings.owner_email).map_err(field_error("ownerEmail"))?;
    let created = create_in(&txn, name, tz, email, settings.monthly_message_limit).await?;
    txn.commit().await?;
    Ok(Some(created))
}
