//! Broadcasts: one content sent to a segment over a channel (seed 002).
//!
//! Life cycle: DRAFT → SCHEDULED → RUNNING → COMPLETED, or FAILED with one of seed 000's
//! reasons; cancelling a SCHEDULED broadcast returns it to DRAFT. Only a DRAFT can be changed.
//! The dispatcher starts SCHEDULED broadcasts when their time comes (`dispatcher::start`);
//! everything else about them is decided here. Managers and above create and send broadcasts;
//! everyone reads them.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entity::{BroadcastStatus, Role, broadcast, channel, message, segment, workspace};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::auth::Scope;
use crate::channels::{Adapters, MessageContent, RateLimit, capabilities};
use crate::error::{ServiceError, ServiceResult};
use crate::events::{ChangeAction, Event};
use crate::normalize;
use crate::services::{Page, field_error, into_page, segments};

/// Broadcasts per page when the caller does not say, and at most.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which channel a broadcast goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelChoice {
    /// This channel.
    Fixed(i64),
    /// Each contact on the channel it last wrote from (seed 002, "Último canal interactuado").
    LastInteracted,
}

/// A broadcast to create.
#[derive(Debug, Clone)]
pub struct NewBroadcast {
    pub name: String,
    pub label: Option<String>,
    pub channel: ChannelChoice,
    pub segment_id: i64,
    pub content: MessageContent,
    /// A cap below the channel's rate; `None` sends as fast as the channel allows.
    pub send_rate: Option<RateLimit>,
}

/// Changes to a DRAFT; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct BroadcastChanges {
    pub name: Option<String>,
    pub label: Option<Option<String>>,
    pub channel: Option<ChannelChoice>,
    pub segment_id: Option<i64>,
    pub content: Option<MessageContent>,
    pub send_rate: Option<Option<RateLimit>>,
}

/// Which of the original's recipients a resend goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendFilter {
    /// Only the recipients whose message FAILED (else every recipient).
    pub only_failed: bool,
    /// Only failures with one of these error codes (empty: any).
    #[serde(default)]
    pub error_codes: Vec<String>,
}

/// Which broadcasts to list.
#[derive(Debug, Clone, Default)]
pub struct BroadcastFilter {
    pub status: Option<BroadcastStatus>,
    /// Broadcast time (sent, else scheduled, else created) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Broadcast time before.
    pub to: Option<DateTime<Utc>>,
}

pub fn status_name(status: BroadcastStatus) -> &'static str {
    match status {
        BroadcastStatus::Draft => "DRAFT",
        BroadcastStatus::Scheduled => "SCHEDULED",
        BroadcastStatus::Running => "RUNNING",
        BroadcastStatus::Completed => "COMPLETED",
        BroadcastStatus::Failed => "FAILED",
    }
}

/// The content a broadcast stores.
pub fn stored_content(model: &broadcast::Model) -> ServiceResult<MessageContent> {
    serde_json::from_value(model.content.clone())
        .map_err(|err| ServiceError::internal(anyhow::anyhow!("broadcast {} has unreadable content: {err}", model.id)))
}

/// The resend filter a broadcast stores, for resends.
pub fn stored_resend_filter(model: &broadcast::Model) -> ServiceResult<Option<ResendFilter>> {
    model.resend_filter.clone().map(serde_json::from_value).transpose().map_err(|err| {
        ServiceError::internal(anyhow::anyhow!("broadcast {} has an unreadable resend filter: {err}", model.id))
    })
}

pub async fn find_broadcast(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> ServiceResult<Option<broadcast::Model>> {
    scope.find::<broadcast::Entity>(conn, id).await
}

pub async fn get_broadcast(conn: &impl ConnectionTrait, scope: &Scope, id: i64) -> ServiceResult<broadcast::Model> {
    scope.get::<broadcast::Entity>(conn, "broadcast", id).await
}

/// Follows a broadcast's progress (`broadcastProgress`): the hub's subscription, starting from
/// the row as it is. With several instances the row is read again once subscribed: a change
/// another instance announced between the first read and the subscription was not applied here
/// (nobody followed the broadcast yet), and it may have been the last one.
pub async fn follow_progress(app: &App, scope: &Scope, id: i64) -> ServiceResult<crate::progress::Subscription> {
    let model = get_broadcast(&app.db, scope, id).await?;
    let subscription = app.progress.subscribe(&model);
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        app.progress.apply(&get_broadcast(&app.db, scope, id).await?);
    }
    Ok(subscription)
}

