//! The messages report (seed 004): incoming messages by channel; outgoing messages by channel,
//! source, type and subtype; the delivery of outgoing messages; each with a total, a daily
//! series and a share per group.
//!
//! Days are the workspace's (its IANA time zone). An incoming message counts on the day it
//! arrived; an outgoing one on the day it went out, or failed if it never went out
//! (`COALESCE(sent_at, failed_at)`; queued and sending messages are not counted yet). Delivery
//! counts each outgoing message once, by its current status; statuses stop changing 30 days
//! after sending (`services::delivery`), so later changes are not counted.
//!
//! Everything is counted in SQL: one grouped query for incoming messages and one for outgoing
//! messages (by channel, source, type, subtype, status and day), whose few rows are then summed
//! per section. No message row is read into Rust.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{DeliveryStatus, MessageDirection, MessageSource, MessageType, channel, message, team_member};
use sea_orm::sea_query::{Alias, CaseStatement, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, StatementBuilder,
};

use crate::app::App;
use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult};
use crate::services::broadcasts::local_midnight;

/// A preset period, in the workspace's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Today,
    Yesterday,
    /// The 7 days ending today, today included.
    Last7Days,
    Last14Days,
    Last30Days,
    ThisMonth,
    LastMonth,
}

/// Longest custom period a report covers.
pub const MAX_DAYS: i64 = 366;

/// The period a report covers: `[from, to)`, and the workspace days in it.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    /// Each day's date and the instant it starts (the first starts at `from`).
    pub days: Vec<(NaiveDate, DateTime<Utc>)>,
}

/// Resolves a preset or a `[from, to)` pair in `tz`, as of `now`.
pub fn period(
    preset: Option<Preset>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    tz: Tz,
    now: DateTime<Utc>,
) -> ServiceResult<Period> {
    let today = now.with_timezone(&tz).date_naive();
    let (from, to) = match (preset, from, to) {
        (Some(preset), None, None) => {
            let month_start = today.with_day(1).expect("day 1 exists");
            let (first, last) = match preset {
                Preset::Today => (today, today),
                Preset::Yesterday => (today - Duration::days(1), today - Duration::days(1)),
                Preset::Last7Days => (today - Duration::days(6), today),
                Preset::Last14Days => (today - Duration::days(13), today),
                Preset::Last30Days => (today - Duration::days(29), today),
                Preset::ThisMonth => (month_start, today),
                Preset::LastMonth => {
                    let last = month_start - Duration::days(1);
                    (last.with_day(1).expect("day 1 exists"), last)
                }
            };
            let to_day = if preset == Preset::ThisMonth {
                // The whole month, so that its series has every day.
                month_start.checked_add_months(chrono::Months::new(1)).expect("a valid month")
            } else {
                last + Duration::days(1)
            };
            (local_midnight(tz, first), local_midnight(tz, to_day))
        }
        (None, Some(from), Some(to)) => {
            if to <= from {
                return Err(ServiceError::bad_input("range.to", "The range's end must be after its start."));
            }
            if to - from > Duration::days(MAX_DAYS) {
                return Err(ServiceError::bad_input(
                    "range",
                    format!("A report covers at most {MAX_DAYS} days; narrow the range."),
                ));
            }
            (from, to)
        }
        _ => {
            return Err(ServiceError::bad_input(
                "range",
                "Give either a preset (TODAY, YESTERDAY, LAST_7_DAYS, …) or both from and to.",
            ));
        }
    };
    let mut days = Vec::new();
    let mut day = from.with_timezone(&tz).date_naive();
    let mut start = from;
    while start < to {
        days.push((day, start));
        day += Duration::days(1);
        start = std::cmp::max(local_midnight(tz, day), from);
    }
    Ok(Period { from, to, time_zone: tz.name().to_owned(), days })
}

/// The report's filters. Those marked outgoing-only do not apply to incoming messages.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub channel_ids: Vec<i64>,
    pub contact_id: Option<i64>,
    /// Outgoing only.
    pub sources: Vec<MessageSource>,
    /// Outgoing only.
    pub types: Vec<MessageType>,
    /// Outgoing only: messages sent by a member of the team.
    pub team_id: Option<i64>,
    /// Outgoing only: messages sent by the user.
    pub user_id: Option<i64>,
    /// Outgoing only: the broadcast's messages.
    pub broadcast_id: Option<i64>,
}

