//! Contacts: create, change, tag, address on channels, list and search.
//!
//! Every user may create, change and tag contacts (agents work with them all day); deleting
//! one takes MANAGER or above. Phones are stored in E.164, emails lower-cased; a channel
//! identifier belongs to one contact per channel.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{Role, channel, contact, contact_channel, contact_tag, workspace};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::Scope;
use crate::channels::capabilities;
use crate::error::{ServiceError, ServiceResult};
use crate::events::{ChangeAction, Event};
use crate::normalize;
use crate::services::{Page, channels, contact_fields, field_error, into_page, segments, tags};

/// Contacts per page when the caller does not say, and at most.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;
/// Contacts one tag/untag call may touch.
pub const MAX_BULK_CONTACTS: usize = 1000;
/// Identifiers one contact may be given at once (it has at most one per channel).
pub const MAX_IDENTIFIERS: usize = 100;
/// Longest search (and segment CONTAINS value), in characters: SQLite refuses a LIKE pattern
/// over 50,000 bytes, and nothing stored is searched for by more than this.
pub const MAX_SEARCH_CHARS: usize = 1000;

/// Which contacts to list.
#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    /// Matches name, email or phone, without regard to case.
    pub search: Option<String>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
    /// Only contacts matching this segment filter.
    pub filter: Option<segments::Filter>,
}

pub async fn find_contact(app: &App, scope: &Scope, id: i64) -> ServiceResult<Option<contact::Model>> {
    scope.find::<contact::Entity>(&app.db, id).await
}

/// One page, newest first, after the contact id `after`.
pub async fn list_contacts(
    app: &App,
    scope: &Scope,
    filter: &ContactFilter,
    after: Option<i64>,
    first: u64,
) -> ServiceResult<Page<contact::Model>> {
    let Some(condition) = filter_condition(app, scope, filter).await? else {
        return Ok(Page { items: Vec::new(), has_next_page: false });
    };
    let mut query = scope.select::<contact::Entity>().filter(condition);
    if let Some(after) = after {
        query = query.filter(contact::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(contact::Column::Id).limit(first + 1).all(&app.db).await?;
    Ok(into_page(rows, first))
}

pub async fn count_contacts(app: &App, scope: &Scope, filter: &ContactFilter) -> ServiceResult<u64> {
    let Some(condition) = filter_condition(app, scope, filter).await? else {
        return Ok(0);
    };
    Ok(scope.select::<contact::Entity>().filter(condition).count(&app.db).await?)
}

/// The SQL condition for `filter`; `None` when nothing can match (an unknown tag).
pub(crate) async fn filter_condition(
    app: &App,
    scope: &Scope,
    filter: &ContactFilter,
) -> ServiceResult<Option<Condition>> {
    let mut condition = Condition::all();
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(ServiceError::bad_input(
                "search",
                format!("A search is at most {MAX_SEARCH_CHARS} characters; shorten it."),
            ));
        }
        // PostgreSQL cannot compare text holding NUL (the query fails); nothing stored holds it.
        if search.contains('\0') {
            return Err(ServiceError::bad_input("search", "A search may not contain NUL characters."));
        }
        let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
        condition = condition.add(search_condition(search, workspace.default_country.as_deref()));
    }
    if let Some(tag) = &filter.tag {
        let Some(tag) = tags::find_tags(&app.db, scope.workspace_id, std::slice::from_ref(tag)).await?.pop() else {
            return Ok(None);
        };
        let tagged = Query::select()
            .column(contact_tag::Column::ContactId)
            .from(contact_tag::Entity)
            .and_where(contact_tag::Column::TagId.eq(tag.id))
            .to_owned();
        condition = condition.add(contact::Column::Id.in_subquery(tagged));
    }
    if let Some(filter) = &filter.filter {
        condition = condition.add(segments::filter::compile(&app.db, scope, filter).await?);
    }
    Ok(Some(condition))
}

