//! Channels: connected provider accounts. Owners and admins manage them (seed 003:
//! "¡Solo los propietarios y administradores pueden acceder a esta configuración!").
//!
//! Credentials are validated against the kind's capability table and are write-only: no
//! read path returns them. Deleting a channel keeps its row (message history points at it),
//! wipes its credentials and drops the contact identifiers on it: "Los contactos no se
//! eliminarán, pero ya no se podrá contactar con ellos a través del canal eliminado."

use chrono::Utc;
use entity::{ChannelKind, Role, channel, contact_channel};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::Scope;
use crate::channels::{Capabilities, RateLimit, capabilities};
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;
use crate::services::field_error;

pub async fn list_channels(app: &App, scope: &Scope) -> ServiceResult<Vec<channel::Model>> {
    Ok(scope
        .select::<channel::Entity>()
        .filter(channel::Column::DeletedAt.is_null())
        .order_by_asc(channel::Column::Name)
        .order_by_asc(channel::Column::Id)
        .all(&app.db)
        .await?)
}

/// A live (not deleted) channel of the caller's workspace.
pub async fn find_channel(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> ServiceResult<Option<channel::Model>> {
    Ok(scope.find::<channel::Entity>(conn, id).await?.filter(|c| c.deleted_at.is_none()))
}

pub async fn get_channel(conn: &impl ConnectionTrait, scope: &Scope, id: i64) -> ServiceResult<channel::Model> {
    find_channel(conn, scope, id).await?.ok_or_else(|| ServiceError::not_found("channel", id))
}

#[derive(Debug)]
pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub credentials: Map<String, Value>,
    pub base_url: Option<String>,
    pub rate_limit: Option<RateLimit>,
    pub daily_limit: Option<i32>,
}

pub async fn create_channel(app: &App, scope: &Scope, new: NewChannel) -> ServiceResult<channel::Model> {
    scope.require(Role::Admin, "Managing channels")?;
    let caps = capabilities(new.kind);
    let name = normalize::required_name(&new.name, 100).map_err(field_error("name"))?;
    let credentials = check_credentials(caps, new.credentials)?;
    let base_url = new.base_url.map(|url| check_base_url(caps, &url)).transpose()?;
    if caps.official_base_url.is_none() && base_url.is_none() && needs_base_url(caps.kind) {
        return Err(ServiceError::bad_input(
            "baseUrl",
            format!("A {} channel needs baseUrl: the URL Pregón posts messages to.", caps.label),
        ));
    }
    let rate = new.rate_limit.map(check_rate).transpose()?;
    let daily_limit = new.daily_limit.map(check_daily_limit).transpose()?;
    let now = Utc::now();
    Ok(channel::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name),
        kind: Set(new.kind),
        base_url: Set(base_url),
        credentials: Set(Value::Object(credentials)),
        rate_limit_count: Set(rate.map(|r| r.count as i32)),
        rate_limit_period_secs: Set(rate.map(|r| r.period_secs as i32)),
        daily_limit: Set(daily_limit),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    }
    .insert(&app.db)
    .await?)
}

/// Changes to a channel; `None` leaves a setting as it is, `Some(None)` resets it to the
/// kind's default.
#[derive(Debug, Default)]
pub struct ChannelChanges {
    pub name: Option<String>,
    /// Merged into the stored credentials: a key with `null` removes it.
    pub credentials: Option<Map<String, Value>>,
    pub base_url: Option<Option<String>>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub daily_limit: Option<Option<i32>>,
}

pub async fn update_channel(
    app: &App,
    scope: &Scope,
    id: i64,
    changes: ChannelChanges,
) -> ServiceResult<channel::Model> {
    scope.require(Role::Admin, "Managing channels")?;
    let current = get_channel(&app.db, scope, id).await?;
    let caps = capabilities(current.kind);
    let mut active: channel::ActiveModel = current.clone().into();
    if let Some(name) = changes.name {
        active.name = Set(normalize::required_name(&name, 100).map_err(field_error("name"))?);
    }
    if let Some(patch) = changes.credentials {
        let mut merged = current.credentials.as_object().cloned().unwrap_or_default();
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        active.credentials = Set(Value::Object(check_credentials(caps, merged)?));
    }
    if let Some(base_url) = changes.base_url {
        let base_url = base_url.map(|url| check_base_url(caps, &url)).transpose()?;
        if base_url.is_none() && caps.official_base_url.is_none() && needs_base_url(caps.kind) {
            return Err(ServiceError::bad_input("baseUrl", format!("A {} channel needs baseUrl.", caps.label)));
        }
        active.base_url = Set(base_url);
    }
    if let Some(rate) = changes.rate_limit {
        let rate = rate.map(check_rate).transpose()?;
        active.rate_limit_count = Set(rate.map(|r| r.count as i32));
        active.rate_limit_period_secs = Set(rate.map(|r| r.period_secs as i32));
    }
    if let Some(daily_limit) = changes.daily_limit {
        active.daily_limit = Set(daily_limit.map(check_daily_limit).transpose()?);
    }
    active.updated_at = Set(Utc::now());
    let updated = active.update(&app.db).await?;
    app.channels.forget(id);
    Ok(updated)
}

pub async fn delete_channel(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Admin, "Managing channels")?;
    let current = get_channel(&app.db, scope, id).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    contact_channel::Entity::delete_many().filter(contact_channel::Column::ChannelId.eq(current.id)).exec(&txn).await?;
    let mut active: channel::ActiveModel = current.clone().into();
    active.credentials = Set(Value::Object(Map::new()));
    active.deleted_at = Set(Some(Utc::now()));
    active.update(&txn).await?;
    txn.commit().await?;
    app.channels.forget(current.id);
    Ok(current.id)
}

