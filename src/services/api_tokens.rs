//! API tokens: created for a user with an access level, shown once, revocable.

use chrono::Utc;
use entity::{Role, api_token, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, QueryOrder};

use crate::app::App;
use crate::auth::{self, Scope, role_name};
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;
use crate::services::field_error;

pub async fn list_api_tokens(app: &App, scope: &Scope) -> ServiceResult<Vec<api_token::Model>> {
    scope.require(Role::Admin, "Listing API tokens")?;
    Ok(scope.select::<api_token::Entity>().order_by_desc(api_token::Column::Id).all(&app.db).await?)
}

/// A token to create. `user_id` defaults to the caller's user and `role` to that user's.
#[derive(Debug)]
pub struct NewApiToken {
    pub name: String,
    pub user_id: Option<i64>,
    pub role: Option<Role>,
}

/// Creates a token; returns it and its secret, which is never available again.
pub async fn create_api_token(app: &App, scope: &Scope, new: NewApiToken) -> ServiceResult<(api_token::Model, String)> {
    scope.require(Role::Admin, "Creating API tokens")?;
    let name = normalize::required_name(&new.name, 100).map_err(field_error("name"))?;
    let owner = scope.get::<user::Entity>(&app.db, "user", new.user_id.unwrap_or(scope.user_id)).await?;
    let role = new.role.unwrap_or(owner.role);
    if role > owner.role {
        return Err(ServiceError::bad_input(
            "role",
            format!("A token cannot carry more than its user's access level ({}).", role_name(owner.role)),
        ));
    }
    if role > scope.role {
        return Err(ServiceError::Forbidden(format!(
            "You cannot create a token with more access ({}) than your own ({}).",
            role_name(role),
            role_name(scope.role)
        )));
    }
    insert_token(&app.db, scope.workspace_id, owner.id, &name, role).await
}

/// Revokes a token (idempotent). A token with more access than the caller's cannot be
/// revoked by the caller.
pub async fn revoke_api_token(app: &App, scope: &Scope, id: i64) -> ServiceResult<api_token::Model> {
    scope.require(Role::Admin, "Revoking API tokens")?;
    let token = scope.get::<api_token::Entity>(&app.db, "API token", id).await?;
    if token.role > scope.role {
        return Err(ServiceError::Forbidden(format!(
            "This token has more access ({}) than yours ({}).",
            role_name(token.role),
            role_name(scope.role)
        )));
    }
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(Utc::now()));
    Ok(active.update(&app.db).await?)
}

/// Stores a new token for `user_id` and returns it with its secret.
pub(crate) async fn insert_token(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
    name: &str,
    role: Role,
) -> ServiceResult<(api_token::Model, String)> {
    let generated = auth::generate_token();
    let model = api_token::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        role: Set(role),
        token_hash: Set(generated.hash),
        token_prefix: Set(generated.prefix),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok((model, generated.secret))
}

/// `pregon token create`: a token for the first user with `role` in the workspace (the
/// first workspace by default), creating that user when there is none. Returns the
/// workspace id and the secret.
pub async fn create_cli_token(
    db: &sea_orm::DatabaseConnection,
    workspace_id: Option<i64>,
    role: Role,
    name: &str,
) -> ServiceResult<(i64, String)> {
    use entity::workspace;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let workspace = match workspace_id {
        Some(id) => workspace::Entity::find_by_id(id).one(db).await?,
        None => workspace::Entity::find().order_by_asc(workspace::Column::Id).one(db).await?,
    }
    .ok_or_else(|| ServiceError::NotFound(format!("No workspace with id {}.", workspace_id.unwrap_or_default())))?;
    let existing = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(workspace.id))
        .filter(user::Column::Role.eq(role))
        .order_by_asc(user::Column::Id)
        .one(db)
        .await?;
    let holder = match existing {
        Some(user) => user,
        None => {
            let now = Utc::now();
            let label = role_name(role).to_lowercase();
            user::ActiveModel {
                workspace_id: Set(workspace.id),
                name: Set(format!("{} (CLI)", role_name(role))),
                email: Set(format!("cli-{label}-{}@pregon.invalid", now.timestamp_millis())),
                role: Set(role),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    };
    let name = normalize::required_name(name, 100).map_err(field_error("name"))?;
    let (_, secret) = insert_token(db, workspace.id, holder.id, &name, role).await?;
    Ok((workspace.id, secret))
}
