//! Users and their access levels.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::user;

use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::enums::Role;
use crate::graphql::loaders::{self, TeamsOfUser};
use crate::graphql::team::Team;
use crate::services::users;

pub struct User(pub user::Model);

/// A person of the workspace.
#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// Full name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Email address, unique within the workspace.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// Access level.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// Teams the user belongs to.
    async fn teams(&self, ctx: &Context<'_>) -> ApiResult<Vec<Team>> {
        let teams = loaders::from_context(ctx).load_one(TeamsOfUser(self.0.id)).await?.unwrap_or_default();
        Ok(teams.into_iter().map(Team).collect())
    }

    /// When the user was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// Every user of the workspace, by name.
    async fn users(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        Ok(users::list_users(ctx.app(), ctx.scope()?).await?.into_iter().map(User).collect())
    }

    /// One user; null when there is none with this id in the workspace.
    async fn user(&self, ctx: &Context<'_>, #[graphql(desc = "The user's id.")] id: ID) -> ApiResult<Option<User>> {
        let id = parse_id(&id, "id", "user")?;
        Ok(users::find_user(ctx.app(), ctx.scope()?, id).await?.map(User))
    }
}

/// A user to add.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// Full name.
    name: String,
    /// Email address, unique within the workspace.
    email: String,
    /// Access level; only an OWNER can add an OWNER.
    role: Role,
}

/// Changes to a user; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// New name.
    name: Option<String>,
    /// New email address.
    email: Option<String>,
    /// New access level; only an OWNER can make, change or remove an OWNER.
    role: Option<Role>,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Adds a user. OWNER or ADMIN.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to add.")] input: CreateUserInput,
    ) -> ApiResult<User> {
        let new = users::NewUser { name: input.name, email: input.email, role: input.role.into() };
        Ok(User(users::create_user(ctx.app(), ctx.scope()?, new).await?))
    }

    /// Changes a user's name, email or access level. OWNER or ADMIN.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateUserInput,
    ) -> ApiResult<User> {
        let id = parse_id(&id, "id", "user")?;
        let changes = users::UserChanges { name: input.name, email: input.email, role: input.role.map(Into::into) };
        Ok(User(users::update_user(ctx.app(), ctx.scope()?, id, changes).await?))
    }

    /// Removes a user and their API tokens; answers the removed user's id. OWNER or ADMIN.
    async fn delete_user(&self, ctx: &Context<'_>, #[graphql(desc = "The user's id.")] id: ID) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "user")?;
        Ok(users::delete_user(ctx.app(), ctx.scope()?, id).await?.into())
    }
}
