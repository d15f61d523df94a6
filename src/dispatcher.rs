//! The dispatcher: starts scheduled broadcasts, sends queued messages at each channel's rate,
//! and records what providers answer.
//!
//! - **Outbox.** Starting a broadcast writes every message row first (`start`); sending works
//!   from those rows only, so a crash loses nothing.
//! - **Lanes.** Queued messages are sent by lanes, one per (channel, broadcast) — single sends
//!   form a lane per channel — so a slow broadcast never holds up another. A lane claims a batch
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), marking it SENDING with a
//!   lease; waits on the broadcast's and the channel's limiters (`limiter`); hands each message
//!   to the channel's adapter with at most `concurrency` in flight; and passes the outcome to
//!   the recorder.
//! - **Recorder.** One task batches outcomes into transactions through
//!   `services::delivery::record`, the one place statuses and counters change.
//! - **Leases.** A message left SENDING past its lease (a crash) is queued again and re-sent with
//!   the same idempotency key, its id.
//! - **Retries.** Transient errors go back to QUEUED with exponential backoff (or the provider's
//!   Retry-After), up to `max_attempts`; permanent ones fail with the provider's code and text.
//! - **Daily limits.** A channel's `daily_limit` counts messages accepted in the last 24 hours;
//!   beyond it messages fail with "daily limit reached" without being sent (seed 000). On
//!   PostgreSQL the count is taken at claim time for all instances together.
//!
//! `Dispatcher::tick` is one pass of the loop, so tests and benchmarks can drive it.

pub mod limiter;
pub mod pacing;
pub mod start;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{BroadcastStatus, DeliveryStatus, broadcast, channel, message};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{ActiveEnum, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::app::AppState;
use crate::channels::adapter::{Outgoing, SendOutcome, StatusReport};
use crate::channels::{Adapters, MessageContent, RateLimit};
use crate::error::ServiceResult;
use crate::events::ChangeAction;
use crate::services::broadcasts::announce;
use crate::services::channels::{effective_base_url, effective_rate};
use crate::services::delivery::{self, Tracked, Update};
use limiter::Limiter;
use pacing::{Pacer, SharedPacer};

/// Largest batch a lane claims at once.
const MAX_BATCH: u64 = 500;
/// Every this many ticks, messages whose lease ran out are queued again.
const RECOVERY_EVERY_TICKS: u64 = 8;

/// A lane: the messages of one broadcast (or the single sends) on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LaneKey {
    pub channel_id: i64,
    pub broadcast_id: Option<i64>,
}

/// An outcome for the recorder.
type Recorded = (Tracked, Update);

/// A channel's sends in the last 24 hours, for its daily limit.
struct DailyCount {
    /// Accepted messages counted in the database when loaded.
    stored: i64,
    /// Accepted since then, by this process.
    accepted: i64,
    /// Handed to the provider, no answer yet.
    in_flight: i64,
    loaded_at: Instant,
}

pub struct Dispatcher {
    app: AppState,
    adapters: Adapters,
    channel_limiters: Mutex<HashMap<i64, Arc<Limiter>>>,
    broadcast_limiters: Mutex<HashMap<i64, Arc<Limiter>>>,
    daily: tokio::sync::Mutex<HashMap<i64, DailyCount>>,
    lanes: Mutex<HashSet<LaneKey>>,
    recorder: mpsc::UnboundedSender<Recorded>,
    recorder_inbox: Mutex<Option<mpsc::UnboundedReceiver<Recorded>>>,
    statuses: Mutex<Option<mpsc::UnboundedReceiver<StatusReport>>>,
    stopping: watch::Sender<bool>,
    ticks: std::sync::atomic::AtomicU64,
}

impl Dispatcher {
    pub fn new(app: AppState) -> Arc<Dispatcher> {
        let (status_sink, statuses) = mpsc::unbounded_channel();
        let (recorder, recorder_inbox) = mpsc::unbounded_channel();
        let adapters = Adapters::new(app.dispatch.provider_timeout(), app.dispatch.sandbox(), status_sink);
        Arc::new(Dispatcher {
            app,
            adapters,
            channel_limiters: Mutex::default(),
            broadcast_limiters: Mutex::default(),
            daily: tokio::sync::Mutex::default(),
            lanes: Mutex::default(),
            recorder,
            recorder_inbox: Mutex::new(Some(recorder_inbox)),
            statuses: Mutex::new(Some(statuses)),
            stopping: watch::channel(false).0,
            ticks: Default::default(),
        })
    }