fn search_condition(search: &str, default_country: Option<&str>) -> Condition {
    let pattern = || crate::db::contains_pattern(search);
    let full_name = Expr::cust("LOWER(COALESCE(contacts.first_name, '') || ' ' || COALESCE(contacts.last_name, ''))");
    let mut any = Condition::any()
        .add(full_name.like(pattern()))
        .add(Expr::col((contact::Entity, contact::Column::Email)).like(pattern()));
    let looks_like_phone = search.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits: String = search.chars().filter(char::is_ascii_digit).collect();
    if looks_like_phone && digits.len() >= 3 {
        any = any.add(contact::Column::Phone.like(format!("%{digits}%")));
        if let Ok(e164) = normalize::phone(search, default_country) {
            any = any.add(contact::Column::Phone.eq(e164));
        }
    }
    any
}

/// A contact to create.
#[derive(Debug, Default)]
pub struct NewContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub custom_fields: Map<String, Value>,
    pub tags: Vec<String>,
    /// `(channel id, identifier)` pairs.
    pub identifiers: Vec<(i64, String)>,
}

pub async fn create_contact(app: &App, scope: &Scope, new: NewContact) -> ServiceResult<contact::Model> {
    let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
    let country = workspace.default_country.as_deref();
    let definitions = contact_fields::definitions(&app.db, scope).await?;
    let mut custom = Map::new();
    contact_fields::apply_values(&definitions, &mut custom, new.custom_fields)?;
    let now = Utc::now();
    let active = contact::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        first_name: Set(optional_name(new.first_name, "firstName")?),
        last_name: Set(optional_name(new.last_name, "lastName")?),
        phone: Set(new.phone.map(|p| normalize::phone(&p, country)).transpose().map_err(field_error("phone"))?),
        email: Set(new.email.map(|e| normalize::email(&e)).transpose().map_err(field_error("email"))?),
        language: Set(new.language.map(|l| normalize::language(&l)).transpose().map_err(field_error("language"))?),
        custom_fields: Set(Value::Object(custom)),
        last_interaction_at: Set(None),
        last_interacted_channel_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let has_identity = [&active.first_name, &active.last_name, &active.phone, &active.email]
        .iter()
        .any(|v| matches!(v, sea_orm::ActiveValue::Set(Some(_))));
    if new.identifiers.len() > MAX_IDENTIFIERS {
        return Err(ServiceError::bad_input(
            "identifiers",
            format!("A contact has one identifier per channel: give at most {MAX_IDENTIFIERS}."),
        ));
    }
    if !has_identity && new.identifiers.is_empty() {
        return Err(ServiceError::BadInput {
            field: None,
            message: "A contact needs at least a name, a phone number, an email or a channel identifier.".into(),
        });
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let created = active.insert(&txn).await?;
    add_tags(&txn, scope, &[created.id], &new.tags).await?;
    for (channel_id, identifier) in &new.identifiers {
        upsert_identifier(&txn, scope, country, created.id, *channel_id, identifier).await?;
    }
    txn.commit().await?;
    publish(app, scope, created.id, ChangeAction::Created);
    Ok(created)
}

/// Changes to a contact; `None` leaves a value as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ContactChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub language: Option<Option<String>>,
    /// Merged into the stored values: a key with `null` removes it.
    pub custom_fields: Option<Map<String, Value>>,
}