/// Values one list of a report filter may hold (channels, sources, types).
pub const MAX_FILTER_VALUES: usize = 100;

impl ReportFilter {
    /// Refuses lists longer than [`MAX_FILTER_VALUES`] (each becomes an `IN (…)`).
    pub fn check(&self) -> ServiceResult<()> {
        for (field, len) in [
            ("filter.channelIds", self.channel_ids.len()),
            ("filter.sources", self.sources.len()),
            ("filter.types", self.types.len()),
        ] {
            if len > MAX_FILTER_VALUES {
                return Err(ServiceError::bad_input(
                    field,
                    format!("A report filter lists at most {MAX_FILTER_VALUES} values."),
                ));
            }
        }
        Ok(())
    }

    fn has_outgoing_only(&self) -> bool {
        !self.sources.is_empty()
            || !self.types.is_empty()
            || self.team_id.is_some()
            || self.user_id.is_some()
            || self.broadcast_id.is_some()
    }
}

/// One group of a section (a channel, a source, a type, a subtype, a status).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: String,
    pub label: String,
    pub count: i64,
    /// One count per day of the period.
    pub series: Vec<i64>,
}

/// One section of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// False when a selected filter does not apply to this section (its numbers are then
    /// empty rather than misleading).
    pub applicable: bool,
    pub total: i64,
    pub series: Vec<i64>,
    pub groups: Vec<Group>,
}

/// The messages report.
#[derive(Debug, Clone)]
pub struct MessagesReport {
    pub period: Period,
    pub incoming: Section,
    pub outgoing_by_channel: Section,
    pub outgoing_by_source: Section,
    pub outgoing_by_type: Section,
    pub outgoing_by_subtype: Section,
    /// Outgoing messages by delivery status: SENT, DELIVERED, READ, FAILED (always all four).
    pub delivery: Section,
}

/// The statuses the delivery section reports, in order.
pub const DELIVERY_STATUSES: [DeliveryStatus; 4] =
    [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read, DeliveryStatus::Failed];

/// The workspace's time zone.
pub async fn time_zone(app: &App, scope: &Scope) -> ServiceResult<Tz> {
    let workspace = crate::services::workspaces::get_workspace(app, scope).await?;
    Ok(workspace.time_zone.parse().unwrap_or(chrono_tz::UTC))
}