    /// Runs until `stop` completes; then stops claiming, hands back claimed messages it has not
    /// sent, waits for the sends in flight and records their outcomes.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let recorder = tokio::spawn(record_outcomes(self.app.clone(), self.take_recorder_inbox()));
        let statuses = tokio::spawn(apply_statuses(self.app.clone(), self.take_statuses()));
        tokio::pin!(stop);
        loop {
            if let Err(err) = self.tick().await {
                tracing::error!(error = ?err, "dispatcher pass failed; trying again");
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(self.app.dispatch.poll()) => {}
                () = self.app.dispatcher_wake.notified() => {}
            }
        }
        let _ = self.stopping.send(true);
        while !self.lanes.lock().expect("lanes lock").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The lanes are gone: dropping the last sender lets the recorder finish its queue.
        statuses.abort();
        drop(self);
        let _ = recorder.await;
        tracing::info!("dispatcher stopped");
    }

    fn take_recorder_inbox(&self) -> mpsc::UnboundedReceiver<Recorded> {
        self.recorder_inbox.lock().expect("lock").take().expect("the dispatcher runs once")
    }

    fn take_statuses(&self) -> mpsc::UnboundedReceiver<StatusReport> {
        self.statuses.lock().expect("lock").take().expect("the dispatcher runs once")
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// One pass: start due broadcasts, re-queue expired leases now and then, complete finished
    /// broadcasts, and open a lane for every channel and broadcast with queued messages.
    pub async fn tick(self: &Arc<Self>) -> ServiceResult<()> {
        let tick = self.ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if tick.is_multiple_of(RECOVERY_EVERY_TICKS) {
            recover_expired_leases(&self.app).await?;
            pacing::prune(&self.app.db).await?;
        }
        start::start_due(&self.app).await?;
        complete_finished(&self.app).await?;
        for key in self.discover_lanes().await? {
            let fresh = self.lanes.lock().expect("lanes lock").insert(key);
            if fresh {
                let dispatcher = self.clone();
                tokio::spawn(async move {
                    if let Err(err) = dispatcher.run_lane(key).await {
                        tracing::error!(?key, error = ?err, "a lane failed; it will be reopened");
                    }
                    dispatcher.lanes.lock().expect("lanes lock").remove(&key);
                });
            }
        }
        Ok(())
    }

    async fn discover_lanes(&self) -> ServiceResult<Vec<LaneKey>> {
        let db = &self.app.db;
        let running: Vec<(i64, Option<i64>, bool)> = broadcast::Entity::find()
            .select_only()
            .columns([broadcast::Column::Id, broadcast::Column::ChannelId, broadcast::Column::UseLastInteractedChannel])
            .filter(broadcast::Column::Status.eq(BroadcastStatus::Running))
            .into_tuple()
            .all(db)
            .await?;
        let mut keys = Vec::new();
        for (broadcast_id, channel_id, per_contact) in running {
            match channel_id {
                Some(channel_id) if !per_contact => keys.push(LaneKey { channel_id, broadcast_id: Some(broadcast_id) }),
                _ => {
                    let channels = queued_channels(db, Some(broadcast_id)).await?;
                    keys.extend(
                        channels.into_iter().map(|channel_id| LaneKey { channel_id, broadcast_id: Some(broadcast_id) }),
                    );
                }
            }
        }
        let singles = queued_channels(db, None).await?;
        keys.extend(singles.into_iter().map(|channel_id| LaneKey { channel_id, broadcast_id: None }));
        Ok(keys)
    }

    fn channel_limiter(&self, channel: &channel::Model) -> Arc<Limiter> {
        let rate = effective_rate(channel);
        let mut limiters = self.channel_limiters.lock().expect("limiters lock");
        match limiters.get(&channel.id) {
            Some(limiter) if limiter.rate() == rate => limiter.clone(),
            _ => {
                let limiter = Arc::new(Limiter::new(rate));
                limiters.insert(channel.id, limiter.clone());
                limiter
            }
        }
    }

    fn broadcast_limiter(&self, broadcast_id: i64, rate: RateLimit) -> Arc<Limiter> {
        let mut limiters = self.broadcast_limiters.lock().expect("limiters lock");
        match limiters.get(&broadcast_id) {
            Some(limiter) if limiter.rate() == rate => limiter.clone(),
            _ => {
                let limiter = Arc::new(Limiter::new(rate));
                limiters.insert(broadcast_id, limiter.clone());
                limiter
            }
        }
    }

    /// Reserves one of the channel's daily sends in this process (SQLite: one instance);
    /// `false` when the limit is reached. On PostgreSQL the claim already counted it for all
    /// instances (`claim_for_sending`).
    async fn take_daily(&self, channel: &channel::Model) -> ServiceResult<bool> {
        let Some(limit) = channel.daily_limit else {
            return Ok(true);
        };
        if self.app.db.get_database_backend() == DbBackend::Postgres {
            return Ok(true);
        }
        let mut daily = self.daily.lock().await;
        let stale = daily.get(&channel.id).is_none_or(|count| count.loaded_at.elapsed() > Duration::from_secs(60));
        if stale {
            let since = Utc::now() - chrono::Duration::hours(24);
            let stored = sea_orm::PaginatorTrait::count(
                message::Entity::find()
                    .filter(message::Column::ChannelId.eq(channel.id))
                    .filter(message::Column::SentAt.gte(since)),
                &self.app.db,
            )
            .await? as i64;
            let in_flight = daily.get(&channel.id).map_or(0, |count| count.in_flight);
            daily.insert(channel.id, DailyCount { stored, accepted: 0, in_flight, loaded_at: Instant::now() });
        }
        let count = daily.get_mut(&channel.id).expect("loaded above");
        if count.stored + count.accepted + count.in_flight >= i64::from(limit) {
            return Ok(false);
        }
        count.in_flight += 1;
        Ok(true)
    }

    async fn settle_daily(&self, channel: &channel::Model, accepted: bool) {
        if channel.daily_limit.is_none() {
            return;
        }
        if let Some(count) = self.daily.lock().await.get_mut(&channel.id) {
            count.in_flight -= 1;
            if accepted {
                count.accepted += 1;
            }
        }
    }

    /// Sends a lane's due messages until none is left.
    async fn run_lane(self: &Arc<Self>, key: LaneKey) -> ServiceResult<()> {
        let settings = &self.app.dispatch;
        let concurrency = settings.concurrency.max(1);
        let in_flight = Arc::new(Semaphore::new(concurrency));
        let mut stopping = self.stopping.subscribe();
        let mut pacer: Option<Pacer> = None;
        let outcome = async {
            loop {
                if self.is_stopping() {
                    return Ok(());
                }
                let Some(channel) = channel::Entity::find_by_id(key.channel_id)
                    .filter(channel::Column::DeletedAt.is_null())
                    .one(&self.app.db)
                    .await?
                else {
                    return fail_lane(
                        &self.app,
                        key,
                        "CHANNEL_UNAVAILABLE",
                        "The channel was deleted before the message was sent.",
                    )
                    .await;
                };
                let channel = Arc::new(channel);
                let channel_rate = effective_rate(&channel);
                let broadcast_rate = match key.broadcast_id {
                    Some(id) => send_rate(&self.app, id).await?.map(|rate| (id, rate)),
                    None => None,
                };
                let per_second = broadcast_rate
                    .map_or(channel_rate.per_second_f64(), |(_, rate)| rate.per_second_f64())
                    .min(channel_rate.per_second_f64());
                self.update_pacer(&mut pacer, &channel, channel_rate, broadcast_rate);
                let pacer = pacer.as_mut().expect("set above");
                let batch =
                    pacer.batch_limit().map_or(per_second.ceil() as u64, |limit| limit as u64).clamp(1, MAX_BATCH);
                let (claimed, over_daily_limit) = claim_for_sending(&self.app, key, batch, &channel).await?;
                if !claimed.is_empty() {
                    tracing::debug!(?key, batch, claimed = claimed.len(), over_daily_limit, "claimed messages");
                }
                if over_daily_limit {
                    for message in &claimed {
                        let _ = self.recorder.send((Tracked::from(message), daily_limit_reached(&channel)));
                    }
                    continue;
                }
                if claimed.is_empty() {
                    match next_due(&self.app, key).await? {
                        Some(at) => {
                            let wait = (at - Utc::now()).to_std().unwrap_or_default().min(settings.poll());
                            tokio::select! {
                                () = tokio::time::sleep(wait) => continue,
                                _ = stopping.wait_for(|s| *s) => return Ok(()),
                            }
                        }
                        None => return Ok(()),
                    }
                }
                for (index, message) in claimed.iter().enumerate() {
                    // A place among the sends in flight first, then the slot: a slot is used
                    // when it comes, not after waiting for a slow provider.
                    let ready = async {
                        let permit = in_flight.clone().acquire_owned().await.expect("the semaphore is never closed");
                        pacer.ready(claimed.len() - index).await.map(|()| permit)
                    };
                    let permit = tokio::select! {
                        ready = ready => Some(ready),
                        _ = stopping.wait_for(|s| *s) => None,
                    };
                    let permit = match permit {
                        Some(Ok(permit)) => permit,
                        Some(Err(err)) => {
                            release(&self.app, &claimed[index..]).await?;
                            return Err(err);
                        }
                        None => {
                            release(&self.app, &claimed[index..]).await?;
                            return Ok(());
                        }
                    };
                    if !self.take_daily(&channel).await? {
                        let _ = self.recorder.send((Tracked::from(message), daily_limit_reached(&channel)));
                        continue;
                    }
                    let dispatcher = self.clone();
                    let channel = channel.clone();
                    let message = message.clone();
                    tokio::spawn(async move {
                        dispatcher.send_one(&channel, &message).await;
                        drop(permit);
                    });
                }
            }
        }
        .await;
        // Whatever happened, wait for the sends in flight so their outcomes are recorded.
        let _ = in_flight.acquire_many(concurrency as u32).await;
        outcome
    }

    /// The lane's pacer for the rates as they are now: in-process limiters on SQLite (one
    /// instance), slots shared by every instance on PostgreSQL.
    fn update_pacer(
        &self,
        pacer: &mut Option<Pacer>,
        channel: &channel::Model,
        channel_rate: RateLimit,
        broadcast_rate: Option<(i64, RateLimit)>,
    ) {
        if self.app.db.get_database_backend() == DbBackend::Postgres {
            if !matches!(pacer, Some(Pacer::Shared(_))) {
                *pacer = Some(Pacer::Shared(SharedPacer::new(self.app.db.clone(), channel.id, channel_rate)));
            }
            if let Some(Pacer::Shared(shared)) = pacer {
                shared.set_rates(channel.id, channel_rate, broadcast_rate);
            }
        } else {
            *pacer = Some(Pacer::Local {
                channel: self.channel_limiter(channel),
                broadcast: broadcast_rate.map(|(id, rate)| self.broadcast_limiter(id, rate)),
            });
        }
    }

    async fn send_one(&self, channel: &channel::Model, message: &message::Model) {
        let content: MessageContent = serde_json::from_value(message.content.clone()).unwrap_or_default();
        let base_url = effective_base_url(channel);
        let webhook_url = self.app.webhook_url(channel.id);
        let outgoing = Outgoing {
            message_id: message.id,
            created_at: message.created_at,
            broadcast_id: message.broadcast_id,
            contact_id: message.contact_id,
            channel,
            base_url: base_url.as_deref(),
            webhook_url: &webhook_url,
            address: message.address.as_deref().unwrap_or_default(),
            message_type: message.message_type.unwrap_or(entity::MessageType::Session),
            content: &content,
        };
        // The message's send time is when the request went out: never after the provider's own
        // time of receipt, which watermarks are compared with.
        let requested_at = Utc::now();
        let outcome = match self.adapters.for_kind(channel.kind) {
            Some(adapter) => adapter.send(&outgoing).await,
            None => SendOutcome::Permanent {
                code: "CHANNEL_NOT_SUPPORTED".into(),
                text: "Pregón has no sending adapter for this kind of channel.".into(),
            },
        };
        metrics::counter!("pregon_messages_sent_total", "outcome" => outcome_label(&outcome)).increment(1);
        self.settle_daily(channel, matches!(outcome, SendOutcome::Accepted { .. })).await;
        let settings = &self.app.dispatch;
        let update = match outcome {
            SendOutcome::Accepted { provider_message_id } => Update::Accepted { provider_message_id, at: requested_at },
            SendOutcome::Permanent { code, text } => Update::Failed { code, text },
            SendOutcome::Unreachable { code, text } => {
                if let Err(err) = delivery::mark_unreachable(&self.app, channel.id, outgoing.address).await {
                    tracing::warn!(error = ?err, channel_id = channel.id, "could not mark a recipient unreachable");
                }
                Update::Failed { code, text }
            }
            SendOutcome::Transient { code, text, .. } if message.attempts as u32 >= settings.max_attempts => {
                Update::Failed { code, text: format!("{text} (gave up after {} attempts)", message.attempts) }
            }
            SendOutcome::Transient { code, text, retry_after } => {
                let backoff = settings.backoff(std::cmp::max(message.attempts, 1) as u32);
                // The provider's Retry-After wins, within an hour.
                let wait = retry_after.map_or(backoff, |asked| asked.min(Duration::from_secs(3600)));
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                Update::Retry { at, code, text }
            }
        };
        let _ = self.recorder.send((Tracked::from(message), update));
    }
}