/// The broadcast time the table and calendar show: when it started, else when it is
/// scheduled, else (a DRAFT without a time) when it was created.
fn shown_time() -> sea_orm::sea_query::SimpleExpr {
    Func::coalesce([
        Expr::col(broadcast::Column::StartedAt),
        Expr::col(broadcast::Column::ScheduledAt),
        Expr::col(broadcast::Column::CreatedAt),
    ])
    .into()
}

/// One page, newest first, after the broadcast id `after`.
pub async fn list_broadcasts(
    app: &App,
    scope: &Scope,
    filter: &BroadcastFilter,
    after: Option<i64>,
    first: u64,
) -> ServiceResult<Page<broadcast::Model>> {
    let mut query = filtered(scope, filter);
    if let Some(after) = after {
        query = query.filter(broadcast::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(broadcast::Column::Id).limit(first + 1).all(&app.db).await?;
    Ok(into_page(rows, first))
}

pub async fn count_broadcasts(app: &App, scope: &Scope, filter: &BroadcastFilter) -> ServiceResult<u64> {
    Ok(filtered(scope, filter).count(&app.db).await?)
}

fn filtered(scope: &Scope, filter: &BroadcastFilter) -> sea_orm::Select<broadcast::Entity> {
    let mut query = scope.select::<broadcast::Entity>();
    if let Some(status) = filter.status {
        query = query.filter(broadcast::Column::Status.eq(status));
    }
    if let Some(from) = filter.from {
        query = query.filter(shown_time().gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(shown_time().lt(to));
    }
    query
}

/// The broadcasts of a calendar month (`YYYY-MM`) in the workspace's time zone, each on its
/// day: the day it was sent or is scheduled, or, for a DRAFT without a time, the day it was
/// created (seed 002, "Vista de Calendario").
pub async fn calendar(app: &App, scope: &Scope, month: &str) -> ServiceResult<Vec<(NaiveDate, Vec<broadcast::Model>)>> {
    let first_day = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .map_err(|_| ServiceError::bad_input("month", format!("'{month}' is not a month; write it as YYYY-MM.")))?;
    let next_month = first_day
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| ServiceError::bad_input("month", "That month is out of range."))?;
    let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
    let tz: Tz = workspace.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let start = local_midnight(tz, first_day);
    let end = local_midnight(tz, next_month);
    let filter = BroadcastFilter { status: None, from: Some(start), to: Some(end) };
    let rows = filtered(scope, &filter).order_by_asc(shown_time()).limit(5000).all(&app.db).await?;
    let mut days: Vec<(NaiveDate, Vec<broadcast::Model>)> = Vec::new();
    for row in rows {
        let at = row.started_at.or(row.scheduled_at).unwrap_or(row.created_at);
        let day = at.with_timezone(&tz).date_naive();
        match days.last_mut() {
            Some((last, list)) if *last == day => list.push(row),
            _ => days.push((day, vec![row])),
        }
    }
    debug_assert!(days.iter().all(|(day, _)| day.month() == first_day.month()));
    Ok(days)
}

/// The first instant of `day` in `tz` (the earliest, where a clock change makes it ambiguous).
pub fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        // Midnight skipped by a clock change: the day starts an hour later.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight)),
    }
}

