//! API tokens.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_token;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::enums::Role;
use crate::graphql::loaders::{self, UserById};
use crate::graphql::user::User;
use crate::services::api_tokens;

pub struct ApiToken(pub api_token::Model);

/// An API token. The secret itself is shown once, when created, and never again.
#[Object]
impl ApiToken {
    /// The token's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// A name to recognise it by.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The access level the token carries (never above its user's current one).
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The first characters of the token, to tell tokens apart.
    async fn prefix(&self) -> &str {
        &self.0.token_prefix
    }

    /// The user the token acts as.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let user = loaders::from_context(ctx).load_one(UserById(self.0.user_id)).await?;
        user.map(User).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "The token's user no longer exists."))
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last used (to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When it was revoked; null while it works.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A token just created, with its secret.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    /// The secret to send as `Authorization: Bearer <token>`. Shown only now: store it.
    token: String,
    /// The token's details.
    api_token: ApiToken,
}

#[derive(Default)]
pub struct ApiTokenQuery;

#[Object]
impl ApiTokenQuery {
    /// The workspace's API tokens, newest first, revoked ones included. OWNER or ADMIN.
    async fn api_tokens(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiToken>> {
        Ok(api_tokens::list_api_tokens(ctx.app(), ctx.scope()?).await?.into_iter().map(ApiToken).collect())
    }
}

/// A token to create.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// A name to recognise it by, e.g. "Zapier integration".
    name: String,
    /// The user it acts as; default: the caller.
    user_id: Option<ID>,
    /// Its access level; default: the user's. Never above the user's or the caller's.
    role: Option<Role>,
}

#[derive(Default)]
pub struct ApiTokenMutation;

#[Object]
impl ApiTokenMutation {
    /// Creates an API token and returns its secret, once. OWNER or ADMIN.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token to create.")] input: CreateApiTokenInput,
    ) -> ApiResult<CreatedApiToken> {
        let user_id = input.user_id.map(|id| parse_id(&id, "userId", "user")).transpose()?;
        let new = api_tokens::NewApiToken { name: input.name, user_id, role: input.role.map(Into::into) };
        let (model, token) = api_tokens::create_api_token(ctx.app(), ctx.scope()?, new).await?;
        Ok(CreatedApiToken { token, api_token: ApiToken(model) })
    }

    /// Revokes a token: it stops working at once. Revoking twice is harmless. OWNER or ADMIN.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token's id.")] id: ID,
    ) -> ApiResult<ApiToken> {
        let id = parse_id(&id, "id", "API token")?;
        Ok(ApiToken(api_tokens::revoke_api_token(ctx.app(), ctx.scope()?, id).await?))
    }
}
