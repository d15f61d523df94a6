//! Starting a broadcast: the segment is evaluated again (seed 000: membership is dynamic), the
//! seed's whole-broadcast failures are checked, and the recipients are expanded into message
//! rows — the durable outbox — in set-based SQL, before anything is sent.
//!
//! Expansion is one `INSERT … SELECT` per channel, so a million recipients never pass through
//! Rust. In it: one message per address (contacts sharing an identifier are duplicates and get
//! one, the oldest contact's), contacts without a well-formed identifier for the channel are
//! left out (the seed's "formato del identificador es incorrecto"), contacts outside the
//! channel's messaging window get a FAILED row with that reason unless the content may be sent
//! outside it, and `ON CONFLICT (broadcast_id, contact_id) DO NOTHING` makes running it twice
//! harmless. Everything happens in the transaction that moves the broadcast to RUNNING, so a
//! crash half-way leaves it SCHEDULED, to be started again.

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use entity::{
    BroadcastStatus, DeliveryStatus, MessageDirection, MessageSource, broadcast, channel, contact, contact_channel,
    message, segment, workspace,
};
use sea_orm::sea_query::{
    Alias, CaseStatement, Expr, ExprTrait, JoinType, OnConflict, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use crate::app::App;
use crate::auth::Scope;
use crate::catalogue::Reason;
use crate::channels::content::Planned;
use crate::channels::{Adapters, IdentifierKind, MessageContent, MessagingWindow, capabilities};
use crate::error::{ServiceError, ServiceResult};
use crate::events::ChangeAction;
use crate::services::broadcasts::announce;
use crate::services::broadcasts::{self, local_midnight};
use crate::services::segments;

/// Starts the SCHEDULED broadcasts whose time has come (a few at a time, oldest first).
pub async fn start_due(app: &App) -> ServiceResult<usize> {
    let due: Vec<i64> = broadcast::Entity::find()
        .select_only()
        .column(broadcast::Column::Id)
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Scheduled))
        .filter(broadcast::Column::ScheduledAt.lte(Utc::now()))
        .order_by_asc(broadcast::Column::ScheduledAt)
        .limit(20)
        .into_tuple()
        .all(&app.db)
        .await?;
    let mut started = 0;
    for id in due {
        match start_broadcast(app, id).await {
            Ok(Some(_)) => started += 1,
            Ok(None) => {}
            Err(err) => tracing::error!(broadcast_id = id, error = ?err, "starting a broadcast failed; will retry"),
        }
    }
    Ok(started)
}

/// SCHEDULED → RUNNING with its messages written, or → FAILED with the seed's reason, or
/// straight to COMPLETED when no message can be sent. `None` when it was not due or another
/// instance started it first.
pub async fn start_broadcast(app: &App, id: i64) -> ServiceResult<Option<broadcast::Model>> {
    let txn = crate::db::begin_write(&app.db).await?;
    let now = Utc::now();
    let claimed = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Running))
        .col_expr(broadcast::Column::StartedAt, Expr::val(now))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(id))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Scheduled))
        .filter(broadcast::Column::ScheduledAt.lte(now))
        .exec_with_returning(&txn)
        .await?
        .pop();
    let Some(model) = claimed else {
        return Ok(None);
    };
    let outcome = match expand(&txn, &model, now).await? {
        Ok(expanded) => finish(&txn, &model, expanded, now).await?,
        Err(reason) => fail(&txn, &model, reason, now).await?,
    };
    txn.commit().await?;
    announce(app, &outcome, ChangeAction::Updated);
    tracing::info!(
        broadcast_id = outcome.id,
        status = broadcasts::status_name(outcome.status),
        messages = outcome.total_messages,
        excluded = outcome.excluded_recipients,
        "broadcast started"
    );
    Ok(Some(outcome))
}

struct Expanded {
    matched: i64,
    inserted: i64,
}

