//! DataLoaders, built per request for the caller's workspace: a page of 50 contacts with
//! their tags and identifiers costs three queries, not 101.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{channel, contact_channel, tag, team, user};

use crate::app::AppState;
use crate::error::{ApiError, ServiceError};
use crate::services::{channels, contacts, tags, teams, users};
use sea_orm::{ColumnTrait, QueryFilter};

/// A loader failure, shared by every field that waited on the batch.
#[derive(Clone)]
pub struct LoadError(Arc<ServiceError>);

impl From<ServiceError> for LoadError {
    fn from(err: ServiceError) -> Self {
        LoadError(Arc::new(err))
    }
}

impl From<LoadError> for ApiError {
    fn from(err: LoadError) -> Self {
        ServiceError::internal(anyhow::anyhow!("loader failed: {:?}", err.0)).into()
    }
}

/// The loaders' common state: the app and the workspace every query is confined to.
pub struct WorkspaceLoader {
    app: AppState,
    workspace_id: i64,
}

/// All loaders of one request.
pub type Loaders = DataLoader<WorkspaceLoader>;

pub fn loaders(app: AppState, workspace_id: i64) -> Loaders {
    DataLoader::new(WorkspaceLoader { app, workspace_id }, tokio::spawn)
}

pub fn from_context<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// Keys, one type per relation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOfContact(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentifiersOfContact(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserById(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembersOfTeam(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamsOfUser(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LiveChannelById(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContactById(pub i64);

fn keyed<K: Copy + Eq + std::hash::Hash, V: Default>(
    keys: &[K],
    id: impl Fn(K) -> i64,
    mut found: HashMap<i64, V>,
) -> HashMap<K, V> {
    keys.iter().map(|key| (*key, found.remove(&id(*key)).unwrap_or_default())).collect()
}

impl Loader<TagsOfContact> for WorkspaceLoader {
    type Value = Vec<tag::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[TagsOfContact]) -> Result<HashMap<TagsOfContact, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = tags::tags_of_contacts(&self.app.db, self.workspace_id, &ids).await?;
        Ok(keyed(keys, |k| k.0, found))
    }
}

impl Loader<IdentifiersOfContact> for WorkspaceLoader {
    type Value = Vec<(contact_channel::Model, channel::Model)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[IdentifiersOfContact],
    ) -> Result<HashMap<IdentifiersOfContact, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = contacts::identifiers_of_contacts(&self.app.db, self.workspace_id, &ids).await?;
        Ok(keyed(keys, |k| k.0, found))
    }
}

impl Loader<UserById> for WorkspaceLoader {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = users::users_by_ids(&self.app.db, self.workspace_id, &ids).await?;
        Ok(found.into_iter().map(|u| (UserById(u.id), u)).collect())
    }
}

impl Loader<MembersOfTeam> for WorkspaceLoader {
    type Value = Vec<user::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[MembersOfTeam]) -> Result<HashMap<MembersOfTeam, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = teams::members_of_teams(&self.app.db, self.workspace_id, &ids).await?;
        Ok(keyed(keys, |k| k.0, found))
    }
}

impl Loader<TeamsOfUser> for WorkspaceLoader {
    type Value = Vec<team::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[TeamsOfUser]) -> Result<HashMap<TeamsOfUser, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = teams::teams_of_users(&self.app.db, self.workspace_id, &ids).await?;
        Ok(keyed(keys, |k| k.0, found))
    }
}

impl Loader<LiveChannelById> for WorkspaceLoader {
    type Value = channel::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[LiveChannelById]) -> Result<HashMap<LiveChannelById, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = channels::live_channels_by_ids(&self.app.db, self.workspace_id, &ids).await?;
        Ok(found.into_iter().map(|c| (LiveChannelById(c.id), c)).collect())
    }
}

impl Loader<ContactById> for WorkspaceLoader {
    type Value = entity::contact::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ContactById]) -> Result<HashMap<ContactById, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = contacts::load_contacts(&self.app.db, self.workspace_id, &ids).await?;
        Ok(found.into_iter().map(|c| (ContactById(c.id), c)).collect())
    }
}

/// Rows of a tenanted table by primary key, confined to the loader's workspace.
async fn tenanted_by_ids<E>(loader: &WorkspaceLoader, ids: Vec<i64>) -> Result<Vec<E::Model>, LoadError>
where
    E: crate::auth::Tenanted,
{
    use sea_orm::{Iterable, PrimaryKeyToColumn};
    let id = E::PrimaryKey::iter().next().expect("a primary key").into_column();
    Ok(E::find()
        .filter(E::workspace_column().eq(loader.workspace_id))
        .filter(id.is_in(ids))
        .all(&loader.app.db)
        .await
        .map_err(ServiceError::from)?)
}

/// A channel by id, deleted ones included (a broadcast or message keeps its channel).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelById(pub i64);

impl Loader<ChannelById> for WorkspaceLoader {
    type Value = channel::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ChannelById]) -> Result<HashMap<ChannelById, Self::Value>, LoadError> {
        let found = tenanted_by_ids::<channel::Entity>(self, keys.iter().map(|k| k.0).collect()).await?;
        Ok(found.into_iter().map(|c| (ChannelById(c.id), c)).collect())
    }
}

/// A segment by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentById(pub i64);

impl Loader<SegmentById> for WorkspaceLoader {
    type Value = entity::segment::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[SegmentById]) -> Result<HashMap<SegmentById, Self::Value>, LoadError> {
        let found = tenanted_by_ids::<entity::segment::Entity>(self, keys.iter().map(|k| k.0).collect()).await?;
        Ok(found.into_iter().map(|s| (SegmentById(s.id), s)).collect())
    }
}

/// A broadcast by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BroadcastById(pub i64);

impl Loader<BroadcastById> for WorkspaceLoader {
    type Value = entity::broadcast::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[BroadcastById]) -> Result<HashMap<BroadcastById, Self::Value>, LoadError> {
        let found = tenanted_by_ids::<entity::broadcast::Entity>(self, keys.iter().map(|k| k.0).collect()).await?;
        Ok(found.into_iter().map(|b| (BroadcastById(b.id), b)).collect())
    }
}