/// Builds the messages report for `period` and `filter`.
pub async fn messages_report(
    app: &App,
    scope: &Scope,
    period: Period,
    filter: &ReportFilter,
) -> ServiceResult<MessagesReport> {
    let backend = app.db.get_database_backend();
    let names = channel_names(app, scope).await?;
    let days = period.days.len();

    // Incoming: by channel and day.
    let incoming_applicable = !filter.has_outgoing_only();
    let incoming_query = incoming_applicable.then(|| {
        let mut select =
            grouped_counts(scope, &period, ListKind::Incoming, &[(message::Entity, message::Column::ChannelId)]);
        common_filters(&mut select, filter);
        StatementBuilder::build(&select, &backend)
    });

    // Outgoing: by channel, source, type, subtype, status and day.
    let mut select = grouped_counts(
        scope,
        &period,
        ListKind::Outgoing,
        &[
            (message::Entity, message::Column::ChannelId),
            (message::Entity, message::Column::Source),
            (message::Entity, message::Column::MessageType),
            (message::Entity, message::Column::Subtype),
            (message::Entity, message::Column::Status),
        ],
    );
    common_filters(&mut select, filter);
    outgoing_filters(&mut select, filter);
    let outgoing_query = StatementBuilder::build(&select, &backend);

    // The two scans run at once, each on its own pooled connection.
    let incoming_rows = async {
        match incoming_query {
            Some(statement) => aggregate(app, statement).await,
            None => Ok(Vec::new()),
        }
    };
    let (incoming_rows, outgoing_rows) = tokio::join!(incoming_rows, aggregate(app, outgoing_query));
    let mut incoming_counts: Vec<(Option<i64>, i64, i64)> = Vec::new();
    for row in incoming_rows? {
        incoming_counts.push((row.try_get("", "channel_id")?, row.try_get("", "day")?, row.try_get("", "n")?));
    }
    let mut outgoing = Vec::new();
    for row in outgoing_rows? {
        outgoing.push(OutgoingRow {
            channel_id: row.try_get("", "channel_id")?,
            source: row.try_get("", "source")?,
            message_type: row.try_get("", "message_type")?,
            subtype: row.try_get("", "subtype")?,
            status: row.try_get("", "status")?,
            day: row.try_get("", "day")?,
            count: row.try_get("", "n")?,
        });
    }

    let channel_label = |id: &Option<i64>| match id {
        Some(id) => (
            id.to_string(),
            names.iter().find(|(c, _)| c == id).map_or_else(|| format!("Channel {id}"), |(_, n)| n.clone()),
        ),
        None => ("none".to_owned(), "No channel".to_owned()),
    };
    let incoming = {
        let mut section =
            Section::summed(incoming_counts.iter().map(|(channel, day, n)| (channel_label(channel), *day, *n)), days);
        section.applicable = incoming_applicable;
        section
    };
    let by = |key: &dyn Fn(&OutgoingRow) -> Option<(String, String)>| {
        Section::summed(outgoing.iter().filter_map(|row| key(row).map(|k| (k, row.day, row.count))), days)
    };
    let outgoing_by_channel = by(&|row| Some(channel_label(&row.channel_id)));
    let outgoing_by_source = by(&|row| {
        let source = row.source.as_deref().unwrap_or("UNKNOWN");
        Some((source.to_owned(), source_label(source).to_owned()))
    });
    let outgoing_by_type = by(&|row| {
        let kind = row.message_type.as_deref().unwrap_or("SESSION");
        Some((kind.to_owned(), type_label(kind).to_owned()))
    });
    // The subtype applies to message tags and templates only (seed 004).
    let outgoing_by_subtype = by(&|row| row.subtype.clone().map(|subtype| (subtype.clone(), subtype)));
    let mut delivery = by(&|row| Some((row.status.clone(), status_label(&row.status).to_owned())));
    for status in DELIVERY_STATUSES {
        let key = status_key(status);
        if !delivery.groups.iter().any(|g| g.key == key) {
            delivery.groups.push(Group {
                key: key.to_owned(),
                label: status_label(key).to_owned(),
                count: 0,
                series: vec![0; days],
            });
        }
    }
    delivery.groups.sort_by_key(|g| DELIVERY_STATUSES.iter().position(|s| status_key(*s) == g.key));
    Ok(MessagesReport {
        period,
        incoming,
        outgoing_by_channel,
        outgoing_by_source,
        outgoing_by_type,
        outgoing_by_subtype,
        delivery,
    })
}

/// The most rows a report list shows (seed 004); the data export has no cap.
pub const MAX_LIST_ROWS: u64 = 10_000;

/// Which report list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Incoming messages, by the time they arrived.
    Incoming,
    /// Outgoing messages that went out or failed, by that time.
    Outgoing,
    /// The failed-message log: failed outgoing messages, by the time they failed.
    Failed,
}

/// The direction of a list's messages.
fn direction(kind: ListKind) -> MessageDirection {
    if kind == ListKind::Incoming { MessageDirection::Incoming } else { MessageDirection::Outgoing }
}

/// The time a list orders and filters by.
fn list_time(kind: ListKind) -> SimpleExpr {
    match kind {
        ListKind::Incoming => Expr::col((message::Entity, message::Column::CreatedAt)),
        ListKind::Outgoing => Expr::cust("COALESCE(messages.sent_at, messages.failed_at)"),
        ListKind::Failed => Expr::col((message::Entity, message::Column::FailedAt)),
    }
}

