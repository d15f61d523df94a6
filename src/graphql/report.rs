//! Reports: the messages report (seed 004).

use async_graphql::connection::PageInfo;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::message;

use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, cursor, page_size, parse_id, parse_ids};
use crate::graphql::enums::{MessageSource, MessageType};
use crate::graphql::message::Message;
use crate::services::reports::{self, ListKind, Period, Preset, ReportFilter, Section};

/// A preset period, in the workspace's time zone.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ReportPreset {
    /// Today, from midnight.
    Today,
    /// Yesterday, midnight to midnight.
    Yesterday,
    /// The last 7 days, today included.
    Last7Days,
    /// The last 14 days, today included.
    Last14Days,
    /// The last 30 days, today included.
    Last30Days,
    /// This calendar month, every day of it.
    ThisMonth,
    /// The previous calendar month.
    LastMonth,
}

impl From<ReportPreset> for Preset {
    fn from(preset: ReportPreset) -> Preset {
        match preset {
            ReportPreset::Today => Preset::Today,
            ReportPreset::Yesterday => Preset::Yesterday,
            ReportPreset::Last7Days => Preset::Last7Days,
            ReportPreset::Last14Days => Preset::Last14Days,
            ReportPreset::Last30Days => Preset::Last30Days,
            ReportPreset::ThisMonth => Preset::ThisMonth,
            ReportPreset::LastMonth => Preset::LastMonth,
        }
    }
}

/// The period a report covers: a preset, or `from` and `to`.
#[derive(InputObject)]
pub struct ReportRangeInput {
    /// A preset period in the workspace's time zone.
    pub preset: Option<ReportPreset>,
    /// Start (inclusive), with `to`; at most 366 days.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), with `from`.
    pub to: Option<DateTime<Utc>>,
}

/// Narrows the messages report. Filters marked "outgoing only" make the incoming section not
/// applicable.
#[derive(InputObject, Default)]
pub struct MessagesReportFilterInput {
    /// Only these channels.
    pub channel_ids: Option<Vec<ID>>,
    /// Only this contact's messages.
    pub contact_id: Option<ID>,
    /// Outgoing only: these sources.
    pub sources: Option<Vec<MessageSource>>,
    /// Outgoing only: these types.
    pub types: Option<Vec<MessageType>>,
    /// Outgoing only: messages sent by members of this team.
    pub team_id: Option<ID>,
    /// Outgoing only: messages sent by this user.
    pub user_id: Option<ID>,
    /// Outgoing only: this broadcast's messages.
    pub broadcast_id: Option<ID>,
}

/// Said by a section instead of misleading numbers (seed 004).
pub const NOT_APPLICABLE: &str = "The selected filters are not applicable here.";
/// Said by a section with nothing to count.
pub const NO_DATA: &str = "The selected filters have no data.";

/// One group of a section: a channel, a source, a type, a subtype or a delivery status.
#[derive(SimpleObject)]
pub struct ReportGroup {
    /// What the group is: a channel id, an enum value (USER, SESSION, DELIVERED…) or a
    /// template name or message tag.
    pub key: String,
    /// A readable name: the channel's name, "Broadcast", "WhatsApp message template"…
    pub label: String,
    /// Messages in the group over the period (the metric; the pie chart's number).
    pub count: i64,
    /// Its share of the section's total, in percent (the pie chart's slice), one decimal.
    pub percent: f64,
    /// Messages per day, aligned with `MessagesReport.days` (the bar or line chart).
    pub series: Vec<i64>,
}

/// One section of the report: a total, a daily series and a share per group.
#[derive(SimpleObject)]
pub struct ReportSection {
    /// False when a selected filter does not apply to this section; its numbers are then
    /// zero and `notice` says so.
    pub applicable: bool,
    /// "The selected filters are not applicable here." or "The selected filters have no
    /// data."; null when there are numbers to show.
    pub notice: Option<String>,
    /// Messages in the section over the period.
    pub total: i64,
    /// Messages per day, aligned with `MessagesReport.days`.
    pub series: Vec<i64>,
    /// The groups, largest first (the delivery section: SENT, DELIVERED, READ, FAILED).
    pub groups: Vec<ReportGroup>,
}