pub async fn create_broadcast(app: &App, scope: &Scope, new: NewBroadcast) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Creating broadcasts")?;
    let name = normalize::required_name(&new.name, 200).map_err(field_error("name"))?;
    let label = new.label.map(|l| normalize::name(&l, 100).map_err(field_error("label"))).transpose()?.flatten();
    let content = new.content.normalized().map_err(|p| ServiceError::bad_input(p.field, p.message))?;
    check_channel(&app.db, scope, new.channel, &content).await?;
    segments::get_segment(&app.db, scope, new.segment_id).await?;
    let send_rate = new.send_rate.map(check_send_rate).transpose()?;
    let now = Utc::now();
    let created = broadcast::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name),
        label: Set(label),
        channel_id: Set(match new.channel {
            ChannelChoice::Fixed(id) => Some(id),
            ChannelChoice::LastInteracted => None,
        }),
        use_last_interacted_channel: Set(new.channel == ChannelChoice::LastInteracted),
        segment_id: Set(Some(new.segment_id)),
        content: Set(serde_json::to_value(&content).map_err(ServiceError::internal)?),
        send_rate_count: Set(send_rate.map(|r| r.count as i32)),
        send_rate_period_secs: Set(send_rate.map(|r| r.period_secs as i32)),
        status: Set(BroadcastStatus::Draft),
        created_by_user_id: Set(Some(scope.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await?;
    announce(app, &created, ChangeAction::Created);
    Ok(created)
}

pub async fn update_broadcast(
    app: &App,
    scope: &Scope,
    id: i64,
    changes: BroadcastChanges,
) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Changing broadcasts")?;
    let current = get_broadcast(&app.db, scope, id).await?;
    require_status(&current, &[BroadcastStatus::Draft], "changed")?;
    let mut active: broadcast::ActiveModel = current.clone().into();
    if let Some(name) = changes.name {
        active.name = Set(normalize::required_name(&name, 200).map_err(field_error("name"))?);
    }
    if let Some(label) = changes.label {
        active.label =
            Set(label.map(|l| normalize::name(&l, 100).map_err(field_error("label"))).transpose()?.flatten());
    }
    let content = match changes.content {
        Some(content) => content.normalized().map_err(|p| ServiceError::bad_input(p.field, p.message))?,
        None => stored_content(&current)?,
    };
    let channel = changes.channel.unwrap_or(match current.channel_id {
        Some(id) if !current.use_last_interacted_channel => ChannelChoice::Fixed(id),
        _ => ChannelChoice::LastInteracted,
    });
    check_channel(&app.db, scope, channel, &content).await?;
    active.content = Set(serde_json::to_value(&content).map_err(ServiceError::internal)?);
    active.channel_id = Set(match channel {
        ChannelChoice::Fixed(id) => Some(id),
        ChannelChoice::LastInteracted => None,
    });
    active.use_last_interacted_channel = Set(channel == ChannelChoice::LastInteracted);
    if let Some(segment_id) = changes.segment_id {
        segments::get_segment(&app.db, scope, segment_id).await?;
        active.segment_id = Set(Some(segment_id));
    }
    if let Some(rate) = changes.send_rate {
        let rate = rate.map(check_send_rate).transpose()?;
        active.send_rate_count = Set(rate.map(|r| r.count as i32));
        active.send_rate_period_secs = Set(rate.map(|r| r.period_secs as i32));
    }
    active.updated_at = Set(Utc::now());
    let updated = guarded_update(app, active, BroadcastStatus::Draft).await?;
    announce(app, &updated, ChangeAction::Updated);
    Ok(updated)
}

/// Deletes a broadcast that sent nothing (DRAFT, SCHEDULED, or FAILED at its start); one that
/// sent messages stays, for reports.
pub async fn delete_broadcast(app: &App, scope: &Scope, id: i64) -> ServiceResult<i64> {
    scope.require(Role::Manager, "Deleting broadcasts")?;
    let current = get_broadcast(&app.db, scope, id).await?;
    let deletable = [BroadcastStatus::Draft, BroadcastStatus::Scheduled, BroadcastStatus::Failed];
    if !deletable.contains(&current.status) || current.total_messages > 0 {
        return Err(ServiceError::Conflict(format!(
            "The broadcast is {}; a broadcast that sent messages is kept for the reports. Only DRAFT, SCHEDULED or FAILED broadcasts without messages can be deleted.",
            status_name(current.status)
        )));
    }
    let deleted = scope
        .delete_many::<broadcast::Entity>()
        .filter(broadcast::Column::Id.eq(current.id))
        .filter(broadcast::Column::Status.eq(current.status))
        .exec(&app.db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(changed_meanwhile());
    }
    announce(app, &current, ChangeAction::Deleted);
    Ok(current.id)
}

/// DRAFT (or SCHEDULED, to move it) → SCHEDULED at `at`. The target recipients are the
/// segment's size now; who is sent to is decided again when it starts (seed 000).
pub async fn schedule_broadcast(
    app: &App,
    scope: &Scope,
    id: i64,
    at: DateTime<Utc>,
) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Scheduling broadcasts")?;
    if at < Utc::now() - chrono::Duration::seconds(5) {
        return Err(ServiceError::bad_input(
            "at",
            "That time has passed; pick a future time, or use sendBroadcastNow to send at once.",
        ));
    }
    let scheduled = schedule(app, scope, id, at).await?;
    app.wake_dispatcher();
    Ok(scheduled)
}

/// DRAFT or SCHEDULED → SCHEDULED now: the dispatcher starts it at once.
pub async fn send_broadcast_now(app: &App, scope: &Scope, id: i64) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Sending broadcasts")?;
    let scheduled = schedule(app, scope, id, Utc::now()).await?;
    app.wake_dispatcher();
    Ok(scheduled)
}