/// Writes the message rows; the seed's reason when the whole broadcast fails instead.
async fn expand(
    txn: &DatabaseTransaction,
    model: &broadcast::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Result<Expanded, Reason>> {
    let scope = Scope::system(model.workspace_id);
    let candidates = match broadcasts::stored_resend_filter(model)? {
        Some(filter) => {
            let original = model.resend_of_id.unwrap_or_default();
            let original = broadcast::Entity::find_by_id(original).one(txn).await?;
            let Some(original) = original else {
                return Ok(Err(Reason::BroadcastSegmentNotFound));
            };
            let recipients = broadcasts::resend_recipients(&original, &filter)
                .select_only()
                .column(message::Column::ContactId)
                .into_query();
            Condition::all().add(Expr::col((contact::Entity, contact::Column::Id)).in_subquery(recipients))
        }
        None => {
            let found = match model.segment_id {
                Some(id) => scope.find::<segment::Entity>(txn, id).await?,
                None => None,
            };
            let Some(segment) = found else {
                return Ok(Err(Reason::BroadcastSegmentNotFound));
            };
            segments::filter::compile(txn, &scope, &segments::stored_filter(&segment)?).await?
        }
    };
    let matched = scope.select::<contact::Entity>().filter(candidates.clone()).count(txn).await? as i64;
    if matched == 0 {
        return Ok(Err(Reason::BroadcastNoContacts));
    }
    let workspace = scope.get::<workspace::Entity>(txn, "workspace", model.workspace_id).await?;
    if used_this_month(txn, &workspace, model.id, now).await? + matched > workspace.monthly_broadcast_message_limit {
        return Ok(Err(Reason::BroadcastPlanLimitExceeded));
    }
    let content = broadcasts::stored_content(model)?;
    let live = |query: sea_orm::Select<channel::Entity>| {
        query.filter(channel::Column::WorkspaceId.eq(model.workspace_id)).filter(channel::Column::DeletedAt.is_null())
    };
    let channels = if model.use_last_interacted_channel {
        live(channel::Entity::find()).order_by_asc(channel::Column::Id).all(txn).await?
    } else {
        let Some(channel_id) = model.channel_id else {
            return Ok(Err(Reason::BroadcastChannelUnavailable));
        };
        match live(channel::Entity::find_by_id(channel_id)).one(txn).await? {
            Some(channel) => vec![channel],
            None => return Ok(Err(Reason::BroadcastChannelUnavailable)),
        }
    };
    let backend = txn.get_database_backend();
    let mut inserted = 0;
    for channel in &channels {
        let plan = plan(channel, &content, model.use_last_interacted_channel);
        let statement = expansion(backend, model, channel, &content, &plan, candidates.clone(), now)?;
        inserted += txn.execute(&statement).await?.rows_affected() as i64;
    }
    Ok(Ok(Expanded { matched, inserted }))
}

/// How the content goes out on one channel: its type, and why every recipient there fails
/// when they all do (the messaging window is checked first all the same: it is the more
/// precise reason for those outside it).
struct ChannelPlan {
    planned: Planned,
    fail_all: Option<(&'static str, String)>,
}

fn plan(channel: &channel::Model, content: &MessageContent, per_contact: bool) -> ChannelPlan {
    let caps = capabilities(channel.kind);
    // With "last interacted channel" each contact wrote on its channel, so the channel's window
    // (not the broadcast rule) decides whether plain text may go.
    let (planned, problem) = match content.plan_for(channel.kind, !per_contact && caps.can_broadcast) {
        Ok(planned) => (planned, None),
        Err(problem) => (Planned::session(), Some(("CONTENT_NOT_ALLOWED", problem.message))),
    };
    let fail_all = if !caps.can_broadcast {
        Some(("CHANNEL_CANNOT_BROADCAST", format!("{} channels cannot send broadcasts.", caps.label)))
    } else if problem.is_some() {
        problem
    } else if !Adapters::supports(channel.kind) {
        Some(("CHANNEL_NOT_SUPPORTED", format!("Pregón does not send on {} channels yet.", caps.label)))
    } else {
        None
    };
    ChannelPlan { planned, fail_all }
}

/// Broadcast messages of the workspace's broadcasts started this calendar month (in its
/// time zone), other than `except`.
async fn used_this_month(
    conn: &impl ConnectionTrait,
    workspace: &workspace::Model,
    except: i64,
    now: DateTime<Utc>,
) -> ServiceResult<i64> {
    let tz: Tz = workspace.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let today = now.with_timezone(&tz).date_naive();
    let month_start = local_midnight(tz, today.with_day(1).expect("day 1 exists"));
    let used: Option<i64> = broadcast::Entity::find()
        .select_only()
        // PostgreSQL sums BIGINT into NUMERIC: cast back.
        .expr(Expr::cust("CAST(COALESCE(SUM(total_messages), 0) AS BIGINT)"))
        .filter(broadcast::Column::WorkspaceId.eq(workspace.id))
        .filter(broadcast::Column::StartedAt.gte(month_start))
        .filter(broadcast::Column::Id.ne(except))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(used.unwrap_or(0))
}

/// The `INSERT … SELECT` of one channel's messages.
fn expansion(
    backend: DbBackend,
    model: &broadcast::Model,
    channel: &channel::Model,
    content: &MessageContent,
    plan: &ChannelPlan,
    candidates: Condition,
    now: DateTime<Utc>,
) -> ServiceResult<sea_orm::sea_query::InsertStatement> {
    let caps = capabilities(channel.kind);
    let address = match caps.identifier {
        IdentifierKind::Phone => "COALESCE(cc.identifier, contacts.phone)",
        IdentifierKind::Email => "COALESCE(cc.identifier, contacts.email)",
        // A custom or sandbox channel takes whatever its provider understands; without an
        // identifier there, the contact's phone is the natural address.
        IdentifierKind::Opaque => "COALESCE(cc.identifier, contacts.phone)",
        _ => "cc.identifier",
    };
    let mut recipients = Query::select();
    recipients
        .expr_as(Expr::col((contact::Entity, contact::Column::Id)), Alias::new("contact_id"))
        .expr_as(Expr::cust(address), Alias::new("address"))
        .expr_as(Expr::col((Alias::new("cc"), contact_channel::Column::LastIncomingAt)), Alias::new("last_incoming_at"))
        .expr_as(
            Expr::cust(format!("ROW_NUMBER() OVER (PARTITION BY {address} ORDER BY contacts.id)")),
            Alias::new("rn"),
        )
        .from(contact::Entity)
        .join_as(
            JoinType::LeftJoin,
            contact_channel::Entity,
            Alias::new("cc"),
            Condition::all()
                .add(
                    Expr::col((Alias::new("cc"), contact_channel::Column::ContactId))
                        .equals((contact::Entity, contact::Column::Id)),
                )
                .add(Expr::col((Alias::new("cc"), contact_channel::Column::ChannelId)).eq(channel.id)),
        )
        .and_where(Expr::col((contact::Entity, contact::Column::WorkspaceId)).eq(model.workspace_id))
        .and_where(Expr::col((Alias::new("cc"), contact_channel::Column::UnreachableAt)).is_null())
        .cond_where(candidates);
    if model.use_last_interacted_channel {
        recipients.and_where(Expr::col((contact::Entity, contact::Column::LastInteractedChannelId)).eq(channel.id));
    }
    let r = |column: &str| Expr::col((Alias::new("r"), Alias::new(column)));
    // Outside the window (when the content may not go outside it): FAILED with that reason.
    let outside: Option<(Condition, String)> = match caps.messaging_window {
        MessagingWindow::Hours(hours) if !plan.planned.outside_window => {
            let cutoff = now - Duration::hours(i64::from(hours));
            let outside = Condition::any().add(r("last_incoming_at").is_null()).add(r("last_incoming_at").lt(cutoff));
            let text = format!(
                "Outside the messaging window: the contact has not written on this {} channel in the last {hours} hours.",
                caps.label
            );
            Some((outside, text))
        }
        _ => None,
    };
    // Each failure column: the window's value, else the whole channel's, else NULL.
    let choose = |window: Option<SimpleExpr>, all: Option<SimpleExpr>| -> SimpleExpr {
        let otherwise = all.unwrap_or_else(|| Expr::cust("NULL"));
        match (&outside, window) {
            (Some((condition, _)), Some(value)) => {
                CaseStatement::new().case(condition.clone(), value).finally(otherwise).into()
            }
            _ => otherwise,
        }
    };
    let fail_all = plan.fail_all.as_ref();
    let status = choose(
        Some(Expr::val(DeliveryStatus::Failed)),
        Some(Expr::val(if fail_all.is_some() { DeliveryStatus::Failed } else { DeliveryStatus::Queued })),
    );
    let failed_at = choose(Some(Expr::val(now)), fail_all.map(|_| Expr::val(now)));
    let error_code = choose(Some(Expr::val("OUTSIDE_MESSAGING_WINDOW")), fail_all.map(|f| Expr::val(f.0)));
    let error_text =
        choose(outside.as_ref().map(|(_, text)| Expr::val(text.as_str())), fail_all.map(|f| Expr::val(f.1.as_str())));
    let (message_type, subtype) = (plan.planned.message_type, plan.planned.subtype.clone());
    let content_json = serde_json::to_value(content).map_err(ServiceError::internal)?;
    let mut rows = SelectStatement::new();
    rows.expr(Expr::val(model.workspace_id))
        .expr(Expr::val(model.id))
        .expr(r("contact_id"))
        .expr(Expr::val(channel.id))
        .expr(Expr::val(MessageDirection::Outgoing))
        .expr(Expr::val(MessageSource::Broadcast))
        .expr(Expr::val(message_type))
        .expr(Expr::val(subtype))
        .expr(Expr::val(content_json))
        .expr(r("address"))
        .expr(status)
        .expr(Expr::val(now))
        .expr(failed_at)
        .expr(error_code)
        .expr(error_text)
        .expr(Expr::val(0))
        .expr(Expr::val(now))
        .expr(Expr::val(model.sent_by_user_id))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .from_subquery(recipients, Alias::new("r"))
        .and_where(r("rn").eq(1))
        .and_where(r("address").is_not_null())
        .and_where(Expr::cust(well_formed(backend, caps.identifier)));
    let mut insert = Query::insert();
    insert
        .into_table(message::Entity)
        .columns([
            message::Column::WorkspaceId,
            message::Column::BroadcastId,
            message::Column::ContactId,
            message::Column::ChannelId,
            message::Column::Direction,
            message::Column::Source,
            message::Column::MessageType,
            message::Column::Subtype,
            message::Column::Content,
            message::Column::Address,
            message::Column::Status,
            message::Column::QueuedAt,
            message::Column::FailedAt,
            message::Column::ErrorCode,
            message::Column::ErrorText,
            message::Column::Attempts,
            message::Column::NextAttemptAt,
            message::Column::SentByUserId,
            message::Column::CreatedAt,
            message::Column::UpdatedAt,
        ])
        .select_from(rows)
        .map_err(|err| ServiceError::internal(anyhow::anyhow!("expansion statement: {err}")))?
        .on_conflict(
            OnConflict::columns([message::Column::BroadcastId, message::Column::ContactId]).do_nothing().to_owned(),
        );
    Ok(insert)
}

/// SQL that is true when `r.address` is a well-formed identifier of `kind` (constant text,
/// no parameters). PostgreSQL uses regular expressions; SQLite, which has none built in, GLOB.
fn well_formed(backend: DbBackend, kind: IdentifierKind) -> &'static str {
    let postgres = backend == DbBackend::Postgres;
    match (kind, postgres) {
        (IdentifierKind::Phone, true) => r"r.address ~ '^\+[1-9][0-9]{6,14}$'",
        (IdentifierKind::Phone, false) => {
            "r.address GLOB '+[1-9]*' AND length(r.address) BETWEEN 8 AND 16 AND substr(r.address, 2) NOT GLOB '*[^0-9]*'"
        }
        (IdentifierKind::PageScopedId | IdentifierKind::InstagramScopedId, true) => "r.address ~ '^[0-9]{5,32}$'",
        (IdentifierKind::PageScopedId | IdentifierKind::InstagramScopedId, false) => {
            "length(r.address) BETWEEN 5 AND 32 AND r.address NOT GLOB '*[^0-9]*'"
        }
        (IdentifierKind::TelegramChatId, true) => "r.address ~ '^-{0,1}[1-9][0-9]{0,18}$'",
        (IdentifierKind::TelegramChatId, false) => {
            "(r.address GLOB '[1-9]*' OR r.address GLOB '-[1-9]*') AND length(r.address) <= 20 AND substr(r.address, 2) NOT GLOB '*[^0-9]*'"
        }
        (IdentifierKind::LineUserId, true) => "r.address ~ '^U[0-9a-f]{32}$'",
        (IdentifierKind::LineUserId, false) => {
            "length(r.address) = 33 AND r.address GLOB 'U*' AND substr(r.address, 2) NOT GLOB '*[^0-9a-f]*'"
        }
        (IdentifierKind::ViberUserId, true) => "r.address ~ '^[A-Za-z0-9+/=]{1,64}$'",
        (IdentifierKind::ViberUserId, false) => {
            "length(r.address) BETWEEN 1 AND 64 AND r.address NOT GLOB '*[^A-Za-z0-9+/=]*'"
        }
        (IdentifierKind::Email, true) => r"r.address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'",
        (IdentifierKind::Email, false) => "r.address GLOB '?*@?*.?*' AND r.address NOT GLOB '*[ ]*'",
        (_, true) => r"length(r.address) BETWEEN 1 AND 255 AND r.address !~ '\s'",
        (_, false) => "length(r.address) BETWEEN 1 AND 255 AND r.address NOT GLOB '*[ \t\n]*'",
    }
}

/// Records what expansion wrote: totals, the contacts left out, the rows that failed at once;
/// COMPLETED already when nothing is left to send.
async fn finish(
    txn: &DatabaseTransaction,
    model: &broadcast::Model,
    expanded: Expanded,
    now: DateTime<Utc>,
) -> ServiceResult<broadcast::Model> {
    let failed = message::Entity::find()
        .filter(message::Column::BroadcastId.eq(model.id))
        .filter(message::Column::Status.eq(DeliveryStatus::Failed))
        .count(txn)
        .await? as i64;
    let done = failed >= expanded.inserted;
    let mut update = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::TotalMessages, Expr::val(expanded.inserted))
        .col_expr(
            broadcast::Column::ExcludedRecipients,
            Expr::val(std::cmp::max(expanded.matched - expanded.inserted, 0)),
        )
        .col_expr(broadcast::Column::FailedCount, Expr::val(failed))
        .col_expr(broadcast::Column::CompletedRecipients, Expr::val(failed))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(model.id));
    if done {
        update = update
            .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Completed))
            .col_expr(broadcast::Column::CompletedAt, Expr::val(now));
    }
    update
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("broadcast {} vanished while starting", model.id)))
}

/// The whole broadcast fails with a seed reason (stored as its catalogue key).
async fn fail(
    txn: &DatabaseTransaction,
    model: &broadcast::Model,
    reason: Reason,
    now: DateTime<Utc>,
) -> ServiceResult<broadcast::Model> {
    broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Failed))
        .col_expr(broadcast::Column::FailureReason, Expr::val(reason.key()))
        .col_expr(broadcast::Column::CompletedAt, Expr::val(now))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Id.eq(model.id))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("broadcast {} vanished while failing", model.id)))
}
