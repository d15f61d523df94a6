//! Pacing: when a lane's next message may go, under its channel's rate and its broadcast's
//! send rate.
//!
//! - **One instance (SQLite).** The in-process governor limiters of [`super::limiter`].
//! - **Several instances (PostgreSQL).** A rate holds for all instances together. Each rate has
//!   a row in `rate_limits` holding its theoretical arrival time (GCRA); a lane reserves a run of
//!   send slots with one upsert that moves it forward by the run's length, so no two instances
//!   (nor two lanes) ever hold the same slot. Slots are spaced for `count` per
//!   `period + 2·TOLERANCE` ([`TOLERANCE`] is 10 ms here, twice the in-process limiter's: a slot's
//!   place is known only to within the reservation's round trip); a message goes at its slot
//!   and never before, and a slot missed by more than `TOLERANCE` is given up rather than used
//!   late. Any `count + 1` consecutive sends, whichever instances made them, then span more than
//!   `period` unless the timing errors add up to more than `TOLERANCE`: no window of `period`
//!   holds more than `count`, and 98% of a rate per second is used. Slot times come from
//!   PostgreSQL's clock and are turned into local instants with the offset seen at reservation
//!   (the server's clock read at the middle of the round trip), so the instances' clocks need
//!   not agree.
//!
//! A lane reserves at most [`RUN_AHEAD`] worth of slots at once: an instance that stops or dies
//! wastes at most that much of a channel's time, and a lane makes a handful of reservations a
//! second. With a broadcast send rate slower than its channel's, the lane reserves one slot at
//! a time from both rows in one statement (the later of their next times, both moved forward
//! from it), so other lanes on the channel keep the time the slower broadcast leaves unused.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::time::Instant;

use super::limiter::Limiter;
use crate::channels::RateLimit;
use crate::error::{ServiceError, ServiceResult};

/// How far a slot may be from where it was meant to be (see the module's comment).
pub const TOLERANCE: Duration = Duration::from_millis(10);

/// The longest run of slots a lane reserves at once.
pub const RUN_AHEAD: Duration = Duration::from_millis(200);

/// Reserved rows older than this are the same as no row.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// How a lane waits for its next send.
pub enum Pacer {
    /// In-process limiters (one instance).
    Local { channel: Arc<Limiter>, broadcast: Option<Arc<Limiter>> },
    /// Slots reserved in `rate_limits` (several instances on PostgreSQL).
    Shared(SharedPacer),
}

impl Pacer {
    /// Waits until one more message may go. `remaining` is how many more the lane has ready to
    /// send now; it sizes reservations.
    pub async fn ready(&mut self, remaining: usize) -> ServiceResult<()> {
        match self {
            Pacer::Local { channel, broadcast } => {
                if let Some(limiter) = broadcast {
                    limiter.until_ready().await;
                }
                channel.until_ready().await;
                Ok(())
            }
            Pacer::Shared(shared) => shared.ready(remaining).await,
        }
    }

    /// The most messages a lane should claim at once, when the pacer has a say: with shared
    /// slots, one run of the lane's rate. A claimed message then waits for its slot a fraction
    /// of a second (its lease is far longer), however many instances share the rate.
    pub fn batch_limit(&self) -> Option<usize> {
        match self {
            Pacer::Local { .. } => None,
            Pacer::Shared(shared) => Some(shared.broadcast.as_ref().unwrap_or(&shared.channel).run()),
        }
    }
}

/// One rate in `rate_limits`.
#[derive(Debug, Clone, PartialEq)]
struct SharedRate {
    key: String,
    spacing: Duration,
}

impl SharedRate {
    fn new(key: String, rate: RateLimit) -> SharedRate {
        let period = Duration::from_secs(u64::from(rate.period_secs.max(1)));
        SharedRate { key, spacing: (period + 2 * TOLERANCE) / rate.count.max(1) }
    }

    /// The most slots worth reserving at once.
    fn run(&self) -> usize {
        (RUN_AHEAD.as_secs_f64() / self.spacing.as_secs_f64()).ceil().max(1.0) as usize
    }
}

/// A lane's pacing through `rate_limits`.
pub struct SharedPacer {
    db: DatabaseConnection,
    channel: SharedRate,
    /// The broadcast's send rate, when it is slower than the channel's.
    broadcast: Option<SharedRate>,
    /// Reserved slots of the slower rate (the broadcast's if any, else the channel's).
    slots: VecDeque<Instant>,
}

impl SharedPacer {
    pub fn new(db: DatabaseConnection, channel_id: i64, channel_rate: RateLimit) -> SharedPacer {
        SharedPacer {
            db,
            channel: SharedRate::new(format!("channel:{channel_id}"), channel_rate),
            broadcast: None,
            slots: VecDeque::new(),
        }
    }

    /// Applies the rates as they are now (a channel's rate can be changed while it sends);
    /// slots reserved under other rates are given up.
    pub fn set_rates(&mut self, channel_id: i64, channel_rate: RateLimit, broadcast: Option<(i64, RateLimit)>) {
        let channel = SharedRate::new(format!("channel:{channel_id}"), channel_rate);
        let broadcast = broadcast
            .map(|(id, rate)| SharedRate::new(format!("broadcast:{id}"), rate))
            .filter(|rate| rate.spacing > channel.spacing);
        if channel != self.channel || broadcast != self.broadcast {
            self.slots.clear();
        }
        self.channel = channel;
        self.broadcast = broadcast;
    }