/// Live channels as provider webhooks look them up, kept for [`CACHE_TTL`]: every callback
/// names its channel, and a database read per callback was a large part of a callback's cost.
/// This instance forgets a channel as soon as it is changed or deleted; another instance sees
/// the change within the second (a rotated webhook secret, a deleted channel).
#[derive(Default)]
pub struct ChannelCache {
    entries: std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, Option<channel::Model>)>>,
}

/// How long a looked-up channel is kept.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl ChannelCache {
    fn get(&self, id: i64) -> Option<Option<channel::Model>> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(&id).filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, channel)| channel.clone())
    }

    fn put(&self, id: i64, channel: Option<channel::Model>) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Unknown ids are kept too (a probe of random ids costs no reads), within a bound.
        if entries.len() >= 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        if entries.len() < 10_000 {
            entries.insert(id, (std::time::Instant::now(), channel));
        }
    }

    /// Drops `id`, after a change to it.
    pub fn forget(&self, id: i64) {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    }
}

/// The live (not deleted) channel `id` of any workspace, for a provider's webhook.
pub async fn webhook_channel(app: &App, id: i64) -> ServiceResult<Option<channel::Model>> {
    if let Some(found) = app.channels.get(id) {
        return Ok(found);
    }
    let found = channel::Entity::find_by_id(id).filter(channel::Column::DeletedAt.is_null()).one(&app.db).await?;
    app.channels.put(id, found.clone());
    Ok(found)
}

/// Live channels by id, for loaders (only `workspace_id`'s).
pub async fn live_channels_by_ids(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    ids: &[i64],
) -> ServiceResult<Vec<channel::Model>> {
    Ok(channel::Entity::find()
        .filter(channel::Column::WorkspaceId.eq(workspace_id))
        .filter(channel::Column::Id.is_in(ids.iter().copied()))
        .filter(channel::Column::DeletedAt.is_null())
        .all(conn)
        .await?)
}

/// The rate the dispatcher uses: the channel's override, else the kind's default.
pub fn effective_rate(channel: &channel::Model) -> RateLimit {
    match (channel.rate_limit_count, channel.rate_limit_period_secs) {
        (Some(count), Some(period)) if count > 0 && period > 0 => {
            RateLimit { count: count as u32, period_secs: period as u32 }
        }
        _ => capabilities(channel.kind).default_rate,
    }
}

/// The provider base URL: the channel's, else the kind's official host.
pub fn effective_base_url(channel: &channel::Model) -> Option<String> {
    channel.base_url.clone().or_else(|| capabilities(channel.kind).official_base_url.map(str::to_owned))
}

/// The credential keys a channel has (values are never returned).
pub fn credential_keys(channel: &channel::Model) -> Vec<String> {
    let mut keys: Vec<String> =
        channel.credentials.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

fn needs_base_url(kind: ChannelKind) -> bool {
    kind == ChannelKind::Custom
}

fn check_credentials(caps: &Capabilities, credentials: Map<String, Value>) -> ServiceResult<Map<String, Value>> {
    let expected = || {
        let mut keys: Vec<&str> = caps.required_credentials.to_vec();
        keys.extend(caps.optional_credentials.iter().copied());
        if keys.is_empty() { "none".to_owned() } else { keys.join(", ") }
    };
    for (key, value) in &credentials {
        if !caps.required_credentials.contains(&key.as_str()) && !caps.optional_credentials.contains(&key.as_str()) {
            return Err(ServiceError::bad_input(
                "credentials",
                format!("'{key}' is not a credential of a {} channel. Expected: {}.", caps.label, expected()),
            ));
        }
        match value {
            Value::String(s) if !s.trim().is_empty() && s.len() <= 4096 => {}
            _ => {
                return Err(ServiceError::bad_input(
                    "credentials",
                    format!("Credential '{key}' must be a non-empty string of at most 4096 characters."),
                ));
            }
        }
    }
    let missing: Vec<&str> =
        caps.required_credentials.iter().copied().filter(|key| !credentials.contains_key(*key)).collect();
    if !missing.is_empty() {
        return Err(ServiceError::bad_input(
            "credentials",
            format!(
                "A {} channel needs the credentials {}; missing: {}.",
                caps.label,
                caps.required_credentials.join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(credentials)
}

fn check_base_url(caps: &Capabilities, input: &str) -> ServiceResult<String> {
    if matches!(caps.kind, ChannelKind::Sandbox | ChannelKind::Webchat | ChannelKind::Email) {
        return Err(ServiceError::bad_input(
            "baseUrl",
            format!("A {} channel does not call an HTTP API; leave baseUrl out.", caps.label),
        ));
    }
    let trimmed = input.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|_| {
        ServiceError::bad_input("baseUrl", format!("'{trimmed}' is not a URL; write it as https://host[:port][/path]."))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ServiceError::bad_input(
            "baseUrl",
            format!("'{trimmed}' must be an http or https URL with a host."),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ServiceError::bad_input(
            "baseUrl",
            "baseUrl must not carry a query, a fragment or user:password; put secrets in credentials.",
        ));
    }
    Ok(trimmed.to_owned())
}

fn check_rate(rate: RateLimit) -> ServiceResult<RateLimit> {
    if !(1..=100_000).contains(&rate.count) || !(1..=86_400).contains(&rate.period_secs) {
        return Err(ServiceError::bad_input(
            "rateLimit",
            "A rate limit is 1 to 100000 messages per 1 to 86400 seconds.",
        ));
    }
    Ok(rate)
}

fn check_daily_limit(limit: i32) -> ServiceResult<i32> {
    if !(1..=100_000_000).contains(&limit) {
        return Err(ServiceError::bad_input("dailyLimit", "A daily limit is between 1 and 100000000 messages."));
    }
    Ok(limit)
}
