//! Custom contact fields ("Campos personalizados"): the workspace defines a key, a label and a
//! type; contacts carry values of that type under the key.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use entity::{ContactFieldType, Role, contact_field};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, QueryFilter, QueryOrder, Statement,
};
use serde_json::{Map, Number, Value};

use crate::app::App;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::normalize;
use crate::services::field_error;

/// Keys that name built-in contact attributes (and CSV columns), so a custom field cannot.
const RESERVED_KEYS: &[&str] =
    &["id", "first_name", "last_name", "name", "phone", "email", "language", "tags", "created_at", "updated_at"];

pub const MAX_TEXT_CHARS: usize = 10_000;

pub async fn list_contact_fields(app: &App, scope: &Scope) -> ServiceResult<Vec<contact_field::Model>> {
    Ok(scope.select::<contact_field::Entity>().order_by_asc(contact_field::Column::Key).all(&app.db).await?)
}

/// The workspace's field definitions by key.
pub async fn definitions(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> ServiceResult<HashMap<String, contact_field::Model>> {
    Ok(scope.select::<contact_field::Entity>().all(conn).await?.into_iter().map(|f| (f.key.clone(), f)).collect())
}

pub async fn create_contact_field(
    app: &App,
    scope: &Scope,
    key: &str,
    name: &str,
    field_type: ContactFieldType,
) -> ServiceResult<contact_field::Model> {
    scope.require(Role::Admin, "Defining contact fields")?;
    let key = check_key(key)?;
    let name = normalize::required_name(name, 100).map_err(field_error("name"))?;
    contact_field::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        key: Set(key.clone()),
        name: Set(name),
        field_type: Set(field_type),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .map_err(conflict_on_unique(format!("A contact field with key '{key}' already exists.")))
}

pub async fn rename_contact_field(
    app: &App,
    scope: &Scope,
    id: i64,
    name: &str,
) -> ServiceResult<contact_field::Model> {
    scope.require(Role::Admin, "Defining contact fields")?;
    let current = scope.get::<contact_field::Entity>(&app.db, "contact field", id).await?;
    let mut active: contact_field::ActiveModel = current.into();
    active.name = Set(normalize::required_name(name, 100).map_err(field_error("name"))?);
    Ok(active.update(&app.db).await?)
}

/// Deletes a field definition and removes its values from every contact, in one transaction.
pub async fn delete_contact_field(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Admin, "Defining contact fields")?;
    let field = scope.get::<contact_field::Entity>(&app.db, "contact field", id).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    // Keys are `[a-z][a-z0-9_]*`, so the JSON path needs no quoting.
    let backend = txn.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "UPDATE contacts SET custom_fields = custom_fields - $1 WHERE workspace_id = $2 AND custom_fields ? $1",
            [field.key.clone().into(), scope.workspace_id.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "UPDATE contacts SET custom_fields = json_remove(custom_fields, ?) \
             WHERE workspace_id = ? AND json_type(custom_fields, ?) IS NOT NULL",
            [format!("$.{}", field.key).into(), scope.workspace_id.into(), format!("$.{}", field.key).into()],
        ),
    };
    txn.execute_raw(statement).await?;
    scope.delete_many::<contact_field::Entity>().filter(contact_field::Column::Id.eq(field.id)).exec(&txn).await?;
    txn.commit().await?;
    Ok(field.id)
}

fn check_key(input: &str) -> ServiceResult<String> {
    let key = input.trim();
    let mut chars = key.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.len() <= 63;
    if !valid {
        return Err(ServiceError::bad_input(
            "key",
            format!(
                "'{key}' is not a field key: use lower-case letters, digits and '_', starting with a letter (at most 63)."
            ),
        ));
    }
    if RESERVED_KEYS.contains(&key) {
        return Err(ServiceError::bad_input(
            "key",
            format!("'{key}' names a built-in contact attribute; choose another key."),
        ));
    }
    Ok(key.to_owned())
}

/// Checks one value against its field's type and returns it normalised. Strings are accepted
/// for every type (CSV imports carry strings), e.g. `"12.5"` for a NUMBER field.
pub fn check_value(field: &contact_field::Model, value: &Value) -> Result<Value, String> {
    let bad = |expected: &str| format!("Field '{}' is {expected}; got {value}.", field.key);
    match field.field_type {
        ContactFieldType::Text => match value {
            Value::String(s) if s.chars().count() <= MAX_TEXT_CHARS => Ok(Value::String(s.trim().to_owned())),
            Value::String(_) => Err(format!("Field '{}' holds at most {MAX_TEXT_CHARS} characters.", field.key)),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(bad("text")),
        },
        ContactFieldType::Number => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            number.and_then(Number::from_f64).map(Value::Number).ok_or_else(|| bad("a number"))
        }
        ContactFieldType::Date => match value {
            Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| bad("a date written YYYY-MM-DD")),
            _ => Err(bad("a date written YYYY-MM-DD")),
        },
        ContactFieldType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err(bad("true or false")),
            },
            _ => Err(bad("true or false")),
        },
    }
}

/// Applies `patch` to `current`: keys with `null` are removed, others checked and set.
pub fn apply_values(
    definitions: &HashMap<String, contact_field::Model>,
    current: &mut Map<String, Value>,
    patch: Map<String, Value>,
) -> ServiceResult<()> {
    for (key, value) in patch {
        let Some(field) = definitions.get(&key) else {
            return Err(ServiceError::bad_input(
                "customFields",
                format!("'{key}' is not a contact field of this workspace; create it first with createContactField."),
            ));
        };
        if value.is_null() {
            current.remove(&key);
        } else {
            let checked =
                check_value(field, &value).map_err(|message| ServiceError::bad_input("customFields", message))?;
            current.insert(key, checked);
        }
    }
    Ok(())
}
