//! Tags.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::tag;

use crate::error::ApiResult;
use crate::graphql::context::ContextExt;
use crate::services::tags;

pub struct Tag(pub tag::Model);

/// A label on contacts. Tags match without regard to case ("VIP" is "vip").
#[Object]
impl Tag {
    /// The tag's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The tag as first written.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// When it was first used.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct TagQuery;

#[Object]
impl TagQuery {
    /// Every tag of the workspace, alphabetical.
    async fn tags(&self, ctx: &Context<'_>) -> ApiResult<Vec<Tag>> {
        Ok(tags::list_tags(ctx.app(), ctx.scope()?).await?.into_iter().map(Tag).collect())
    }
}