fn outcome_label(outcome: &SendOutcome) -> &'static str {
    match outcome {
        SendOutcome::Accepted { .. } => "accepted",
        SendOutcome::Transient { .. } => "transient",
        SendOutcome::Permanent { .. } => "permanent",
        SendOutcome::Unreachable { .. } => "unreachable",
    }
}

/// Writes outcomes in batches, as they come.
async fn record_outcomes(app: AppState, mut inbox: mpsc::UnboundedReceiver<Recorded>) {
    let mut batch = Vec::with_capacity(1000);
    while inbox.recv_many(&mut batch, 1000).await > 0 {
        let (known, updates): (Vec<Tracked>, Vec<(i64, Update)>) = batch
            .drain(..)
            .map(|(tracked, update)| {
                let id = tracked.id;
                (tracked, (id, update))
            })
            .unzip();
        let mut attempt = 0;
        loop {
            match delivery::record(&app, known.clone(), updates.clone()).await {
                Ok(()) => break,
                Err(err) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(error = ?err, attempt, "recording outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(err) => {
                    // The messages stay SENDING; their lease runs out and they are re-sent with
                    // the same idempotency key.
                    tracing::error!(error = ?err, messages = updates.len(), "could not record outcomes");
                    break;
                }
            }
        }
    }
}