impl From<Section> for ReportSection {
    fn from(section: Section) -> ReportSection {
        let total = section.total;
        let notice = if !section.applicable {
            Some(NOT_APPLICABLE.to_owned())
        } else if total == 0 {
            Some(NO_DATA.to_owned())
        } else {
            None
        };
        let groups = section
            .groups
            .into_iter()
            .map(|group| ReportGroup {
                percent: percent(group.count, total),
                key: group.key,
                label: group.label,
                count: group.count,
                series: group.series,
            })
            .collect();
        ReportSection { applicable: section.applicable, notice, total, series: section.series, groups }
    }
}

/// The messages report (seed 004): what arrived, what went out, and how it was delivered.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct MessagesReport {
    #[graphql(skip)]
    period: Period,
    #[graphql(skip)]
    filter: ReportFilter,
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The workspace time zone the days are counted in.
    pub time_zone: String,
    /// The period's days (YYYY-MM-DD), which every series follows.
    pub days: Vec<String>,
    /// Incoming messages by channel.
    pub incoming: ReportSection,
    /// Outgoing messages (sent, or failed without being sent) by channel.
    pub outgoing_by_channel: ReportSection,
    /// Outgoing messages by source: USER, BOT, BROADCAST, WORKFLOW, API, ZAPIER, ECHO.
    pub outgoing_by_source: ReportSection,
    /// Outgoing messages by type: SESSION, FACEBOOK_MESSAGE_TAG, WHATSAPP_TEMPLATE.
    pub outgoing_by_type: ReportSection,
    /// Tagged and template messages by tag or template name.
    pub outgoing_by_subtype: ReportSection,
    /// Outgoing messages by delivery status (SENT, DELIVERED, READ, FAILED), each counted once
    /// by its status now; statuses are tracked for 30 days after sending.
    pub delivery: ReportSection,
}

/// Rows a report list page holds by default, and at most.
const DEFAULT_LIST_PAGE: u64 = 50;
const MAX_LIST_PAGE: u64 = 500;

#[ComplexObject]
impl MessagesReport {
    /// The incoming messages of the period (timestamp, contact, channel, content), newest
    /// first; at most 10,000 rows (use the data export for more). Empty when a filter for
    /// outgoing messages is set.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_LIST_PAGE as i32).max(0) as usize * child_complexity + 1")]
    async fn incoming_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many rows to return, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ReportMessageConnection> {
        list_page(ctx, &self.period, &self.filter, ListKind::Incoming, first, after).await
    }

    /// The outgoing messages of the period (timestamp, source, user, contact, delivered and
    /// read times, channel, type, subtype, content), newest first; at most 10,000 rows.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_LIST_PAGE as i32).max(0) as usize * child_complexity + 1")]
    async fn outgoing_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many rows to return, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ReportMessageConnection> {
        list_page(ctx, &self.period, &self.filter, ListKind::Outgoing, first, after).await
    }

    /// The failed-message log of the period (timestamp, source, user, contact, channel, type,
    /// subtype, content, error), newest first; at most 10,000 rows.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_LIST_PAGE as i32).max(0) as usize * child_complexity + 1")]
    async fn failed_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many rows to return, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ReportMessageConnection> {
        list_page(ctx, &self.period, &self.filter, ListKind::Failed, first, after).await
    }
}