/// The time a message stands at in a list: when it arrived, went out or failed.
pub fn list_timestamp(kind: ListKind, row: &message::Model) -> DateTime<Utc> {
    match kind {
        ListKind::Incoming => row.created_at,
        ListKind::Outgoing => row.sent_at.or(row.failed_at).unwrap_or(row.created_at),
        ListKind::Failed => row.failed_at.unwrap_or(row.created_at),
    }
}

/// The messages of a list after `(time, id)` in ascending order: the data export's chunks.
pub async fn list_chunk(
    app: &App,
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
    after: Option<(DateTime<Utc>, i64)>,
    limit: u64,
) -> ServiceResult<Vec<message::Model>> {
    let time = list_time(kind);
    let mut query = list_query(scope, period, filter, kind);
    if let Some((at, id)) = after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(time.clone().gt(at))
                .add(sea_orm::Condition::all().add(time.clone().eq(at)).add(message::Column::Id.gt(id))),
        );
    }
    Ok(query.order_by(time, sea_orm::Order::Asc).order_by_asc(message::Column::Id).limit(limit).all(&app.db).await?)
}

/// How many messages a list has, without the cap (the data export's count).
pub async fn export_count(
    app: &App,
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
) -> ServiceResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(list_query(scope, period, filter, kind).count(&app.db).await?)
}

/// A list's messages in `period` matching `filter`, newest first, as a query.
fn list_query(
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
) -> sea_orm::Select<message::Entity> {
    let time = list_time(kind);
    let direction = direction(kind);
    let mut query = scope
        .select::<message::Entity>()
        .filter(message::Column::Direction.eq(direction))
        .filter(time.clone().gte(period.from))
        .filter(time.lt(period.to));
    if kind == ListKind::Failed {
        query = query.filter(message::Column::Status.eq(DeliveryStatus::Failed));
    }
    if kind == ListKind::Incoming && filter.has_outgoing_only() {
        // The filters do not apply to incoming messages: an empty list, not a misleading one.
        return query.filter(Expr::cust("1 = 0"));
    }
    common_filters(QueryTrait::query(&mut query), filter);
    outgoing_filters(QueryTrait::query(&mut query), filter);
    query
}