/// Applies the sandbox's simulated status callbacks.
async fn apply_statuses(app: AppState, mut inbox: mpsc::UnboundedReceiver<StatusReport>) {
    let mut batch = Vec::with_capacity(500);
    while inbox.recv_many(&mut batch, 500).await > 0 {
        if let Err(err) = delivery::apply_reports(&app, std::mem::take(&mut batch)).await {
            tracing::warn!(error = ?err, "applying simulated statuses failed");
        }
    }
}

/// The channels with QUEUED messages of `broadcast_id` (or of single sends).
async fn queued_channels(db: &sea_orm::DatabaseConnection, broadcast_id: Option<i64>) -> ServiceResult<Vec<i64>> {
    let broadcast = match broadcast_id {
        Some(id) => message::Column::BroadcastId.eq(id),
        None => message::Column::BroadcastId.is_null(),
    };
    let channels: Vec<Option<i64>> = message::Entity::find()
        .select_only()
        .column(message::Column::ChannelId)
        .distinct()
        .filter(broadcast)
        .filter(message::Column::Status.eq(DeliveryStatus::Queued))
        .into_tuple()
        .all(db)
        .await?;
    Ok(channels.into_iter().flatten().collect())
}

fn lane_filter(key: LaneKey) -> sea_orm::Condition {
    let broadcast = match key.broadcast_id {
        Some(id) => Expr::col(message::Column::BroadcastId).eq(id),
        None => Expr::col(message::Column::BroadcastId).is_null(),
    };
    sea_orm::Condition::all().add(broadcast).add(Expr::col(message::Column::ChannelId).eq(key.channel_id))
}