async fn list_page(
    ctx: &Context<'_>,
    period: &Period,
    filter: &ReportFilter,
    kind: ListKind,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<ReportMessageConnection> {
    let first = page_size(first, DEFAULT_LIST_PAGE, MAX_LIST_PAGE)?;
    let offset = match after.as_deref() {
        Some(after) => u64::try_from(cursor::decode(after)?).unwrap_or(0),
        None => 0,
    };
    let (rows, has_next_page) = reports::list(ctx.app(), ctx.scope()?, period, filter, kind, offset, first).await?;
    Ok(ReportMessageConnection { rows, offset, has_next_page, period: period.clone(), filter: filter.clone(), kind })
}

/// A page of a report list (Relay connection), newest first, capped at 10,000 rows.
pub struct ReportMessageConnection {
    rows: Vec<message::Model>,
    offset: u64,
    has_next_page: bool,
    period: Period,
    filter: ReportFilter,
    kind: ListKind,
}

/// A row of a report list.
#[derive(SimpleObject)]
pub struct ReportMessageEdge {
    /// Pass as `after` to continue after this row.
    cursor: String,
    /// The row's time: when the message arrived (incoming), went out or failed (outgoing), or
    /// failed (the failed-message log).
    timestamp: DateTime<Utc>,
    /// The message: its source, sender, contact, channel, type, subtype, content, times and
    /// error.
    node: Message,
}

impl ReportMessageConnection {
    fn timestamp(&self, row: &message::Model) -> DateTime<Utc> {
        reports::list_timestamp(self.kind, row)
    }

    fn cursor_at(&self, index: usize) -> String {
        cursor::encode((self.offset + index as u64 + 1) as i64)
    }
}

/// A page of a report list (Relay connection), newest first, capped at 10,000 rows.
#[Object]
impl ReportMessageConnection {
    /// The rows of this page, with cursors and timestamps.
    async fn edges(&self) -> Vec<ReportMessageEdge> {
        self.rows
            .iter()
            .enumerate()
            .map(|(index, row)| ReportMessageEdge {
                cursor: self.cursor_at(index),
                timestamp: self.timestamp(row),
                node: Message(row.clone()),
            })
            .collect()
    }

    /// The messages of this page.
    async fn nodes(&self) -> Vec<Message> {
        self.rows.iter().cloned().map(Message).collect()
    }

    /// Where this page sits in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.offset > 0,
            has_next_page: self.has_next_page,
            start_cursor: (!self.rows.is_empty()).then(|| self.cursor_at(0)),
            end_cursor: self.rows.len().checked_sub(1).map(|last| self.cursor_at(last)),
        }
    }

    /// How many rows the list has, over all pages (at most 10,000).
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(reports::list_count(ctx.app(), ctx.scope()?, &self.period, &self.filter, self.kind).await?)
    }
}

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// The messages report over a period, optionally narrowed. MANAGER or above.
    async fn messages_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period: a preset or from/to.")] range: ReportRangeInput,
        #[graphql(desc = "Filters; those for outgoing messages only make the incoming section not applicable.")]
        filter: Option<MessagesReportFilterInput>,
    ) -> ApiResult<MessagesReport> {
        let (period, filter) = resolve(ctx, range, filter).await?;
        let report = reports::messages_report(ctx.app(), ctx.scope()?, period, &filter).await?;
        Ok(MessagesReport {
            from: report.period.from,
            to: report.period.to,
            time_zone: report.period.time_zone.clone(),
            days: report.period.days.iter().map(|(day, _)| day.to_string()).collect(),
            period: report.period,
            filter,
            incoming: report.incoming.into(),
            outgoing_by_channel: report.outgoing_by_channel.into(),
            outgoing_by_source: report.outgoing_by_source.into(),
            outgoing_by_type: report.outgoing_by_type.into(),
            outgoing_by_subtype: report.outgoing_by_subtype.into(),
            delivery: report.delivery.into(),
        })
    }

    /// The failed-message log (seeds 000, 001, 004): failed outgoing messages of the period,
    /// newest first, with their error; at most 10,000 rows. MANAGER or above.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_LIST_PAGE as i32).max(0) as usize * child_complexity + 1")]
    async fn failed_message_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period: a preset or from/to.")] range: ReportRangeInput,
        #[graphql(desc = "Filters: channel, contact, source, type, team, user, broadcast.")] filter: Option<
            MessagesReportFilterInput,
        >,
        #[graphql(desc = "How many rows to return, 0 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ReportMessageConnection> {
        let (period, filter) = resolve(ctx, range, filter).await?;
        list_page(ctx, &period, &filter, ListKind::Failed, first, after).await
    }
}