    async fn ready(&mut self, remaining: usize) -> ServiceResult<()> {
        match &self.broadcast {
            // One slot of both rates at once, a message at a time: a run of the channel's slots
            // spaced for the slower broadcast would keep the channel's time from other lanes.
            Some(broadcast) => loop {
                let slot = reserve_both(&self.db, broadcast, &self.channel).await?;
                if sleep_until_slot(&broadcast.key, slot).await {
                    return Ok(());
                }
            },
            None => next_slot(&self.db, &self.channel, &mut self.slots, remaining).await,
        }
    }
}

/// Sleeps until `slot`; `false` when woken more than [`TOLERANCE`] after it (the slot is then
/// given up: used late, it could crowd the next one, which may be another instance's).
async fn sleep_until_slot(key: &str, slot: Instant) -> bool {
    tokio::time::sleep_until(slot).await;
    let late = Instant::now().saturating_duration_since(slot);
    if late > TOLERANCE {
        tracing::debug!(key, late_ms = late.as_millis() as u64, "gave up a missed send slot");
        return false;
    }
    true
}

/// Takes the next usable slot of `rate` from `slots` (reserving a run when none is left) and
/// sleeps until it.
async fn next_slot(
    db: &DatabaseConnection,
    rate: &SharedRate,
    slots: &mut VecDeque<Instant>,
    remaining: usize,
) -> ServiceResult<()> {
    loop {
        if slots.is_empty() {
            let run = remaining.clamp(1, rate.run());
            slots.extend(reserve(db, &rate.key, rate.spacing, run).await?);
        }
        let slot = slots.pop_front().expect("reserved above");
        if sleep_until_slot(&rate.key, slot).await {
            return Ok(());
        }
    }
}

/// Reserves one slot that both rates allow (the later of their next times), moving both
/// forward from it; its local instant.
async fn reserve_both(db: &DatabaseConnection, first: &SharedRate, second: &SharedRate) -> ServiceResult<Instant> {
    // Rows pruned (or never made) are made first; the update then locks both, in key order.
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO rate_limits (key, tat) VALUES ($1, clock_timestamp()), ($2, clock_timestamp()) \
         ON CONFLICT (key) DO NOTHING",
        [first.key.as_str().into(), second.key.as_str().into()],
    ))
    .await?;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH locked AS (SELECT key, tat FROM rate_limits WHERE key IN ($1, $2) ORDER BY key FOR UPDATE), \
         start AS (SELECT GREATEST(clock_timestamp(), MAX(tat)) AS at FROM locked) \
         UPDATE rate_limits AS r \
         SET tat = start.at + make_interval(secs => CASE WHEN r.key = $1 THEN $3 ELSE $4 END) \
         FROM start WHERE r.key IN ($1, $2) \
         RETURNING start.at AS tat, clock_timestamp() AS now",
        [
            first.key.as_str().into(),
            second.key.as_str().into(),
            first.spacing.as_secs_f64().into(),
            second.spacing.as_secs_f64().into(),
        ],
    );
    let asked = Instant::now();
    let row = db.query_one_raw(statement).await?.ok_or_else(|| {
        ServiceError::Internal(anyhow::anyhow!("reserving a slot of {} and {} returned no row", first.key, second.key))
    })?;
    let read_at = asked + (Instant::now() - asked) / 2;
    let at: DateTime<Utc> = row.try_get("", "tat")?;
    let now: DateTime<Utc> = row.try_get("", "now")?;
    Ok(read_at + (at - now).to_std().unwrap_or_default())
}

/// Reserves `count` consecutive slots `spacing` apart of `key`; their local instants.
pub async fn reserve(
    db: &DatabaseConnection,
    key: &str,
    spacing: Duration,
    count: usize,
) -> ServiceResult<Vec<Instant>> {
    let span = spacing * count as u32;
    // The conflict branch's expressions are evaluated once the row is locked, so
    // `clock_timestamp()` there is the time the reservation is really made.
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO rate_limits (key, tat) VALUES ($1, clock_timestamp() + make_interval(secs => $2)) \
         ON CONFLICT (key) DO UPDATE \
         SET tat = GREATEST(rate_limits.tat, clock_timestamp()) + make_interval(secs => $2) \
         RETURNING tat, clock_timestamp() AS now",
        [key.into(), span.as_secs_f64().into()],
    );
    let asked = Instant::now();
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("reserving rate slots returned no row for {key}")))?;
    // The server's clock was read between asking and hearing back: take the middle.
    let read_at = asked + (Instant::now() - asked) / 2;
    let tat: DateTime<Utc> = row.try_get("", "tat")?;
    let now: DateTime<Utc> = row.try_get("", "now")?;
    let start = tat - chrono::Duration::from_std(span).unwrap_or_default();
    let ahead = (start - now).to_std().unwrap_or_default();
    tracing::debug!(
        key,
        count,
        ahead_ms = ahead.as_millis() as u64,
        round_trip_ms = (Instant::now() - asked).as_millis() as u64,
        "reserved send slots"
    );
    Ok((0..count).map(|j| read_at + ahead + spacing * j as u32).collect())
}

/// Deletes rows whose time passed long ago (they mean the same as no row).
pub async fn prune(db: &DatabaseConnection) -> ServiceResult<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM rate_limits WHERE tat < clock_timestamp() - make_interval(secs => $1)",
        [STALE_AFTER.as_secs_f64().into()],
    );
    db.execute_raw(statement).await?;
    Ok(())
}