/// The failure of a message beyond its channel's daily limit (seed 000).
fn daily_limit_reached(channel: &channel::Model) -> Update {
    let limit = channel.daily_limit.unwrap_or_default();
    Update::Failed {
        code: "DAILY_LIMIT_REACHED".into(),
        text: format!("Daily limit reached: this channel accepts {limit} messages per 24 hours."),
    }
}

/// Claims the lane's next batch for sending; `true` with it when the channel's daily limit is
/// reached (the batch is then to be failed with that reason).
///
/// On PostgreSQL a channel's daily limit holds for all instances together: under an advisory
/// lock on the channel, its messages accepted in the last 24 hours and those SENDING now (every
/// one of them let through by this same check) are counted, and only what is left of the limit
/// is claimed. SQLite has one instance, which counts in memory (`Dispatcher::take_daily`).
async fn claim_for_sending(
    app: &AppState,
    key: LaneKey,
    limit: u64,
    channel: &channel::Model,
) -> ServiceResult<(Vec<message::Model>, bool)> {
    let daily = match channel.daily_limit {
        Some(daily) if app.db.get_database_backend() == DbBackend::Postgres => i64::from(daily),
        _ => return Ok((claim(&app.db, app.dispatch.lease(), key, limit).await?, false)),
    };
    let txn = crate::db::begin_write(&app.db).await?;
    // Never wait long for the lock, and never let a stuck holder keep it.
    txn.execute_unprepared("SET LOCAL lock_timeout = '5s'; SET LOCAL idle_in_transaction_session_timeout = '30s'")
        .await?;
    let lock = (0x7072_6567_i64 << 32) | (channel.id & 0xffff_ffff);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [lock.into()],
    ))
    .await?;
    let since = Utc::now() - chrono::Duration::hours(24);
    let used: i64 = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT (SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND sent_at >= $2) \
             + (SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND status = 'SENDING') AS used",
            [channel.id.into(), since.into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "used"))
        .transpose()?
        .unwrap_or_default();
    let left = std::cmp::max(daily - used, 0) as u64;
    let claimed =
        claim(&txn, app.dispatch.lease(), key, if left == 0 { limit } else { std::cmp::min(limit, left) }).await?;
    txn.commit().await?;
    Ok((claimed, left == 0))
}

