//! Teams: named groups of users (reports filter by team). Owners and admins manage them.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{Role, team, team_member, user};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::app::App;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::normalize;
use crate::services::field_error;

/// Users one call may add, remove or make members: a longer list is refused rather than
/// sent to the database as one `IN (…)` past its limit on bound parameters.
pub const MAX_MEMBERS_PER_CALL: usize = 1000;

pub async fn list_teams(app: &App, scope: &Scope) -> ServiceResult<Vec<team::Model>> {
    Ok(scope.select::<team::Entity>().order_by_asc(team::Column::Name).all(&app.db).await?)
}

pub async fn find_team(app: &App, scope: &Scope, id: i64) -> ServiceResult<Option<team::Model>> {
    scope.find::<team::Entity>(&app.db, id).await
}

pub async fn create_team(app: &App, scope: &Scope, name: &str, member_ids: &[i64]) -> ServiceResult<team::Model> {
    scope.require(Role::Admin, "Creating teams")?;
    let name = normalize::required_name(name, 100).map_err(field_error("name"))?;
    check_count(member_ids, "memberIds")?;
    check_users(&app.db, scope, member_ids).await?;
    let now = Utc::now();
    let txn = sea_orm::TransactionTrait::begin(&app.db).await?;
    let team = team::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(conflict_on_unique(format!("A team named '{name}' already exists.")))?;
    insert_members(&txn, team.id, member_ids).await?;
    txn.commit().await?;
    Ok(team)
}

pub async fn rename_team(app: &App, scope: &Scope, id: i64, name: &str) -> ServiceResult<team::Model> {
    scope.require(Role::Admin, "Renaming teams")?;
    let current = scope.get::<team::Entity>(&app.db, "team", id).await?;
    let name = normalize::required_name(name, 100).map_err(field_error("name"))?;
    let mut active: team::ActiveModel = current.into();
    active.name = Set(name.clone());
    active.updated_at = Set(Utc::now());
    active.update(&app.db).await.map_err(conflict_on_unique(format!("A team named '{name}' already exists.")))
}

pub async fn delete_team(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Admin, "Deleting teams")?;
    let current = scope.get::<team::Entity>(&app.db, "team", id).await?;
    scope.delete_many::<team::Entity>().filter(team::Column::Id.eq(current.id)).exec(&app.db).await?;
    Ok(current.id)
}

pub async fn add_team_members(app: &App, scope: &Scope, team_id: i64, user_ids: &[i64]) -> ServiceResult<team::Model> {
    scope.require(Role::Admin, "Changing team members")?;
    let team = scope.get::<team::Entity>(&app.db, "team", team_id).await?;
    check_count(user_ids, "userIds")?;
    check_users(&app.db, scope, user_ids).await?;
    insert_members(&app.db, team.id, user_ids).await?;
    Ok(team)
}

pub async fn remove_team_members(
    app: &App,
    scope: &Scope,
    team_id: i64,
    user_ids: &[i64],
) -> ServiceResult<team::Model> {
    scope.require(Role::Admin, "Changing team members")?;
    let team = scope.get::<team::Entity>(&app.db, "team", team_id).await?;
    check_count(user_ids, "userIds")?;
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(team.id))
        .filter(team_member::Column::UserId.is_in(user_ids.iter().copied()))
        .exec(&app.db)
        .await?;
    Ok(team)
}

fn check_count(user_ids: &[i64], field: &str) -> ServiceResult<()> {
    if user_ids.len() > MAX_MEMBERS_PER_CALL {
        return Err(ServiceError::bad_input(
            field,
            format!("At most {MAX_MEMBERS_PER_CALL} users per call; split the list."),
        ));
    }
    Ok(())
}

/// Fails with NOT_FOUND naming the ids that are not users of the caller's workspace.
async fn check_users(conn: &impl ConnectionTrait, scope: &Scope, user_ids: &[i64]) -> ServiceResult<()> {
    let wanted: BTreeSet<i64> = user_ids.iter().copied().collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found: BTreeSet<i64> = scope
        .select::<user::Entity>()
        .filter(user::Column::Id.is_in(wanted.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let missing: Vec<String> = wanted.difference(&found).map(i64::to_string).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("No user with id {} in this workspace.", missing.join(", "))))
    }
}

async fn insert_members(conn: &impl ConnectionTrait, team_id: i64, user_ids: &[i64]) -> ServiceResult<()> {
    let now = Utc::now();
    let unique: BTreeSet<i64> = user_ids.iter().copied().collect();
    let rows: Vec<_> = unique
        .into_iter()
        .map(|user_id| team_member::ActiveModel { team_id: Set(team_id), user_id: Set(user_id), created_at: Set(now) })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    team_member::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([team_member::Column::TeamId, team_member::Column::UserId])
        .exec(conn)
        .await?;
    Ok(())
}

/// Members of each team, by team id (for loaders).
pub async fn members_of_teams(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    team_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<user::Model>>> {
    let rows = team_member::Entity::find()
        .find_also_related(user::Entity)
        .filter(team_member::Column::TeamId.is_in(team_ids.iter().copied()))
        .filter(user::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(user::Column::Name)
        .all(conn)
        .await?;
    let mut by_team: HashMap<i64, Vec<user::Model>> = HashMap::new();
    for (link, user) in rows {
        by_team.entry(link.team_id).or_default().extend(user);
    }
    Ok(by_team)
}

/// Teams of each user, by user id (for loaders).
pub async fn teams_of_users(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    user_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<team::Model>>> {
    let rows = team_member::Entity::find()
        .find_also_related(team::Entity)
        .filter(team_member::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(team::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(team::Column::Name)
        .all(conn)
        .await?;
    let mut by_user: HashMap<i64, Vec<team::Model>> = HashMap::new();
    for (link, team) in rows {
        by_user.entry(link.user_id).or_default().extend(team);
    }
    Ok(by_user)
}