/// Checks the caller may read reports and resolves the period and the filters.
async fn resolve(
    ctx: &Context<'_>,
    range: ReportRangeInput,
    filter: Option<MessagesReportFilterInput>,
) -> ApiResult<(Period, ReportFilter)> {
    let scope = ctx.scope()?;
    scope.require(entity::Role::Manager, "Reading reports")?;
    let tz = reports::time_zone(ctx.app(), scope).await?;
    let period = reports::period(range.preset.map(Into::into), range.from, range.to, tz, Utc::now())?;
    let filter = filter.unwrap_or_default();
    let filter = ReportFilter {
        channel_ids: parse_ids(&filter.channel_ids.unwrap_or_default(), "filter.channelIds", "channel")?,
        contact_id: filter.contact_id.map(|id| parse_id(&id, "filter.contactId", "contact")).transpose()?,
        sources: filter.sources.unwrap_or_default().into_iter().map(Into::into).collect(),
        types: filter.types.unwrap_or_default().into_iter().map(Into::into).collect(),
        team_id: filter.team_id.map(|id| parse_id(&id, "filter.teamId", "team")).transpose()?,
        user_id: filter.user_id.map(|id| parse_id(&id, "filter.userId", "user")).transpose()?,
        broadcast_id: filter.broadcast_id.map(|id| parse_id(&id, "filter.broadcastId", "broadcast")).transpose()?,
    };
    filter.check()?;
    Ok((period, filter))
}

/// Which messages a data export holds.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ReportList {
    /// Incoming messages, by the time they arrived.
    Incoming,
    /// Outgoing messages, by the time they went out or failed.
    Outgoing,
    /// Failed outgoing messages, by the time they failed.
    Failed,
}

impl From<ReportList> for ListKind {
    fn from(list: ReportList) -> ListKind {
        match list {
            ReportList::Incoming => ListKind::Incoming,
            ReportList::Outgoing => ListKind::Outgoing,
            ReportList::Failed => ListKind::Failed,
        }
    }
}

/// Where to download a messages export.
#[derive(SimpleObject)]
pub struct MessageExport {
    /// The CSV's path on this server (GET it with the same `Authorization: Bearer` token);
    /// streamed, with no row cap.
    pub url: String,
    /// How many messages it holds.
    pub message_count: u64,
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// Prepares the failed-message export of a period (seeds 000 and 001): date and time,
    /// sender ID, sender type, contact ID, message ID, content type, content, channel ID,
    /// type, subtype and error. MANAGER or above.
    async fn export_failed_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period: a preset or from/to.")] range: ReportRangeInput,
        #[graphql(desc = "Only this channel's failed messages (the channel a broadcast went out on).")]
        channel_id: Option<ID>,
    ) -> ApiResult<MessageExport> {
        prepare_export(ctx, ListKind::Failed, range, channel_id).await
    }

    /// Prepares an export of the incoming, outgoing or failed messages of a period, as the
    /// failed-message export plus status, delivered and read times. MANAGER or above.
    async fn export_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which messages.")] list: ReportList,
        #[graphql(desc = "The period: a preset or from/to.")] range: ReportRangeInput,
        #[graphql(desc = "Only this channel's messages.")] channel_id: Option<ID>,
    ) -> ApiResult<MessageExport> {
        prepare_export(ctx, list.into(), range, channel_id).await
    }
}