pub async fn update_contact(
    app: &App,
    scope: &Scope,
    id: i64,
    changes: ContactChanges,
) -> ServiceResult<contact::Model> {
    let current = scope.get::<contact::Entity>(&app.db, "contact", id).await?;
    let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
    let country = workspace.default_country.as_deref();
    let mut active: contact::ActiveModel = current.clone().into();
    if let Some(first_name) = changes.first_name {
        active.first_name = Set(optional_name(first_name, "firstName")?);
    }
    if let Some(last_name) = changes.last_name {
        active.last_name = Set(optional_name(last_name, "lastName")?);
    }
    if let Some(phone) = changes.phone {
        active.phone = Set(phone.map(|p| normalize::phone(&p, country)).transpose().map_err(field_error("phone"))?);
    }
    if let Some(email) = changes.email {
        active.email = Set(email.map(|e| normalize::email(&e)).transpose().map_err(field_error("email"))?);
    }
    if let Some(language) = changes.language {
        active.language =
            Set(language.map(|l| normalize::language(&l)).transpose().map_err(field_error("language"))?);
    }
    if let Some(patch) = changes.custom_fields {
        let definitions = contact_fields::definitions(&app.db, scope).await?;
        let mut custom = current.custom_fields.as_object().cloned().unwrap_or_default();
        contact_fields::apply_values(&definitions, &mut custom, patch)?;
        active.custom_fields = Set(Value::Object(custom));
    }
    active.updated_at = Set(Utc::now());
    let updated = active.update(&app.db).await?;
    publish(app, scope, updated.id, ChangeAction::Updated);
    Ok(updated)
}

pub async fn delete_contact(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Manager, "Deleting contacts")?;
    let current = scope.get::<contact::Entity>(&app.db, "contact", id).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    // The contact's messages stay in the history without it (on PostgreSQL `messages` has no
    // foreign key to do this; see the migration that dropped it).
    scope
        .update_many::<entity::message::Entity>()
        .col_expr(entity::message::Column::ContactId, Expr::val(None::<i64>))
        .filter(entity::message::Column::ContactId.eq(current.id))
        .exec(&txn)
        .await?;
    scope.delete_many::<contact::Entity>().filter(contact::Column::Id.eq(current.id)).exec(&txn).await?;
    txn.commit().await?;
    publish(app, scope, current.id, ChangeAction::Deleted);
    Ok(current.id)
}

/// Adds `tag_names` (created when new) to every contact in `contact_ids`.
pub async fn tag_contacts(
    app: &App,
    scope: &Scope,
    contact_ids: &[i64],
    tag_names: &[String],
) -> ServiceResult<Vec<contact::Model>> {
    let contacts = contacts_by_ids(app, scope, contact_ids).await?;
    if tag_names.is_empty() {
        return Err(ServiceError::bad_input("tags", "Give at least one tag."));
    }
    let ids: Vec<i64> = contacts.iter().map(|c| c.id).collect();
    let txn = crate::db::begin_write(&app.db).await?;
    add_tags(&txn, scope, &ids, tag_names).await?;
    txn.commit().await?;
    for contact in &contacts {
        publish(app, scope, contact.id, ChangeAction::Updated);
    }
    Ok(contacts)
}

/// Removes `tag_names` from every contact in `contact_ids`; unknown tags are ignored.
pub async fn untag_contacts(
    app: &App,
    scope: &Scope,
    contact_ids: &[i64],
    tag_names: &[String],
) -> ServiceResult<Vec<contact::Model>> {
    let contacts = contacts_by_ids(app, scope, contact_ids).await?;
    tags::check_tag_count(tag_names)?;
    let tag_ids: Vec<i64> =
        tags::find_tags(&app.db, scope.workspace_id, tag_names).await?.iter().map(|t| t.id).collect();
    if !tag_ids.is_empty() {
        contact_tag::Entity::delete_many()
            .filter(contact_tag::Column::ContactId.is_in(contacts.iter().map(|c| c.id)))
            .filter(contact_tag::Column::TagId.is_in(tag_ids))
            .exec(&app.db)
            .await?;
    }
    for contact in &contacts {
        publish(app, scope, contact.id, ChangeAction::Updated);
    }
    Ok(contacts)
}

/// Sets the contact's identifier on a channel (replacing any previous one).
pub async fn set_contact_identifier(
    app: &App,
    scope: &Scope,
    contact_id: i64,
    channel_id: i64,
    identifier: &str,
) -> ServiceResult<contact::Model> {
    let contact = scope.get::<contact::Entity>(&app.db, "contact", contact_id).await?;
    let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
    upsert_identifier(&app.db, scope, workspace.default_country.as_deref(), contact.id, channel_id, identifier).await?;
    publish(app, scope, contact.id, ChangeAction::Updated);
    Ok(contact)
}

