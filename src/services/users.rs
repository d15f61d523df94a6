//! Users of a workspace and their access levels.
//!
//! Rules: owners and admins manage users; only an owner makes, changes or removes an owner;
//! a workspace always keeps at least one owner; nobody deletes their own user.

use chrono::Utc;
use entity::{Role, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};

use crate::app::App;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::normalize;
use crate::services::field_error;

pub async fn list_users(app: &App, scope: &Scope) -> ServiceResult<Vec<user::Model>> {
    Ok(scope
        .select::<user::Entity>()
        .order_by_asc(user::Column::Name)
        .order_by_asc(user::Column::Id)
        .all(&app.db)
        .await?)
}

pub async fn find_user(app: &App, scope: &Scope, id: i64) -> ServiceResult<Option<user::Model>> {
    scope.find::<user::Entity>(&app.db, id).await
}

#[derive(Debug)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub role: Role,
}

pub async fn create_user(app: &App, scope: &Scope, new: NewUser) -> ServiceResult<user::Model> {
    scope.require(Role::Admin, "Adding users")?;
    require_owner_for(scope, new.role == Role::Owner)?;
    let name = normalize::required_name(&new.name, 100).map_err(field_error("name"))?;
    let email = normalize::email(&new.email).map_err(field_error("email"))?;
    let now = Utc::now();
    user::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name),
        email: Set(email.clone()),
        role: Set(new.role),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .map_err(conflict_on_unique(format!("A user with email {email} already exists in this workspace.")))
}

#[derive(Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
}

pub async fn update_user(app: &App, scope: &Scope, id: i64, changes: UserChanges) -> ServiceResult<user::Model> {
    scope.require(Role::Admin, "Changing users")?;
    let current = scope.get::<user::Entity>(&app.db, "user", id).await?;
    require_owner_for(scope, current.role == Role::Owner || changes.role == Some(Role::Owner))?;
    let demotes_owner = current.role == Role::Owner && changes.role.is_some_and(|role| role != Role::Owner);
    if demotes_owner {
        ensure_another_owner(&app.db, scope, current.id).await?;
    }
    let mut active: user::ActiveModel = current.into();
    if let Some(name) = changes.name {
        active.name = Set(normalize::required_name(&name, 100).map_err(field_error("name"))?);
    }
    let mut new_email = None;
    if let Some(email) = changes.email {
        let email = normalize::email(&email).map_err(field_error("email"))?;
        active.email = Set(email.clone());
        new_email = Some(email);
    }
    if let Some(role) = changes.role {
        active.role = Set(role);
    }
    active.updated_at = Set(Utc::now());
    active.update(&app.db).await.map_err(conflict_on_unique(format!(
        "A user with email {} already exists in this workspace.",
        new_email.unwrap_or_default()
    )))
}

/// Deletes a user; their API tokens go with them.
pub async fn delete_user(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Admin, "Removing users")?;
    let current = scope.get::<user::Entity>(&app.db, "user", id).await?;
    if current.id == scope.user_id {
        return Err(ServiceError::Conflict("You cannot remove your own user; ask another admin or owner.".into()));
    }
    require_owner_for(scope, current.role == Role::Owner)?;
    if current.role == Role::Owner {
        ensure_another_owner(&app.db, scope, current.id).await?;
    }
    let txn = crate::db::begin_write(&app.db).await?;
    // Messages keep no foreign key to users on PostgreSQL (see the migration that dropped it):
    // their sender is cleared here, as ON DELETE SET NULL would.
    scope
        .update_many::<entity::message::Entity>()
        .col_expr(entity::message::Column::SentByUserId, sea_orm::sea_query::Expr::val(None::<i64>))
        .filter(entity::message::Column::SentByUserId.eq(current.id))
        .exec(&txn)
        .await?;
    scope.delete_many::<user::Entity>().filter(user::Column::Id.eq(current.id)).exec(&txn).await?;
    txn.commit().await?;
    Ok(current.id)
}

fn require_owner_for(scope: &Scope, touches_owner: bool) -> ServiceResult<()> {
    if touches_owner && scope.role != Role::Owner {
        return Err(ServiceError::Forbidden("Only an OWNER can make, change or remove an OWNER.".into()));
    }
    Ok(())
}

async fn ensure_another_owner(conn: &impl ConnectionTrait, scope: &Scope, except: i64) -> ServiceResult<()> {
    let others = scope
        .select::<user::Entity>()
        .filter(user::Column::Role.eq(Role::Owner))
        .filter(user::Column::Id.ne(except))
        .count(conn)
        .await?;
    if others == 0 {
        return Err(ServiceError::Conflict(
            "A workspace needs at least one OWNER: make another user OWNER first.".into(),
        ));
    }
    Ok(())
}

/// Users by id, for loaders (only the caller's workspace).
pub async fn users_by_ids(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    ids: &[i64],
) -> ServiceResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace_id))
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?)
}