async fn schedule(app: &App, scope: &Scope, id: i64, at: DateTime<Utc>) -> ServiceResult<broadcast::Model> {
    let current = get_broadcast(&app.db, scope, id).await?;
    require_status(&current, &[BroadcastStatus::Draft, BroadcastStatus::Scheduled], "scheduled or sent")?;
    let content = stored_content(&current)?;
    let channel = match current.channel_id {
        Some(id) if !current.use_last_interacted_channel => ChannelChoice::Fixed(id),
        None if current.use_last_interacted_channel => ChannelChoice::LastInteracted,
        _ => return Err(ServiceError::bad_input("channelId", "The broadcast's channel was deleted; choose another.")),
    };
    check_channel(&app.db, scope, channel, &content).await?;
    let target = target_recipients(app, scope, &current).await?;
    let mut active: broadcast::ActiveModel = current.clone().into();
    active.status = Set(BroadcastStatus::Scheduled);
    active.scheduled_at = Set(Some(at));
    active.target_recipients = Set(target);
    active.sent_by_user_id = Set(Some(scope.user_id));
    active.updated_at = Set(Utc::now());
    let updated = guarded_update(app, active, current.status).await?;
    announce(app, &updated, ChangeAction::Updated);
    Ok(updated)
}

/// SCHEDULED → DRAFT (seed 002: "Si se cancela la transmisión, vuelve al estado Borrador").
pub async fn cancel_broadcast(app: &App, scope: &Scope, id: i64) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Cancelling broadcasts")?;
    let current = get_broadcast(&app.db, scope, id).await?;
    require_status(&current, &[BroadcastStatus::Scheduled], "cancelled")?;
    let mut active: broadcast::ActiveModel = current.into();
    active.status = Set(BroadcastStatus::Draft);
    active.scheduled_at = Set(None);
    active.target_recipients = Set(None);
    active.sent_by_user_id = Set(None);
    active.updated_at = Set(Utc::now());
    let updated = guarded_update(app, active, BroadcastStatus::Scheduled).await?;
    announce(app, &updated, ChangeAction::Updated);
    Ok(updated)
}

