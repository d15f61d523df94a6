//! Tags: labels on contacts, matched without regard to case.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::{contact_tag, tag};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::app::App;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;

pub const MAX_TAG_CHARS: usize = 100;
/// Tags one call may name (to put on contacts, take off them, or add on an import): a
/// longer list is refused rather than sent to the database as one `IN (…)` past its limit
/// on bound parameters.
pub const MAX_TAGS_PER_CALL: usize = 100;
/// Tags per statement when creating or finding many (an import's tag column): 4 columns ×
/// 5,000 stays under SQLite's 32,766 bound parameters.
const CHUNK: usize = 5000;

/// Refuses a list of more than [`MAX_TAGS_PER_CALL`] tags.
pub fn check_tag_count(names: &[String]) -> ServiceResult<()> {
    if names.len() > MAX_TAGS_PER_CALL {
        return Err(ServiceError::bad_input(
            "tags",
            format!("At most {MAX_TAGS_PER_CALL} tags per call; split the list."),
        ));
    }
    Ok(())
}

/// A tag name as stored (spaces collapsed) and its case-insensitive key.
pub fn normalize_tag(input: &str) -> ServiceResult<(String, String)> {
    let name = normalize::required_name(input, MAX_TAG_CHARS)
        .map_err(|message| ServiceError::bad_input("tags", format!("Tag '{}': {message}", input.trim())))?;
    let key = name.to_lowercase();
    Ok((name, key))
}

pub async fn list_tags(app: &App, scope: &Scope) -> ServiceResult<Vec<tag::Model>> {
    Ok(scope.select::<tag::Entity>().order_by_asc(tag::Column::NameKey).all(&app.db).await?)
}

/// Returns the tags named `names` in the workspace, creating the missing ones.
pub async fn ensure_tags(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    names: &[String],
) -> ServiceResult<Vec<tag::Model>> {
    let mut wanted: HashMap<String, String> = HashMap::new();
    for name in names {
        let (name, key) = normalize_tag(name)?;
        wanted.entry(key).or_insert(name);
    }
    let now = Utc::now();
    let wanted: Vec<(String, String)> = wanted.into_iter().collect();
    let mut tags = Vec::with_capacity(wanted.len());
    // In chunks: an import's tag column may name tens of thousands.
    for chunk in wanted.chunks(CHUNK) {
        let rows = chunk.iter().map(|(key, name)| tag::ActiveModel {
            workspace_id: Set(workspace_id),
            name: Set(name.clone()),
            name_key: Set(key.clone()),
            created_at: Set(now),
            ..Default::default()
        });
        tag::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([tag::Column::WorkspaceId, tag::Column::NameKey])
            .exec(conn)
            .await?;
        tags.extend(
            tag::Entity::find()
                .filter(tag::Column::WorkspaceId.eq(workspace_id))
                .filter(tag::Column::NameKey.is_in(chunk.iter().map(|(key, _)| key.clone())))
                .all(conn)
                .await?,
        );
    }
    Ok(tags)
}

/// Existing tags named `names` (case-insensitive); unknown names are ignored.
pub async fn find_tags(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    names: &[String],
) -> ServiceResult<Vec<tag::Model>> {
    let keys: HashSet<String> = names.iter().map(|n| normalize_tag(n).map(|(_, key)| key)).collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tag::Entity::find()
        .filter(tag::Column::WorkspaceId.eq(workspace_id))
        .filter(tag::Column::NameKey.is_in(keys))
        .all(conn)
        .await?)
}

/// The tags of each contact, by contact id, alphabetical.
pub async fn tags_of_contacts(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    contact_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<tag::Model>>> {
    let rows = contact_tag::Entity::find()
        .find_also_related(tag::Entity)
        .filter(contact_tag::Column::ContactId.is_in(contact_ids.iter().copied()))
        .filter(tag::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(tag::Column::NameKey)
        .all(conn)
        .await?;
    let mut by_contact: HashMap<i64, Vec<tag::Model>> = HashMap::new();
    for (link, tag) in rows {
        if let Some(tag) = tag {
            by_contact.entry(link.contact_id).or_default().push(tag);
        }
    }
    Ok(by_contact)
}

/// `(contact id, tag name)` for the contacts `contact_ids` (ascending), ordered by contact id
/// then name: the light form the export walks alongside its contacts. May include contacts
/// between the ids (see `contacts::ids_filter`).
pub async fn tag_names_of_contacts(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    contact_ids: &[i64],
) -> ServiceResult<Vec<(i64, String)>> {
    use sea_orm::{JoinType, QuerySelect, RelationTrait};
    Ok(contact_tag::Entity::find()
        .select_only()
        .column(contact_tag::Column::ContactId)
        .column(tag::Column::Name)
        .join(JoinType::InnerJoin, contact_tag::Relation::Tag.def())
        .filter(crate::services::contacts::ids_filter(contact_tag::Column::ContactId, contact_ids))
        .filter(tag::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(contact_tag::Column::ContactId)
        .order_by_asc(tag::Column::NameKey)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Links contacts to tags (`(contact id, tag id)` pairs), leaving existing links alone, in
/// statements of at most 10,000 links. PostgreSQL gets the pairs as two arrays (`UNNEST`)
/// rather than 30,000 parameters.
pub async fn link_contacts(conn: &impl ConnectionTrait, pairs: &[(i64, i64)]) -> ServiceResult<()> {
    use sea_orm::{ActiveValue::Set, DbBackend, Statement};
    let now = Utc::now();
    for chunk in pairs.chunks(10_000) {
        if conn.get_database_backend() == DbBackend::Postgres {
            let contact_ids: Vec<i64> = chunk.iter().map(|(contact, _)| *contact).collect();
            let tag_ids: Vec<i64> = chunk.iter().map(|(_, tag)| *tag).collect();
            let sql = "INSERT INTO contact_tags (contact_id, tag_id, created_at) SELECT u.c, u.t, $3 \
                       FROM UNNEST($1::bigint[], $2::bigint[]) AS u(c, t) ON CONFLICT (contact_id, tag_id) DO NOTHING";
            let values = vec![contact_ids.into(), tag_ids.into(), now.into()];
            conn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
        } else {
            let links = chunk.iter().map(|(contact, tag)| contact_tag::ActiveModel {
                contact_id: Set(*contact),
                tag_id: Set(*tag),
                created_at: Set(now),
            });
            contact_tag::Entity::insert_many(links)
                .on_conflict_do_nothing_on([contact_tag::Column::ContactId, contact_tag::Column::TagId])
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}