/// Marks up to `limit` due QUEUED messages of the lane SENDING, with a lease, oldest first.
async fn claim(
    db: &impl ConnectionTrait,
    lease: Duration,
    key: LaneKey,
    limit: u64,
) -> ServiceResult<Vec<message::Model>> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let mut due = Query::select();
    due.column(message::Column::Id)
        .from(message::Entity)
        .cond_where(lane_filter(key))
        .and_where(Expr::col(message::Column::Status).eq(DeliveryStatus::Queued))
        .and_where(Expr::col(message::Column::NextAttemptAt).lte(now))
        .order_by(message::Column::Id, Order::Asc)
        .limit(limit);
    let mut claimed = if db.get_database_backend() == DbBackend::Postgres {
        // `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may run the subquery
        // more than once and claim far more than `n` rows (it claimed a whole broadcast
        // here); the locked rows of a CTE are claimed exactly once.
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let (due_sql, mut values) = due.build(sea_orm::sea_query::PostgresQueryBuilder);
        let n = values.0.len();
        let sql = format!(
            "WITH due AS ({due_sql}) UPDATE messages AS m SET status = ${}, sending_at = ${}, \
             attempts = m.attempts + 1, next_attempt_at = ${}, updated_at = ${} \
             FROM due WHERE m.id = due.id RETURNING m.*",
            n + 1,
            n + 2,
            n + 3,
            n + 2
        );
        values.0.extend([DeliveryStatus::Sending.to_value().into(), now.into(), lease_until.into()]);
        message::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .all(db)
            .await?
    } else {
        message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::val(DeliveryStatus::Sending))
            .col_expr(message::Column::SendingAt, Expr::val(now))
            .col_expr(message::Column::Attempts, Expr::col(message::Column::Attempts).add(1))
            .col_expr(message::Column::NextAttemptAt, Expr::val(lease_until))
            .col_expr(message::Column::UpdatedAt, Expr::val(now))
            .filter(message::Column::Id.in_subquery(due))
            .filter(message::Column::Status.eq(DeliveryStatus::Queued))
            .exec_with_returning(db)
            .await?
    };
    claimed.sort_by_key(|m| m.id);
    Ok(claimed)
}

