//! Segments: saved, dynamic filters over contacts. Membership is evaluated whenever asked
//! (and, for broadcasts, when one starts), never stored.
//!
//! Seed 000's rules: a name is unique within the workspace ("El nombre del segmento de
//! contacto debe ser único") and a workspace has at most 500 segments. Managers and above
//! manage segments; everyone reads them.

pub mod filter;

use chrono::Utc;
use entity::{Role, contact, segment, workspace};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};

pub use filter::Filter;

use crate::app::App;
use crate::auth::Scope;
use crate::catalogue::Reason;
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;
use crate::services::field_error;

pub async fn list_segments(app: &App, scope: &Scope) -> ServiceResult<Vec<segment::Model>> {
    Ok(scope.select::<segment::Entity>().order_by_asc(segment::Column::Name).all(&app.db).await?)
}

pub async fn find_segment(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> ServiceResult<Option<segment::Model>> {
    scope.find::<segment::Entity>(conn, id).await
}

/// The segment, or the seed's "Segmento de contacto no encontrado".
pub async fn get_segment(conn: &impl ConnectionTrait, scope: &Scope, id: i64) -> ServiceResult<segment::Model> {
    find_segment(conn, scope, id).await?.ok_or(ServiceError::Catalogued(Reason::SegmentNotFound))
}

/// The filter a segment stores.
pub fn stored_filter(segment: &segment::Model) -> ServiceResult<Filter> {
    serde_json::from_value(segment.filter.clone()).map_err(|err| {
        ServiceError::internal(anyhow::anyhow!("segment {} has an unreadable filter: {err}", segment.id))
    })
}

pub async fn create_segment(app: &App, scope: &Scope, name: &str, filter: Filter) -> ServiceResult<segment::Model> {
    scope.require(Role::Manager, "Managing segments")?;
    let name = normalize::required_name(name, 100).map_err(field_error("name"))?;
    filter::validate(&app.db, scope, &filter).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    // Writing the workspace row first serialises segment creation per workspace (a row
    // lock on PostgreSQL, the write lock on SQLite), so two creations at 499 cannot both pass.
    let workspace = lock_workspace(&txn, scope).await?;
    let existing = scope.select::<segment::Entity>().count(&txn).await?;
    if existing >= workspace.segment_limit.max(0) as u64 {
        return Err(ServiceError::Catalogued(Reason::SegmentLimitReached));
    }
    let now = Utc::now();
    let created = segment::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name),
        filter: Set(serde_json::to_value(&filter).map_err(ServiceError::internal)?),
        created_by_user_id: Set(Some(scope.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(name_conflict)?;
    txn.commit().await?;
    Ok(created)
}

pub async fn update_segment(
    app: &App,
    scope: &Scope,
    id: i64,
    name: Option<String>,
    filter: Option<Filter>,
) -> ServiceResult<segment::Model> {
    scope.require(Role::Manager, "Managing segments")?;
    let current = get_segment(&app.db, scope, id).await?;
    let mut active: segment::ActiveModel = current.into();
    if let Some(name) = name {
        active.name = Set(normalize::required_name(&name, 100).map_err(field_error("name"))?);
    }
    if let Some(filter) = filter {
        filter::validate(&app.db, scope, &filter).await?;
        active.filter = Set(serde_json::to_value(&filter).map_err(ServiceError::internal)?);
    }
    active.updated_at = Set(Utc::now());
    active.update(&app.db).await.map_err(name_conflict)
}

pub async fn delete_segment(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Manager, "Managing segments")?;
    let current = get_segment(&app.db, scope, id).await?;
    scope.delete_many::<segment::Entity>().filter(segment::Column::Id.eq(current.id)).exec(&app.db).await?;
    Ok(current.id)
}

/// How many contacts match `filter` now.
pub async fn count_matching(app: &App, scope: &Scope, filter: &Filter) -> ServiceResult<u64> {
    let condition = filter::compile(&app.db, scope, filter).await?;
    Ok(scope.select::<contact::Entity>().filter(condition).count(&app.db).await?)
}

fn name_conflict(err: sea_orm::DbErr) -> ServiceError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ServiceError::Catalogued(Reason::SegmentNameNotUnique),
        _ => ServiceError::from(err),
    }
}

async fn lock_workspace(conn: &impl ConnectionTrait, scope: &Scope) -> ServiceResult<workspace::Model> {
    workspace::Entity::update_many()
        .col_expr(workspace::Column::UpdatedAt, Expr::col(workspace::Column::UpdatedAt))
        .filter(workspace::Column::Id.eq(scope.workspace_id))
        .exec(conn)
        .await?;
    scope.get::<workspace::Entity>(conn, "workspace", scope.workspace_id).await
}