pub async fn remove_contact_identifier(
    app: &App,
    scope: &Scope,
    contact_id: i64,
    channel_id: i64,
) -> ServiceResult<contact::Model> {
    let contact = scope.get::<contact::Entity>(&app.db, "contact", contact_id).await?;
    scope
        .delete_many::<contact_channel::Entity>()
        .filter(contact_channel::Column::ContactId.eq(contact.id))
        .filter(contact_channel::Column::ChannelId.eq(channel_id))
        .exec(&app.db)
        .await?;
    publish(app, scope, contact.id, ChangeAction::Updated);
    Ok(contact)
}

/// The contacts `ids` of `workspace_id` that exist (for loaders).
pub async fn load_contacts(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    ids: &[i64],
) -> ServiceResult<Vec<contact::Model>> {
    Ok(contact::Entity::find()
        .filter(contact::Column::WorkspaceId.eq(workspace_id))
        .filter(contact::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?)
}

/// `column IN (ids)`, or `column BETWEEN first AND last` when the ascending `ids` fill most of
/// that range (an export's page): two parameters and a range scan instead of thousands to
/// plan. Rows of contacts between the ids that are not among them may come back; callers
/// that walk their page alongside the result skip them.
pub fn ids_filter(column: impl ColumnTrait, ids: &[i64]) -> sea_orm::sea_query::SimpleExpr {
    match (ids.first(), ids.last()) {
        (Some(first), Some(last)) if last >= first && (last - first + 1) as usize <= ids.len() * 2 => {
            column.between(*first, *last)
        }
        _ => column.is_in(ids.iter().copied()),
    }
}

/// `(contact id, channel id, identifier)` for the contacts `contact_ids` (ascending), ordered
/// by contact id: the light form the export walks alongside its contacts. May include
/// contacts between the ids (see [`ids_filter`]).
pub async fn identifier_rows_of_contacts(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    contact_ids: &[i64],
) -> ServiceResult<Vec<(i64, i64, String)>> {
    Ok(contact_channel::Entity::find()
        .select_only()
        .column(contact_channel::Column::ContactId)
        .column(contact_channel::Column::ChannelId)
        .column(contact_channel::Column::Identifier)
        .filter(contact_channel::Column::WorkspaceId.eq(workspace_id))
        .filter(ids_filter(contact_channel::Column::ContactId, contact_ids))
        .order_by_asc(contact_channel::Column::ContactId)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Each contact's identifiers with their (live) channels, by contact id.
pub async fn identifiers_of_contacts(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    contact_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<(contact_channel::Model, channel::Model)>>> {
    let rows = contact_channel::Entity::find()
        .find_also_related(channel::Entity)
        .filter(contact_channel::Column::WorkspaceId.eq(workspace_id))
        .filter(contact_channel::Column::ContactId.is_in(contact_ids.iter().copied()))
        .filter(channel::Column::DeletedAt.is_null())
        .order_by_asc(channel::Column::Name)
        .all(conn)
        .await?;
    let mut by_contact: HashMap<i64, Vec<_>> = HashMap::new();
    for (identifier, channel) in rows {
        if let Some(channel) = channel {
            by_contact.entry(identifier.contact_id).or_default().push((identifier, channel));
        }
    }
    Ok(by_contact)
}

fn optional_name(value: Option<String>, field: &'static str) -> ServiceResult<Option<String>> {
    Ok(value.map(|v| normalize::name(&v, 100)).transpose().map_err(field_error(field))?.flatten())
}

/// The contacts `ids` of the caller's workspace, in the order given; NOT_FOUND names the
/// ids that are not.
async fn contacts_by_ids(app: &App, scope: &Scope, ids: &[i64]) -> ServiceResult<Vec<contact::Model>> {
    let wanted: BTreeSet<i64> = ids.iter().copied().collect();
    if wanted.is_empty() {
        return Err(ServiceError::bad_input("contactIds", "Give at least one contact id."));
    }
    if wanted.len() > MAX_BULK_CONTACTS {
        return Err(ServiceError::bad_input(
            "contactIds",
            format!("At most {MAX_BULK_CONTACTS} contacts per call; split the list."),
        ));
    }
    let found: HashMap<i64, contact::Model> = scope
        .select::<contact::Entity>()
        .filter(contact::Column::Id.is_in(wanted.iter().copied()))
        .all(&app.db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let missing: Vec<String> = wanted.iter().filter(|id| !found.contains_key(id)).map(i64::to_string).collect();
    if !missing.is_empty() {
        return Err(ServiceError::NotFound(format!("No contact with id {} in this workspace.", missing.join(", "))));
    }
    let mut seen = BTreeSet::new();
    Ok(ids.iter().filter(|id| seen.insert(**id)).filter_map(|id| found.get(id).cloned()).collect())
}

async fn add_tags(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    contact_ids: &[i64],
    tag_names: &[String],
) -> ServiceResult<()> {
    tags::check_tag_count(tag_names)?;
    let tags = tags::ensure_tags(conn, scope.workspace_id, tag_names).await?;
    let pairs: Vec<(i64, i64)> =
        contact_ids.iter().flat_map(|contact| tags.iter().map(move |tag| (*contact, tag.id))).collect();
    tags::link_contacts(conn, &pairs).await
}

async fn upsert_identifier(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    default_country: Option<&str>,
    contact_id: i64,
    channel_id: i64,
    raw: &str,
) -> ServiceResult<()> {
    let channel = channels::get_channel(conn, scope, channel_id).await?;
    let caps = capabilities(channel.kind);
    let identifier = caps
        .identifier
        .normalize(raw, default_country)
        .map_err(|message| ServiceError::bad_input("identifier", format!("{} identifier: {message}", caps.label)))?;
    if let Some(holder) = contact_channel::Entity::find()
        .filter(contact_channel::Column::ChannelId.eq(channel.id))
        .filter(contact_channel::Column::Identifier.eq(identifier.as_str()))
        .filter(contact_channel::Column::ContactId.ne(contact_id))
        .one(conn)
        .await?
    {
        return Err(identifier_taken(&identifier, &channel, holder.contact_id));
    }
    let existing = contact_channel::Entity::find()
        .filter(contact_channel::Column::ContactId.eq(contact_id))
        .filter(contact_channel::Column::ChannelId.eq(channel.id))
        .one(conn)
        .await?;
    let result = match existing {
        Some(row) if row.identifier == identifier => return Ok(()),
        Some(row) => {
            let mut active: contact_channel::ActiveModel = row.into();
            active.identifier = Set(identifier.clone());
            active.last_incoming_at = Set(None);
            active.unreachable_at = Set(None);
            active.update(conn).await.map(drop)
        }
        None => contact_channel::ActiveModel {
            workspace_id: Set(scope.workspace_id),
            contact_id: Set(contact_id),
            channel_id: Set(channel.id),
            identifier: Set(identifier.clone()),
            last_incoming_at: Set(None),
            unreachable_at: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map(drop),
    };
    // A concurrent writer can still win the race between the check and the write; the
    // unique index decides, and the answer is the same CONFLICT.
    result.map_err(|err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => identifier_taken(&identifier, &channel, 0),
        _ => ServiceError::from(err),
    })
}

fn identifier_taken(identifier: &str, channel: &channel::Model, holder: i64) -> ServiceError {
    let who = if holder > 0 { format!("contact {holder}") } else { "another contact".to_owned() };
    ServiceError::Conflict(format!(
        "The identifier {identifier} on channel '{}' already belongs to {who}: one conversation belongs to one contact. \
         Merge the two contacts or remove it there first.",
        channel.name
    ))
}

fn publish(app: &App, scope: &Scope, contact_id: i64, action: ChangeAction) {
    app.events.publish(Event::ContactChanged { workspace_id: scope.workspace_id, contact_id, action });
}