/// When the lane's next QUEUED message is due; `None` when it has none.
async fn next_due(app: &AppState, key: LaneKey) -> ServiceResult<Option<DateTime<Utc>>> {
    let next: Option<Option<DateTime<Utc>>> = message::Entity::find()
        .select_only()
        .expr(Expr::col(message::Column::NextAttemptAt).min())
        .filter(lane_filter(key))
        .filter(message::Column::Status.eq(DeliveryStatus::Queued))
        .into_tuple()
        .one(&app.db)
        .await?;
    Ok(next.flatten())
}

/// Hands claimed messages that were not sent back to the queue (shutdown).
async fn release(app: &AppState, messages: &[message::Model]) -> ServiceResult<()> {
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    for chunk in ids.chunks(500) {
        message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::val(DeliveryStatus::Queued))
            .col_expr(message::Column::Attempts, Expr::col(message::Column::Attempts).sub(1))
            .col_expr(message::Column::NextAttemptAt, Expr::val(Utc::now()))
            .filter(message::Column::Id.is_in(chunk.iter().copied()))
            .filter(message::Column::Status.eq(DeliveryStatus::Sending))
            .exec(&app.db)
            .await?;
    }
    Ok(())
}

/// SENDING messages whose lease ran out (their sender died) go back to QUEUED; the next attempt
/// carries the same idempotency key.
pub async fn recover_expired_leases(app: &AppState) -> ServiceResult<u64> {
    let now = Utc::now();
    let recovered = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::val(DeliveryStatus::Queued))
        .col_expr(message::Column::NextAttemptAt, Expr::val(now))
        .col_expr(message::Column::UpdatedAt, Expr::val(now))
        // A literal, not a parameter, so that both engines use the partial index on SENDING rows.
        .filter(Expr::cust("status = 'SENDING'"))
        .filter(message::Column::NextAttemptAt.lt(now))
        .exec(&app.db)
        .await?
        .rows_affected;
    if recovered > 0 {
        tracing::warn!(messages = recovered, "re-queued messages whose sender stopped mid-send");
        app.wake_dispatcher();
    }
    Ok(recovered)
}

/// RUNNING broadcasts with every message attempted become COMPLETED (a safety net: the
/// recorder completes them as their last outcome lands).
async fn complete_finished(app: &AppState) -> ServiceResult<()> {
    let now = Utc::now();
    let done = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::val(BroadcastStatus::Completed))
        .col_expr(broadcast::Column::CompletedAt, Expr::val(now))
        .col_expr(broadcast::Column::UpdatedAt, Expr::val(now))
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Running))
        .filter(Expr::col(broadcast::Column::CompletedRecipients).gte(Expr::col(broadcast::Column::TotalMessages)))
        .exec_with_returning(&app.db)
        .await?;
    for model in &done {
        announce(app, model, ChangeAction::Updated);
    }
    Ok(())
}

/// A broadcast's send-rate cap, if it has one.
async fn send_rate(app: &AppState, broadcast_id: i64) -> ServiceResult<Option<RateLimit>> {
    let rate: Option<(Option<i32>, Option<i32>)> = broadcast::Entity::find_by_id(broadcast_id)
        .select_only()
        .columns([broadcast::Column::SendRateCount, broadcast::Column::SendRatePeriodSecs])
        .into_tuple()
        .one(&app.db)
        .await?;
    Ok(match rate {
        Some((Some(count), Some(period))) if count > 0 && period > 0 => {
            Some(RateLimit { count: count as u32, period_secs: period as u32 })
        }
        _ => None,
    })
}

/// Fails the lane's queued messages (its channel is gone).
async fn fail_lane(app: &AppState, key: LaneKey, code: &str, text: &str) -> ServiceResult<()> {
    loop {
        let claimed = claim(&app.db, app.dispatch.lease(), key, MAX_BATCH).await?;
        if claimed.is_empty() {
            return Ok(());
        }
        let known: Vec<Tracked> = claimed.iter().map(Tracked::from).collect();
        let updates =
            claimed.iter().map(|m| (m.id, Update::Failed { code: code.to_owned(), text: text.to_owned() })).collect();
        delivery::record(app, known, updates).await?;
    }
}
