//! Who is calling, and the one place that confines them to their workspace.
//!
//! A request carries an API token (`Authorization: Bearer <token>` over HTTP, the
//! `connection_init` payload over WebSocket). [`authenticate`] turns it into a [`Scope`]:
//! the workspace, the user and the access level. Services take `&Scope` and reach
//! workspace-owned tables only through [`Scope::select`], [`Scope::get`],
//! [`Scope::update_many`] and [`Scope::delete_many`], which add the workspace filter; an id
//! from another workspace therefore reads as "not found", whatever the resolver.
//! The GraphQL `AuthGate` extension refuses every field except introspection when the
//! request has no `Scope`.

use base64::Engine;
use chrono::Utc;
use entity::{Role, api_token};
use rand::RngCore;
use sea_orm::sea_query::{IntoCondition, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DeleteMany, EntityTrait, PrimaryKeyTrait, QueryFilter, Select, UpdateMany,
};
use sha2::{Digest, Sha256};

use crate::error::{ServiceError, ServiceResult};

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "pgn_";

/// The caller of one request: a token of a user in a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub workspace_id: i64,
    pub user_id: i64,
    pub token_id: i64,
    /// The token's access level, never above its user's current one.
    pub role: Role,
}

/// A table whose rows belong to a workspace.
pub trait Tenanted: EntityTrait {
    /// The `workspace_id` column.
    fn workspace_column() -> Self::Column;
}

macro_rules! tenanted {
    ($($module:ident),* $(,)?) => {$(
        impl Tenanted for entity::$module::Entity {
            fn workspace_column() -> Self::Column {
                entity::$module::Column::WorkspaceId
            }
        }
    )*};
}

tenanted!(user, team, api_token, channel, contact_field, contact, tag, contact_channel, segment, broadcast, message);

impl Tenanted for entity::workspace::Entity {
    fn workspace_column() -> Self::Column {
        entity::workspace::Column::Id
    }
}

impl Scope {
    /// The scope the dispatcher acts in for a workspace: no user, no token, full access. Only
    /// for work a user already authorised (starting a broadcast they scheduled).
    pub fn system(workspace_id: i64) -> Scope {
        Scope { workspace_id, user_id: 0, token_id: 0, role: Role::Owner }
    }

    /// Fails with FORBIDDEN unless the caller has at least `minimum` access.
    pub fn require(&self, minimum: Role, action: &str) -> ServiceResult<()> {
        if self.role >= minimum {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{action} needs the {} access level or higher; this token has {}.",
                role_name(minimum),
                role_name(self.role)
            )))
        }
    }

    fn in_workspace<E: Tenanted>(&self) -> SimpleExpr {
        E::workspace_column().eq(self.workspace_id)
    }

    /// `SELECT … FROM E WHERE workspace_id = <the caller's>`.
    pub fn select<E: Tenanted>(&self) -> Select<E> {
        E::find().filter(self.in_workspace::<E>())
    }

    /// `UPDATE E … WHERE workspace_id = <the caller's>`; add the row filter.
    pub fn update_many<E: Tenanted>(&self) -> UpdateMany<E> {
        E::update_many().filter(self.in_workspace::<E>())
    }

    /// `DELETE FROM E WHERE workspace_id = <the caller's>`; add the row filter.
    pub fn delete_many<E: Tenanted>(&self) -> DeleteMany<E> {
        E::delete_many().filter(self.in_workspace::<E>())
    }

    /// The row `id` of the caller's workspace, or NOT_FOUND naming `what`.
    pub async fn get<E>(&self, db: &impl ConnectionTrait, what: &str, id: i64) -> ServiceResult<E::Model>
    where
        E: Tenanted,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    {
        self.find::<E>(db, id).await?.ok_or_else(|| ServiceError::not_found(what, id))
    }

    /// The row `id` of the caller's workspace, if there is one.
    pub async fn find<E>(&self, db: &impl ConnectionTrait, id: i64) -> ServiceResult<Option<E::Model>>
    where
        E: Tenanted,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    {
        Ok(E::find_by_id(id).filter(self.in_workspace::<E>().into_condition()).one(db).await?)
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "OWNER",
        Role::Admin => "ADMIN",
        Role::Manager => "MANAGER",
        Role::Agent => "AGENT",
    }
}

/// A freshly generated token: the secret (shown once) and what is stored.
pub struct NewToken {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

/// 32 random bytes, base64url: 256 bits, so a fast hash (SHA-256) is the right store —
/// a slow password hash protects guessable secrets, and these are not guessable.
pub fn generate_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    NewToken { hash: hash_token(&secret), prefix: secret[..TOKEN_PREFIX.len() + 6].to_owned(), secret }
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Why a presented credential was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("The Authorization header must be `Bearer <token>`.")]
    Malformed,
    #[error("The API token is invalid or has been revoked.")]
    InvalidToken,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// Reads an `Authorization` value (`Bearer <token>`). `Ok(None)` when there is none.
pub async fn authenticate(db: &impl ConnectionTrait, authorization: Option<&str>) -> Result<Option<Scope>, AuthError> {
    let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    authenticate_token(db, token.trim()).await.map(Some)
}

/// Looks a bare token up. Unknown and revoked tokens are the same error on purpose.
pub async fn authenticate_token(db: &impl ConnectionTrait, token: &str) -> Result<Scope, AuthError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(AuthError::InvalidToken);
    }
    let found = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .find_also_related(entity::user::Entity)
        .one(db)
        .await?;
    let Some((token, Some(user))) = found else {
        return Err(AuthError::InvalidToken);
    };
    // "Last used" is kept to the minute, so most requests stay read-only.
    let now = Utc::now();
    if token.last_used_at.is_none_or(|at| now - at > chrono::Duration::minutes(1)) {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(api_token::Column::Id.eq(token.id))
            .exec(db)
            .await?;
    }
    Ok(Scope {
        workspace_id: token.workspace_id,
        user_id: token.user_id,
        token_id: token.id,
        role: token.role.min(user.role),
    })
}
