//! The workspace and the viewer.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::workspace;

use crate::auth::Scope;
use crate::error::ApiResult;
use crate::graphql::context::ContextExt;
use crate::graphql::enums::Role;
use crate::graphql::user::User;
use crate::services::{users, workspaces};

pub struct Workspace(pub workspace::Model);

/// A workspace: the business whose contacts, channels and broadcasts these are.
#[Object]
impl Workspace {
    /// The workspace's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The workspace's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// IANA time zone (e.g. America/Guayaquil); reports and the broadcast calendar use it.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// ISO 3166-1 alpha-2 country used to read phone numbers written without a country code.
    async fn default_country(&self) -> Option<&str> {
        self.0.default_country.as_deref()
    }

    /// The plan's limits.
    async fn limits(&self) -> WorkspaceLimits {
        WorkspaceLimits {
            monthly_broadcast_messages: self.0.monthly_broadcast_message_limit,
            segments: self.0.segment_limit,
        }
    }

    /// When the workspace was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The limits of a workspace's plan.
#[derive(SimpleObject)]
pub struct WorkspaceLimits {
    /// Broadcast messages the plan allows per calendar month.
    monthly_broadcast_messages: i64,
    /// Segments a workspace may have (500).
    segments: i32,
}

pub struct Viewer(Scope);

/// Who is calling: the token's user, access level and workspace.
#[Object]
impl Viewer {
    /// The user the API token belongs to.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let app = ctx.app();
        let user = users::find_user(app, &self.0, self.0.user_id).await?;
        Ok(User(user.ok_or_else(crate::error::ApiError::unauthenticated)?))
    }

    /// The access level of this request: the token's, never above its user's.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The id of the API token this request used.
    async fn token_id(&self) -> ID {
        self.0.token_id.into()
    }

    /// The workspace the token belongs to; every read and write is confined to it.
    async fn workspace(&self, ctx: &Context<'_>) -> ApiResult<Workspace> {
        Ok(Workspace(workspaces::get_workspace(ctx.app(), &self.0).await?))
    }
}

#[derive(Default)]
pub struct WorkspaceQuery;

#[Object]
impl WorkspaceQuery {
    /// Who is calling.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Viewer> {
        Ok(Viewer(ctx.scope()?.clone()))
    }

    /// The caller's workspace.
    async fn workspace(&self, ctx: &Context<'_>) -> ApiResult<Workspace> {
        Ok(Workspace(workspaces::get_workspace(ctx.app(), ctx.scope()?).await?))
    }
}

/// Changes to the workspace; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateWorkspaceInput {
    /// New name.
    name: Option<String>,
    /// New IANA time zone, e.g. America/Guayaquil.
    time_zone: Option<String>,
    /// ISO 3166-1 alpha-2 country for phone numbers without a country code; null clears it.
    default_country: MaybeUndefined<String>,
}

#[derive(Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    /// Changes the workspace's name, time zone or default country. OWNER or ADMIN.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateWorkspaceInput,
    ) -> ApiResult<Workspace> {
        let changes = workspaces::WorkspaceChanges {
            name: input.name,
            time_zone: input.time_zone,
            default_country: maybe(input.default_country),
        };
        Ok(Workspace(workspaces::update_workspace(ctx.app(), ctx.scope()?, changes).await?))
    }
}

/// `MaybeUndefined` as the services' `Option<Option<T>>`: absent, cleared, or set.
pub fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