/// One page of a report list: `first` messages after the `offset` first ones, within the
/// [`MAX_LIST_ROWS`] cap; and whether more follow.
pub async fn list(
    app: &App,
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
    offset: u64,
    first: u64,
) -> ServiceResult<(Vec<message::Model>, bool)> {
    if offset >= MAX_LIST_ROWS {
        return Ok((Vec::new(), false));
    }
    let limit = std::cmp::min(first, MAX_LIST_ROWS - offset);
    let mut rows = list_query(scope, period, filter, kind)
        .order_by(list_time(kind), sea_orm::Order::Desc)
        .order_by_desc(message::Column::Id)
        .offset(offset)
        .limit(limit + 1)
        .all(&app.db)
        .await?;
    let more = rows.len() as u64 > limit && offset + limit < MAX_LIST_ROWS;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// How many rows a report list has, up to [`MAX_LIST_ROWS`].
pub async fn list_count(
    app: &App,
    scope: &Scope,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
) -> ServiceResult<u64> {
    // Counting stops at the cap: a subquery limited to it, counted.
    let capped = list_query(scope, period, filter, kind)
        .select_only()
        .column(message::Column::Id)
        .limit(MAX_LIST_ROWS)
        .into_query();
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(capped, Alias::new("capped"))
        .to_owned();
    let backend = app.db.get_database_backend();
    let row = app.db.query_one_raw(StatementBuilder::build(&count, &backend)).await?;
    let count: i64 = row.map(|row| row.try_get("", "n")).transpose()?.unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// `SELECT <columns>, day, COUNT(*)` over the workspace's incoming or outgoing messages whose
/// list time (`list_time`) falls in `period`, grouped by the columns and the day.
fn grouped_counts(
    scope: &Scope,
    period: &Period,
    kind: ListKind,
    columns: &[(message::Entity, message::Column)],
) -> sea_orm::sea_query::SelectStatement {
    let time = list_time(kind);
    let direction = direction(kind);
    let mut select = Query::select();
    select
        .columns(columns.iter().copied())
        .expr_as(day_bucket(period, time.clone()), Alias::new("day"))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from(message::Entity)
        .and_where(Expr::col((message::Entity, message::Column::WorkspaceId)).eq(scope.workspace_id))
        .and_where(Expr::col((message::Entity, message::Column::Direction)).eq(direction))
        .and_where(time.clone().gte(period.from))
        .and_where(time.lt(period.to))
        .group_by_columns(columns.iter().copied())
        .add_group_by([Expr::cust("day")]);
    select
}

/// Runs one of the report's grouped queries. On PostgreSQL without parallel workers: the
/// planner otherwise picks a parallel sequential scan with a sort, 630 ms against ~300 ms for
/// the index-only scan of the covering index, measured on two cores (BENCHMARKS.md).
async fn aggregate(app: &App, statement: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return app.db.query_all_raw(statement).await;
    }
    use sea_orm::TransactionTrait;
    let txn = app.db.begin().await?;
    txn.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0").await?;
    let rows = txn.query_all_raw(statement).await?;
    txn.commit().await?;
    Ok(rows)
}

struct OutgoingRow {
    channel_id: Option<i64>,
    source: Option<String>,
    message_type: Option<String>,
    subtype: Option<String>,
    status: String,
    day: i64,
    count: i64,
}

impl Section {
    /// Sums `(group, day, count)` rows into groups (largest first) and a daily total.
    fn summed(rows: impl Iterator<Item = ((String, String), i64, i64)>, days: usize) -> Section {
        let mut groups: Vec<Group> = Vec::new();
        let mut series = vec![0; days];
        let mut total = 0;
        for ((key, label), day, count) in rows {
            let day = usize::try_from(day).unwrap_or(0).min(days.saturating_sub(1));
            let index = match groups.iter().position(|g| g.key == key) {
                Some(index) => index,
                None => {
                    groups.push(Group { key, label, count: 0, series: vec![0; days] });
                    groups.len() - 1
                }
            };
            groups[index].count += count;
            groups[index].series[day] += count;
            series[day] += count;
            total += count;
        }
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
        Section { applicable: true, total, series, groups }
    }
}

/// The filters every section takes: channel and contact.
fn common_filters(select: &mut sea_orm::sea_query::SelectStatement, filter: &ReportFilter) {
    if !filter.channel_ids.is_empty() {
        select.and_where(Expr::col((message::Entity, message::Column::ChannelId)).is_in(filter.channel_ids.clone()));
    }
    if let Some(contact) = filter.contact_id {
        select.and_where(Expr::col((message::Entity, message::Column::ContactId)).eq(contact));
    }
}

/// The filters only outgoing messages take: source, type, user, team, broadcast.
fn outgoing_filters(select: &mut sea_orm::sea_query::SelectStatement, filter: &ReportFilter) {
    if !filter.sources.is_empty() {
        select.and_where(Expr::col((message::Entity, message::Column::Source)).is_in(filter.sources.iter().copied()));
    }
    if !filter.types.is_empty() {
        select
            .and_where(Expr::col((message::Entity, message::Column::MessageType)).is_in(filter.types.iter().copied()));
    }
    if let Some(user) = filter.user_id {
        select.and_where(Expr::col((message::Entity, message::Column::SentByUserId)).eq(user));
    }
    if let Some(team) = filter.team_id {
        let members = Query::select()
            .column(team_member::Column::UserId)
            .from(team_member::Entity)
            .and_where(Expr::col(team_member::Column::TeamId).eq(team))
            .to_owned();
        select.and_where(Expr::col((message::Entity, message::Column::SentByUserId)).in_subquery(members));
    }
    if let Some(broadcast) = filter.broadcast_id {
        select.and_where(Expr::col((message::Entity, message::Column::BroadcastId)).eq(broadcast));
    }
}

/// The index of the period's day `time` falls on: a balanced tree of CASEs over the days'
/// starts, so a row costs about log2(days) comparisons (5 for a month). Right for every time
/// zone, clock changes included, on both backends; measured faster than date arithmetic
/// (PostgreSQL's `EXTRACT(EPOCH …)` is NUMERIC; SQLite's `strftime` parses text each row).
fn day_bucket(period: &Period, time: SimpleExpr) -> SimpleExpr {
    fn split(starts: &[DateTime<Utc>], offset: usize, time: &SimpleExpr) -> SimpleExpr {
        if starts.len() <= 1 {
            return Expr::val(offset as i64);
        }
        let middle = starts.len() / 2;
        CaseStatement::new()
            .case(time.clone().lt(starts[middle]), split(&starts[..middle], offset, time))
            .finally(split(&starts[middle..], offset + middle, time))
            .into()
    }
    let starts: Vec<DateTime<Utc>> = period.days.iter().map(|(_, start)| *start).collect();
    split(&starts, 0, &time)
}

/// Every channel of the workspace, deleted ones included (history keeps them), by id.
async fn channel_names(app: &App, scope: &Scope) -> ServiceResult<Vec<(i64, String)>> {
    Ok(channel::Entity::find()
        .select_only()
        .columns([channel::Column::Id, channel::Column::Name])
        .filter(channel::Column::WorkspaceId.eq(scope.workspace_id))
        .into_tuple()
        .all(&app.db)
        .await?)
}

pub fn status_key(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Queued => "QUEUED",
        DeliveryStatus::Sending => "SENDING",
        DeliveryStatus::Sent => "SENT",
        DeliveryStatus::Delivered => "DELIVERED",
        DeliveryStatus::Read => "READ",
        DeliveryStatus::Failed => "FAILED",
    }
}

