//! Duplicate contacts: suggestions (contacts of a workspace sharing a phone or an email,
//! seed 000's "Sugerencias de fusión de contactos") and merging one into another.

use chrono::Utc;
use entity::{Role, contact};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, FromQueryResult};
use serde_json::Value;

use crate::app::App;
use crate::auth::Scope;
use crate::db::portable;
use crate::error::{ServiceError, ServiceResult};
use crate::events::{ChangeAction, Event};
use crate::services::{Page, into_page};

/// Two contacts that look like the same person. `primary` is the older one.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct DuplicatePair {
    pub primary_id: i64,
    pub duplicate_id: i64,
    pub same_phone: i32,
    pub same_email: i32,
}

/// Pairs sharing a phone or an email, ordered by (primary, duplicate), after `after`.
pub async fn list_duplicate_pairs(
    app: &App,
    scope: &Scope,
    after: Option<(i64, i64)>,
    first: u64,
) -> ServiceResult<Page<DuplicatePair>> {
    let (after_primary, after_duplicate) = after.unwrap_or((0, 0));
    let sql = "SELECT p.primary_id, p.duplicate_id, MAX(p.same_phone) AS same_phone, MAX(p.same_email) AS same_email FROM ( \
           SELECT a.id AS primary_id, b.id AS duplicate_id, 1 AS same_phone, 0 AS same_email \
           FROM contacts a JOIN contacts b ON b.workspace_id = a.workspace_id AND b.phone = a.phone AND b.id > a.id \
           WHERE a.workspace_id = ? AND a.phone IS NOT NULL \
         UNION ALL \
           SELECT a.id, b.id, 0, 1 \
           FROM contacts a JOIN contacts b ON b.workspace_id = a.workspace_id AND b.email = a.email AND b.id > a.id \
           WHERE a.workspace_id = ? AND a.email IS NOT NULL \
         ) p \
         WHERE p.primary_id > ? OR (p.primary_id = ? AND p.duplicate_id > ?) \
         GROUP BY p.primary_id, p.duplicate_id ORDER BY p.primary_id, p.duplicate_id LIMIT ?";
    let values = vec![
        scope.workspace_id.into(),
        scope.workspace_id.into(),
        after_primary.into(),
        after_primary.into(),
        after_duplicate.into(),
        ((first + 1) as i64).into(),
    ];
    let statement = portable(app.db.get_database_backend(), sql, values);
    let rows = DuplicatePair::find_by_statement(statement).all(&app.db).await?;
    Ok(into_page(rows, first))
}

/// Merges `duplicate` into `primary`, in one transaction: the duplicate's tags, custom
/// field values (the primary's win), channel identifiers (the primary's win on a channel both
/// have) and message history move to the primary; the primary's empty fields take the
/// duplicate's values; the duplicate is deleted. MANAGER or above, as deleting a contact is.
pub async fn merge_contacts(
    app: &App,
    scope: &Scope,
    primary_id: i64,
    duplicate_id: i64,
) -> ServiceResult<contact::Model> {
    scope.require(Role::Manager, "Merging contacts")?;
    if primary_id == duplicate_id {
        return Err(ServiceError::bad_input("duplicateId", "A contact cannot be merged into itself."));
    }
    let txn = crate::db::begin_write(&app.db).await?;
    let primary = scope.get::<contact::Entity>(&txn, "contact", primary_id).await?;
    let duplicate = scope.get::<contact::Entity>(&txn, "contact", duplicate_id).await?;
    let backend = txn.get_database_backend();
    let run = |sql: &str| portable(backend, sql, vec![primary.id.into(), duplicate.id.into()]);

    txn.execute_raw(run(
        "INSERT INTO contact_tags (contact_id, tag_id, created_at) SELECT ?, tag_id, created_at FROM contact_tags \
         WHERE contact_id = ? ON CONFLICT (contact_id, tag_id) DO NOTHING",
    ))
    .await?;
    txn.execute_raw(portable(
        backend,
        "UPDATE contact_channels SET contact_id = ? WHERE contact_id = ? \
         AND channel_id NOT IN (SELECT channel_id FROM contact_channels WHERE contact_id = ?)",
        vec![primary.id.into(), duplicate.id.into(), primary.id.into()],
    ))
    .await?;
    // A broadcast that reached both keeps one message per recipient: the duplicate's copy
    // stays in the history without a contact.
    txn.execute_raw(portable(
        backend,
        "UPDATE messages SET contact_id = ? WHERE contact_id = ? AND (broadcast_id IS NULL OR broadcast_id NOT IN \
         (SELECT broadcast_id FROM messages WHERE contact_id = ? AND broadcast_id IS NOT NULL))",
        vec![primary.id.into(), duplicate.id.into(), primary.id.into()],
    ))
    .await?;
    // Messages keep no foreign key to contacts on PostgreSQL (a per-row trigger on every
    // broadcast expansion): what ON DELETE SET NULL did is done here.
    txn.execute_raw(portable(
        backend,
        "UPDATE messages SET contact_id = NULL WHERE contact_id = ?",
        vec![duplicate.id.into()],
    ))
    .await?;

    let mut custom = duplicate.custom_fields.as_object().cloned().unwrap_or_default();
    custom.extend(primary.custom_fields.as_object().cloned().unwrap_or_default());
    let (last_interaction_at, last_channel) = match (primary.last_interaction_at, duplicate.last_interaction_at) {
        (Some(p), Some(d)) if d > p => (Some(d), duplicate.last_interacted_channel_id),
        (None, Some(d)) => (Some(d), duplicate.last_interacted_channel_id),
        _ => (primary.last_interaction_at, primary.last_interacted_channel_id),
    };
    let mut active: contact::ActiveModel = primary.clone().into();
    active.first_name = Set(primary.first_name.clone().or(duplicate.first_name.clone()));
    active.last_name = Set(primary.last_name.clone().or(duplicate.last_name.clone()));
    active.phone = Set(primary.phone.clone().or(duplicate.phone.clone()));
    active.email = Set(primary.email.clone().or(duplicate.email.clone()));
    active.language = Set(primary.language.clone().or(duplicate.language.clone()));
    active.custom_fields = Set(Value::Object(custom));
    active.last_interaction_at = Set(last_interaction_at);
    active.last_interacted_channel_id = Set(last_channel);
    active.created_at = Set(primary.created_at.min(duplicate.created_at));
    active.updated_at = Set(Utc::now());
    let merged = active.update(&txn).await?;
    txn.execute_raw(portable(
        backend,
        "DELETE FROM contacts WHERE id = ? AND workspace_id = ?",
        vec![duplicate.id.into(), scope.workspace_id.into()],
    ))
    .await?;
    txn.commit().await?;

    app.events.publish(Event::ContactChanged {
        workspace_id: scope.workspace_id,
        contact_id: merged.id,
        action: ChangeAction::Updated,
    });
    app.events.publish(Event::ContactChanged {
        workspace_id: scope.workspace_id,
        contact_id: duplicate.id,
        action: ChangeAction::Deleted,
    });
    Ok(merged)
}