async fn prepare_export(
    ctx: &Context<'_>,
    kind: ListKind,
    range: ReportRangeInput,
    channel_id: Option<ID>,
) -> ApiResult<MessageExport> {
    let (period, mut filter) = resolve(ctx, range, None).await?;
    crate::services::message_exports::authorize(ctx.scope()?)?;
    filter.channel_ids = channel_id.map(|id| parse_id(&id, "channelId", "channel")).transpose()?.into_iter().collect();
    let message_count = reports::export_count(ctx.app(), ctx.scope()?, &period, &filter, kind).await?;
    let list = match kind {
        ListKind::Failed => "FAILED",
        ListKind::Incoming => "INCOMING",
        ListKind::Outgoing => "OUTGOING",
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("list", list)
        .append_pair("from", &period.from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .append_pair("to", &period.to.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    if let Some(channel) = filter.channel_ids.first() {
        query.append_pair("channelId", &channel.to_string());
    }
    Ok(MessageExport { url: format!("/export/messages.csv?{}", query.finish()), message_count })
}

/// Messages that failed with one error code.
#[derive(SimpleObject)]
pub struct FailureGroupView {
    /// The error code (the provider's, or Pregón's such as OUTSIDE_MESSAGING_WINDOW).
    pub code: String,
    /// One of the texts given with it.
    pub text: String,
    /// Failed messages with this code.
    pub count: i64,
    /// Their share of the failed messages, in percent, one decimal.
    pub percent: f64,
}

/// Counts over one broadcast, or all of a report's, with rates.
#[derive(SimpleObject)]
pub struct BroadcastStatsView {
    /// How many broadcasts these counts cover.
    pub broadcasts: i64,
    /// Recipients targeted (segment sizes when scheduled).
    pub target_recipients: i64,
    /// Recipients attempted.
    pub completed_recipients: i64,
    /// Messages the broadcasts expanded to.
    pub total_messages: i64,
    /// Messages the providers accepted.
    pub sent: i64,
    /// Messages delivered.
    pub delivered: i64,
    /// Messages read.
    pub read: i64,
    /// Messages that failed.
    pub failed: i64,
    /// Messages answered within 24 hours.
    pub replied: i64,
    /// Delivered over sent, in percent.
    pub delivery_rate: f64,
    /// Read over sent, in percent.
    pub read_rate: f64,
    /// Failed over total messages, in percent.
    pub failure_rate: f64,
    /// Replied over sent, in percent.
    pub reply_rate: f64,
    /// Failures by error code, most frequent first.
    pub failures: Vec<FailureGroupView>,
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole > 0 { (part as f64 * 1000.0 / whole as f64).round() / 10.0 } else { 0.0 }
}

impl From<reports::BroadcastStats> for BroadcastStatsView {
    fn from(stats: reports::BroadcastStats) -> BroadcastStatsView {
        let failed = stats.failed;
        BroadcastStatsView {
            broadcasts: stats.broadcasts,
            target_recipients: stats.target_recipients,
            completed_recipients: stats.completed_recipients,
            total_messages: stats.total_messages,
            sent: stats.sent,
            delivered: stats.delivered,
            read: stats.read,
            failed,
            replied: stats.replied,
            delivery_rate: percent(stats.delivered, stats.sent),
            read_rate: percent(stats.read, stats.sent),
            failure_rate: percent(stats.failed, stats.total_messages),
            reply_rate: percent(stats.replied, stats.sent),
            failures: stats
                .failures
                .into_iter()
                .map(|f| FailureGroupView {
                    percent: percent(f.count, failed),
                    code: f.code,
                    text: f.text,
                    count: f.count,
                })
                .collect(),
        }
    }
}

/// One broadcast of the report.
#[derive(SimpleObject)]
pub struct BroadcastReportRow {
    /// The broadcast.
    pub broadcast: crate::graphql::broadcast::Broadcast,
    /// Its counts and rates.
    pub stats: BroadcastStatsView,
}

/// The broadcasts report: each broadcast started in the period and the totals.
#[derive(SimpleObject)]
pub struct BroadcastsReport {
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The workspace time zone presets are counted in.
    pub time_zone: String,
    /// The broadcasts started in the period, newest first (at most 1,000).
    pub broadcasts: Vec<BroadcastReportRow>,
    /// All of them together.
    pub total: BroadcastStatsView,
}

#[derive(Default)]
pub struct BroadcastReportQuery;

#[Object]
impl BroadcastReportQuery {
    /// The broadcasts report over a period: per broadcast started in it and in total,
    /// recipients targeted and completed, messages sent, delivered, read, failed and replied,
    /// with rates, and failures by error. MANAGER or above.
    async fn broadcasts_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period (by the broadcasts' start): a preset or from/to.")] range: ReportRangeInput,
    ) -> ApiResult<BroadcastsReport> {
        let (period, _) = resolve(ctx, range, None).await?;
        let report = reports::broadcasts_report(ctx.app(), ctx.scope()?, period).await?;
        Ok(BroadcastsReport {
            from: report.period.from,
            to: report.period.to,
            time_zone: report.period.time_zone,
            broadcasts: report
                .broadcasts
                .into_iter()
                .map(|(model, stats)| BroadcastReportRow {
                    broadcast: crate::graphql::broadcast::Broadcast(model),
                    stats: stats.into(),
                })
                .collect(),
            total: report.total.into(),
        })
    }
}