fn status_label(key: &str) -> &'static str {
    match key {
        "SENT" => "Sent",
        "DELIVERED" => "Delivered",
        "READ" => "Read",
        "FAILED" => "Failed",
        _ => "Other",
    }
}

fn source_label(key: &str) -> &'static str {
    match key {
        "USER" => "User",
        "BOT" => "Bot",
        "BROADCAST" => "Broadcast",
        "WORKFLOW" => "Workflow",
        "API" => "API",
        "ZAPIER" => "Zapier",
        "ECHO" => "Echo message",
        _ => "Unknown",
    }
}

fn type_label(key: &str) -> &'static str {
    match key {
        "SESSION" => "Session",
        "FACEBOOK_MESSAGE_TAG" => "Facebook message tag",
        "WHATSAPP_TEMPLATE" => "WhatsApp message template",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn presets_are_whole_days_in_the_workspace_time_zone() {
        let tz: Tz = "America/Guayaquil".parse().unwrap(); // UTC-5, no DST
        // 2026-11-22 02:00 UTC is still 2026-11-21 in Guayaquil.
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap();
        let today = period(Some(Preset::Today), None, None, tz, now).unwrap();
        assert_eq!(today.from, Utc.with_ymd_and_hms(2026, 11, 21, 5, 0, 0).unwrap());
        assert_eq!(today.to, Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap());
        assert_eq!(today.days.len(), 1);
        let last7 = period(Some(Preset::Last7Days), None, None, tz, now).unwrap();
        assert_eq!(last7.days.len(), 7);
        assert_eq!(last7.days[0].0, NaiveDate::from_ymd_opt(2026, 11, 15).unwrap());
        let last_month = period(Some(Preset::LastMonth), None, None, tz, now).unwrap();
        assert_eq!(last_month.days.len(), 31);
        assert_eq!(last_month.from, Utc.with_ymd_and_hms(2026, 10, 1, 5, 0, 0).unwrap());
        let this_month = period(Some(Preset::ThisMonth), None, None, tz, now).unwrap();
        assert_eq!(this_month.days.len(), 30);
        assert!(period(None, Some(now), Some(now), tz, now).is_err());
        // Across a clock change the days are 25 hours long where the clocks go back.
        let york: Tz = "America/New_York".parse().unwrap();
        let from = Utc.with_ymd_and_hms(2026, 10, 31, 4, 0, 0).unwrap(); // midnight EDT
        let to = Utc.with_ymd_and_hms(2026, 11, 3, 5, 0, 0).unwrap(); // midnight EST
        let days = period(None, Some(from), Some(to), york, now).unwrap().days;
        assert_eq!(
            days.iter().map(|(_, start)| *start).collect::<Vec<_>>(),
            [
                from,
                Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 2, 5, 0, 0).unwrap()
            ]
        );
        assert!(period(Some(Preset::Today), Some(now), None, tz, now).is_err());
    }
}

