//! Reports: the messages report (seed 004).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, parse_id, parse_ids};
use crate::graphql::enums::{MessageSource, MessageType};
use crate::services::reports::{self, Preset, ReportFilter, Section};

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
                percent: if total > 0 { (group.count as f64 * 1000.0 / total as f64).round() / 10.0 } else { 0.0 },
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
pub struct MessagesReport {
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
        let scope = ctx.scope()?;
        scope.require(entity::Role::Manager, "Reading reports")?;
        let app = ctx.app();
        let tz = reports::time_zone(app, scope).await?;
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
        let report = reports::messages_report(app, scope, period, &filter).await?;
        Ok(MessagesReport {
            from: report.period.from,
            to: report.period.to,
            time_zone: report.period.time_zone.clone(),
            days: report.period.days.iter().map(|(day, _)| day.to_string()).collect(),
            incoming: report.incoming.into(),
            outgoing_by_channel: report.outgoing_by_channel.into(),
            outgoing_by_source: report.outgoing_by_source.into(),
            outgoing_by_type: report.outgoing_by_type.into(),
            outgoing_by_subtype: report.outgoing_by_subtype.into(),
            delivery: report.delivery.into(),
        })
    }
}