/// A new broadcast, linked to `id`, to the recipients whose message failed (optionally only
/// with one of `error_codes`), or to all its recipients; a DRAFT, or sent at once with
/// `send_now`. Replaces seed 000's export, re-import, tag, segment and resend steps.
pub async fn resend_broadcast(
    app: &App,
    scope: &Scope,
    id: i64,
    filter: ResendFilter,
    send_now: bool,
) -> ServiceResult<broadcast::Model> {
    scope.require(Role::Manager, "Resending broadcasts")?;
    let original = get_broadcast(&app.db, scope, id).await?;
    require_status(&original, &[BroadcastStatus::Completed], "resent")?;
    let filter = ResendFilter {
        only_failed: filter.only_failed,
        error_codes: filter.error_codes.into_iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect(),
    };
    if !filter.only_failed && !filter.error_codes.is_empty() {
        return Err(ServiceError::bad_input("errorCodes", "errorCodes narrows the failed recipients; set onlyFailed."));
    }
    let recipients = resend_recipients(&original, &filter).count(&app.db).await?;
    if recipients == 0 {
        return Err(ServiceError::bad_input(
            "onlyFailed",
            if filter.only_failed {
                "No recipient of this broadcast failed (with those error codes): there is nobody to resend to."
            } else {
                "This broadcast had no recipients: there is nobody to resend to."
            },
        ));
    }
    let now = Utc::now();
    let name = format!("{} (resend)", original.name).chars().take(200).collect::<String>();
    let created = broadcast::ActiveModel {
        workspace_id: Set(scope.workspace_id),
        name: Set(name),
        label: Set(original.label.clone()),
        channel_id: Set(original.channel_id),
        use_last_interacted_channel: Set(original.use_last_interacted_channel),
        segment_id: Set(original.segment_id),
        content: Set(original.content.clone()),
        send_rate_count: Set(original.send_rate_count),
        send_rate_period_secs: Set(original.send_rate_period_secs),
        status: Set(if send_now { BroadcastStatus::Scheduled } else { BroadcastStatus::Draft }),
        scheduled_at: Set(send_now.then_some(now)),
        sent_by_user_id: Set(send_now.then_some(scope.user_id)),
        created_by_user_id: Set(Some(scope.user_id)),
        resend_of_id: Set(Some(original.id)),
        resend_filter: Set(Some(serde_json::to_value(&filter).map_err(ServiceError::internal)?)),
        target_recipients: Set(Some(recipients as i64)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await?;
    announce(app, &created, ChangeAction::Created);
    if send_now {
        app.wake_dispatcher();
    }
    Ok(created)
}

/// The original's messages a resend goes to.
pub fn resend_recipients(original: &broadcast::Model, filter: &ResendFilter) -> sea_orm::Select<message::Entity> {
    let mut query = message::Entity::find()
        .filter(message::Column::BroadcastId.eq(original.id))
        .filter(message::Column::ContactId.is_not_null());
    if filter.only_failed {
        query = query.filter(message::Column::Status.eq(entity::DeliveryStatus::Failed));
        if !filter.error_codes.is_empty() {
            query = query.filter(message::Column::ErrorCode.is_in(filter.error_codes.clone()));
        }
    }
    query
}

/// The segment's size now (`None` when the segment is gone); a resend keeps its own.
async fn target_recipients(app: &App, scope: &Scope, model: &broadcast::Model) -> ServiceResult<Option<i64>> {
    if model.resend_of_id.is_some() {
        return Ok(model.target_recipients);
    }
    let Some(segment_id) = model.segment_id else {
        return Ok(None);
    };
    let Some(segment) = scope.find::<segment::Entity>(&app.db, segment_id).await? else {
        return Ok(None);
    };
    let filter = segments::stored_filter(&segment)?;
    Ok(Some(segments::count_matching(app, scope, &filter).await? as i64))
}

/// Up front (seed 003): the channel exists, can broadcast, Pregón can send on it, and the
/// content carries what it needs (a template on official WhatsApp, a tag on Messenger).
async fn check_channel(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    choice: ChannelChoice,
    content: &MessageContent,
) -> ServiceResult<Option<channel::Model>> {
    let ChannelChoice::Fixed(channel_id) = choice else {
        return Ok(None);
    };
    let channel = scope
        .select::<channel::Entity>()
        .filter(channel::Column::Id.eq(channel_id))
        .filter(channel::Column::DeletedAt.is_null())
        .one(conn)
        .await?
        .ok_or_else(|| {
            ServiceError::bad_input("channelId", format!("No channel with id {channel_id} in this workspace."))
        })?;
    let caps = capabilities(channel.kind);
    content.plan_for(channel.kind, true).map_err(|p| ServiceError::bad_input(p.field, p.message))?;
    if !Adapters::supports(channel.kind) {
        return Err(ServiceError::bad_input(
            "channelId",
            format!("Pregón has no sending adapter for {} channels; use another channel.", caps.label),
        ));
    }
    Ok(Some(channel))
}

fn check_send_rate(rate: RateLimit) -> ServiceResult<RateLimit> {
    if !(1..=100_000).contains(&rate.count) || !(1..=86_400).contains(&rate.period_secs) {
        return Err(ServiceError::bad_input("sendRate", "A send rate is 1 to 100000 messages per 1 to 86400 seconds."));
    }
    Ok(rate)
}

/// CONFLICT naming the current status unless it is one of `allowed`.
fn require_status(model: &broadcast::Model, allowed: &[BroadcastStatus], action: &str) -> ServiceResult<()> {
    if allowed.contains(&model.status) {
        return Ok(());
    }
    let allowed: Vec<&str> = allowed.iter().map(|s| status_name(*s)).collect();
    Err(ServiceError::Conflict(format!(
        "The broadcast is {}; only a {} broadcast can be {action}.",
        status_name(model.status),
        allowed.join(" or ")
    )))
}

fn changed_meanwhile() -> ServiceError {
    ServiceError::Conflict(
        "The broadcast changed status meanwhile (the dispatcher may have started it); read it again.".into(),
    )
}

/// Saves `active` only if the row is still in `expected` status.
async fn guarded_update(
    app: &App,
    active: broadcast::ActiveModel,
    expected: BroadcastStatus,
) -> ServiceResult<broadcast::Model> {
    let id = active.id.clone().unwrap();
    let updated = broadcast::Entity::update_many()
        .set(active)
        .filter(broadcast::Column::Id.eq(id))
        .filter(broadcast::Column::Status.eq(expected))
        .exec_with_returning(&app.db)
        .await?;
    updated.into_iter().next().ok_or_else(changed_meanwhile)
}

/// Tells subscribers a broadcast changed: its progress (unless deleted) and `broadcastChanged`.
pub fn announce(app: &App, model: &broadcast::Model, action: ChangeAction) {
    if action != ChangeAction::Deleted {
        app.progress.publish(model);
    }
    app.events.publish(Event::BroadcastChanged {
        workspace_id: model.workspace_id,
        broadcast_id: model.id,
        action,
        status: model.status,
    });
}