/// A failure reason and how many messages failed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    pub code: String,
    /// One of the texts the provider gave with the code.
    pub text: String,
    pub count: i64,
}

/// Counts over one broadcast or a set of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastStats {
    pub broadcasts: i64,
    pub target_recipients: i64,
    pub completed_recipients: i64,
    pub total_messages: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub replied: i64,
    /// By code, most frequent first.
    pub failures: Vec<FailureGroup>,
}

impl BroadcastStats {
    fn add(&mut self, model: &entity::broadcast::Model) {
        self.broadcasts += 1;
        self.target_recipients += model.target_recipients.unwrap_or(0);
        self.completed_recipients += model.completed_recipients;
        self.total_messages += model.total_messages;
        self.sent += model.sent_count;
        self.delivered += model.delivered_count;
        self.read += model.read_count;
        self.failed += model.failed_count;
        self.replied += model.replied_count;
    }

    fn add_failure(&mut self, code: &str, text: &str, count: i64) {
        match self.failures.iter_mut().find(|f| f.code == code) {
            Some(group) => group.count += count,
            None => self.failures.push(FailureGroup { code: code.to_owned(), text: text.to_owned(), count }),
        }
    }
}

/// The broadcasts report: every broadcast started in the period, and the totals.
#[derive(Debug, Clone)]
pub struct BroadcastsReport {
    pub period: Period,
    pub broadcasts: Vec<(entity::broadcast::Model, BroadcastStats)>,
    pub total: BroadcastStats,
}

/// (broadcast id, error code, a text given with it, failed messages).
type FailureRow = (Option<i64>, Option<String>, Option<String>, i64);

/// Most broadcasts one report lists.
pub const MAX_REPORT_BROADCASTS: u64 = 1000;

/// The broadcasts started in `period` (newest first), their counters and their failures by
/// error code.
pub async fn broadcasts_report(app: &App, scope: &Scope, period: Period) -> ServiceResult<BroadcastsReport> {
    use entity::broadcast;
    let models = scope
        .select::<broadcast::Entity>()
        .filter(broadcast::Column::StartedAt.gte(period.from))
        .filter(broadcast::Column::StartedAt.lt(period.to))
        .order_by_desc(broadcast::Column::StartedAt)
        .order_by_desc(broadcast::Column::Id)
        .limit(MAX_REPORT_BROADCASTS)
        .all(&app.db)
        .await?;
    let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
    let failures: Vec<FailureRow> = if ids.is_empty() {
        Vec::new()
    } else {
        message::Entity::find()
            .select_only()
            .column(message::Column::BroadcastId)
            .column(message::Column::ErrorCode)
            .expr(Expr::cust("MIN(messages.error_text)"))
            .expr(Expr::cust("COUNT(*)"))
            .filter(message::Column::WorkspaceId.eq(scope.workspace_id))
            .filter(message::Column::BroadcastId.is_in(ids))
            .filter(message::Column::Status.eq(DeliveryStatus::Failed))
            .group_by(message::Column::BroadcastId)
            .group_by(message::Column::ErrorCode)
            .into_tuple()
            .all(&app.db)
            .await?
    };
    let mut total = BroadcastStats::default();
    let mut broadcasts = Vec::with_capacity(models.len());
    for model in models {
        let mut stats = BroadcastStats::default();
        stats.add(&model);
        total.add(&model);
        for (_, code, text, count) in failures.iter().filter(|f| f.0 == Some(model.id)) {
            let code = code.as_deref().unwrap_or("UNKNOWN");
            let text = text.as_deref().unwrap_or_default();
            stats.add_failure(code, text, *count);
            total.add_failure(code, text, *count);
        }
        stats.failures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        broadcasts.push((model, stats));
    }
    total.failures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    Ok(BroadcastsReport { period, broadcasts, total })
}
