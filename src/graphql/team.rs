//! Teams of users.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::team;

use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, parse_id, parse_ids};
use crate::graphql::loaders::{self, MembersOfTeam};
use crate::graphql::user::User;
use crate::services::teams;

pub struct Team(pub team::Model);

/// A named group of users (reports can be filtered by team).
#[Object]
impl Team {
    /// The team's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The team's name, unique within the workspace.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The team's members, by name.
    async fn members(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        let members = loaders::from_context(ctx).load_one(MembersOfTeam(self.0.id)).await?.unwrap_or_default();
        Ok(members.into_iter().map(User).collect())
    }

    /// When the team was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// Every team of the workspace, by name.
    async fn teams(&self, ctx: &Context<'_>) -> ApiResult<Vec<Team>> {
        Ok(teams::list_teams(ctx.app(), ctx.scope()?).await?.into_iter().map(Team).collect())
    }

    /// One team; null when there is none with this id in the workspace.
    async fn team(&self, ctx: &Context<'_>, #[graphql(desc = "The team's id.")] id: ID) -> ApiResult<Option<Team>> {
        let id = parse_id(&id, "id", "team")?;
        Ok(teams::find_team(ctx.app(), ctx.scope()?, id).await?.map(Team))
    }
}

/// A team to create.
#[derive(InputObject)]
pub struct CreateTeamInput {
    /// The team's name, unique within the workspace.
    name: String,
    /// Users to put in the team.
    #[graphql(default)]
    member_ids: Vec<ID>,
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Creates a team. OWNER or ADMIN.
    async fn create_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team to create.")] input: CreateTeamInput,
    ) -> ApiResult<Team> {
        let members = parse_ids(&input.member_ids, "memberIds", "user")?;
        Ok(Team(teams::create_team(ctx.app(), ctx.scope()?, &input.name, &members).await?))
    }

    /// Renames a team. OWNER or ADMIN.
    async fn rename_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team's id.")] id: ID,
        #[graphql(desc = "The new name.")] name: String,
    ) -> ApiResult<Team> {
        let id = parse_id(&id, "id", "team")?;
        Ok(Team(teams::rename_team(ctx.app(), ctx.scope()?, id, &name).await?))
    }

    /// Deletes a team (its users stay); answers the deleted team's id. OWNER or ADMIN.
    async fn delete_team(&self, ctx: &Context<'_>, #[graphql(desc = "The team's id.")] id: ID) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "team")?;
        Ok(teams::delete_team(ctx.app(), ctx.scope()?, id).await?.into())
    }

    /// Adds users to a team (users already in it are left as they are). OWNER or ADMIN.
    async fn add_team_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team's id.")] team_id: ID,
        #[graphql(desc = "The users to add.")] user_ids: Vec<ID>,
    ) -> ApiResult<Team> {
        let team_id = parse_id(&team_id, "teamId", "team")?;
        let user_ids = parse_ids(&user_ids, "userIds", "user")?;
        Ok(Team(teams::add_team_members(ctx.app(), ctx.scope()?, team_id, &user_ids).await?))
    }

    /// Removes users from a team. OWNER or ADMIN.
    async fn remove_team_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team's id.")] team_id: ID,
        #[graphql(desc = "The users to remove.")] user_ids: Vec<ID>,
    ) -> ApiResult<Team> {
        let team_id = parse_id(&team_id, "teamId", "team")?;
        let user_ids = parse_ids(&user_ids, "userIds", "user")?;
        Ok(Team(teams::remove_team_members(ctx.app(), ctx.scope()?, team_id, &user_ids).await?))
    }
}
