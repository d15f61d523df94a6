//! Live progress of broadcasts, for `broadcastProgress` subscribers.
//!
//! One `watch` channel per broadcast holds its latest snapshot: writers (the dispatcher's
//! recorder, webhooks, status changes) replace it, and every subscriber reads the newest value
//! when it is ready for one. That is the coalescing: a subscriber never queues old snapshots, so
//! 10,000 of them cost 10,000 small receivers, not 10,000 queues. The hub also keeps a few recent
//! (time, processed) samples per broadcast to report the current rate and an estimated end.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{BroadcastStatus, broadcast};
use futures_util::Stream;
use tokio::sync::watch;

use crate::cluster::{Note, Relay};

/// Fastest a subscriber is sent updates: at most ten a second.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Updates per second one broadcast's subscribers are sent in all. With more subscribers than
/// `UPDATE_BUDGET / 10`, each is sent updates less often (10,000 subscribers: one a second),
/// so a crowd of dashboards cannot starve the dispatcher; the final event is sent at once
/// whatever the interval.
pub const UPDATE_BUDGET: u64 = 10_000;

/// How far back the current rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// A broadcast's progress at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressSnapshot {
    pub broadcast_id: i64,
    pub workspace_id: i64,
    pub status: BroadcastStatus,
    pub failure_reason: Option<String>,
    /// Segment size when scheduled.
    pub target: Option<i64>,
    /// Messages the broadcast expanded to.
    pub total: i64,
    /// Messages attempted so far (sent or failed).
    pub processed: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub replied: i64,
    /// Messages per second over the last few seconds.
    pub current_rate: f64,
    pub estimated_completion_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ProgressSnapshot {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status, BroadcastStatus::Completed | BroadcastStatus::Failed)
    }

    fn from_model(model: &broadcast::Model) -> ProgressSnapshot {
        ProgressSnapshot {
            broadcast_id: model.id,
            workspace_id: model.workspace_id,
            status: model.status,
            failure_reason: model.failure_reason.clone(),
            target: model.target_recipients,
            total: model.total_messages,
            processed: model.completed_recipients,
            sent: model.sent_count,
            delivered: model.delivered_count,
            read: model.read_count,
            failed: model.failed_count,
            replied: model.replied_count,
            current_rate: 0.0,
            estimated_completion_at: None,
            updated_at: model.updated_at,
        }
    }

    /// Whether `self` is more recent than `other` (a later change, or as late with more
    /// counted). Strictly: replacing a value wakes every subscriber, so an equal snapshot (each
    /// new subscriber brings one from the database) must not.
    fn supersedes(&self, other: &ProgressSnapshot) -> bool {
        let weight = |s: &ProgressSnapshot| s.processed + s.sent + s.delivered + s.read + s.failed + s.replied;
        (self.updated_at, weight(self)) > (other.updated_at, weight(other))
    }
}

struct Entry {
    sender: watch::Sender<Arc<ProgressSnapshot>>,
    /// Set once the broadcast is COMPLETED or FAILED. Subscribers between updates wait on this
    /// rather than on `sender`: every recorder batch replaces the snapshot, and waking 10,000
    /// sleeping subscribers for each one only to put them back to sleep was most of the cost.
    finished: watch::Sender<bool>,
    samples: VecDeque<(Instant, i64)>,
    /// How many subscribers follow this broadcast now.
    audience: Arc<AtomicUsize>,
}

impl Entry {
    fn new(snapshot: ProgressSnapshot) -> Entry {
        let finished = watch::channel(snapshot.is_terminal()).0;
        Entry {
            sender: watch::channel(Arc::new(snapshot)).0,
            finished,
            samples: VecDeque::new(),
            audience: Arc::default(),
        }
    }
}

/// One subscriber: its receivers, and the broadcast's audience (counted while it lives).
pub struct Subscription {
    receiver: watch::Receiver<Arc<ProgressSnapshot>>,
    finished: watch::Receiver<bool>,
    audience: Arc<AtomicUsize>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.audience.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every broadcast's latest progress, in this process.
#[derive(Default)]
pub struct ProgressHub {
    entries: Mutex<HashMap<i64, Entry>>,
    relay: Relay,
}

impl ProgressHub {
    /// A hub that tells the other instances of every change (`cluster`).
    pub fn new(relay: Relay) -> ProgressHub {
        ProgressHub { entries: Mutex::default(), relay }
    }

    /// Records a broadcast as it now is (after a counter or status change), and tells the other
    /// instances.
    pub fn publish(&self, model: &broadcast::Model) {
        self.relay.send(Note::Progress(model.id));
        self.apply(model);
    }

    /// Of `ids`, the broadcasts someone here follows.
    pub fn followed(&self, ids: &[i64]) -> Vec<i64> {
        let entries = self.entries.lock().expect("progress hub lock");
        ids.iter().copied().filter(|id| entries.get(id).is_some_and(|e| e.sender.receiver_count() > 0)).collect()
    }

    /// Every broadcast someone here follows.
    pub fn followed_all(&self) -> Vec<i64> {
        let entries = self.entries.lock().expect("progress hub lock");
        entries.iter().filter(|(_, e)| e.sender.receiver_count() > 0).map(|(id, _)| *id).collect()
    }

    /// Records a broadcast as it now is, here only (a change another instance made).
    pub fn apply(&self, model: &broadcast::Model) {
        let mut snapshot = ProgressSnapshot::from_model(model);
        let mut entries = self.entries.lock().expect("progress hub lock");
        let terminal = snapshot.is_terminal();
        let entry = entries.entry(model.id).or_insert_with(|| Entry::new(snapshot.clone()));
        if !terminal {
            let now = Instant::now();
            entry.samples.push_back((now, snapshot.processed));
            while entry.samples.len() > 2 && now.duration_since(entry.samples[0].0) > RATE_WINDOW {
                entry.samples.pop_front();
            }
            if let (Some(first), Some(last)) = (entry.samples.front(), entry.samples.back()) {
                let seconds = last.0.duration_since(first.0).as_secs_f64();
                if seconds >= 0.2 {
                    snapshot.current_rate = ((last.1 - first.1).max(0) as f64 / seconds * 10.0).round() / 10.0;
                }
            }
            let remaining = (snapshot.total - snapshot.processed).max(0);
            if snapshot.status == BroadcastStatus::Running && snapshot.current_rate > 0.0 && remaining > 0 {
                let seconds = remaining as f64 / snapshot.current_rate;
                snapshot.estimated_completion_at =
                    Some(Utc::now() + chrono::Duration::milliseconds((seconds * 1000.0) as i64));
            }
        }
        let newer = snapshot.supersedes(&entry.sender.borrow());
        if newer {
            entry.sender.send_replace(Arc::new(snapshot));
            if terminal {
                entry.finished.send_replace(true);
            }
        }
        if terminal && entry.sender.receiver_count() == 0 {
            entries.remove(&model.id);
        }
    }

    /// A receiver of `model`'s progress, starting from the newer of what the hub has and
    /// `model` (as just read from the database).
    pub fn subscribe(&self, model: &broadcast::Model) -> Subscription {
        let snapshot = ProgressSnapshot::from_model(model);
        let mut entries = self.entries.lock().expect("progress hub lock");
        let entry = entries.entry(model.id).or_insert_with(|| Entry::new(snapshot.clone()));
        if snapshot.supersedes(&entry.sender.borrow()) {
            let terminal = snapshot.is_terminal();
            entry.sender.send_replace(Arc::new(snapshot));
            if terminal {
                entry.finished.send_replace(true);
            }
        }
        entry.audience.fetch_add(1, Ordering::Relaxed);
        Subscription {
            receiver: entry.sender.subscribe(),
            finished: entry.finished.subscribe(),
            audience: entry.audience.clone(),
        }
    }

    /// Drops the entries of finished broadcasts nobody follows any more.
    pub fn prune(&self) {
        let mut entries = self.entries.lock().expect("progress hub lock");
        entries.retain(|_, entry| entry.sender.receiver_count() > 0 || !entry.sender.borrow().is_terminal());
    }
}

impl Subscription {
    /// The receiver, for code that reads snapshots itself (benchmarks, tests).
    pub fn into_receiver(self) -> watch::Receiver<Arc<ProgressSnapshot>> {
        self.receiver.clone()
    }
}

/// How long a subscriber waits between updates when `audience` follow the same broadcast.
fn interval(audience: usize) -> Duration {
    MIN_INTERVAL.max(Duration::from_millis(audience as u64 * 1000 / UPDATE_BUDGET))
}

/// The snapshots a subscriber sees: the current one at once, then the newest at most every
/// [`MIN_INTERVAL`] (longer for large audiences, see [`UPDATE_BUDGET`]), and the terminal one as
/// soon as it exists, after which the stream ends.
///
/// Each subscriber sends on its own grid of ticks, one interval apart from a random first one,
/// and keeps that grid while it idles: a change that finds it idle (nothing new at its last
/// tick) goes out at its next tick, not at once. Otherwise every idle subscriber of a broadcast
/// would wake on the same change (a start, the first batch) and, sending together then, would
/// stay in step for the rest of the broadcast, each tick a burst of 10,000 writes.
pub fn stream(subscription: Subscription) -> impl Stream<Item = Arc<ProgressSnapshot>> {
    struct State {
        subscription: Subscription,
        sent: Option<Arc<ProgressSnapshot>>,
        /// This subscriber's next tick.
        due: tokio::time::Instant,
    }
    let state = State { subscription, sent: None, due: tokio::time::Instant::now() };
    futures_util::stream::unfold(state, |mut state| async move {
        let Subscription { receiver, finished, audience } = &mut state.subscription;
        let snapshot = match state.sent.take() {
            None => {
                let interval = interval(audience.load(Ordering::Relaxed));
                let phase = rand::random_range(0..interval.as_millis().max(1) as u64);
                state.due = tokio::time::Instant::now() + Duration::from_millis(phase);
                receiver.borrow_and_update().clone()
            }
            Some(sent) if sent.is_terminal() => return None,
            Some(sent) => loop {
                tokio::select! {
                    () = tokio::time::sleep_until(state.due) => {}
                    result = finished.wait_for(|done| *done) => {
                        result.ok()?;
                        break receiver.borrow_and_update().clone();
                    }
                }
                let interval = interval(audience.load(Ordering::Relaxed));
                state.due = next_tick(state.due, interval, tokio::time::Instant::now());
                let current = receiver.borrow_and_update().clone();
                if !Arc::ptr_eq(&current, &sent) {
                    break current;
                }
                // Nothing new since the last update: wait for a change, then for the next tick.
                tokio::select! {
                    result = receiver.changed() => { result.ok()?; }
                    result = finished.wait_for(|done| *done) => {
                        result.ok()?;
                        break receiver.borrow_and_update().clone();
                    }
                }
                state.due = next_tick(state.due, interval, tokio::time::Instant::now());
            },
        };
        state.sent = Some(snapshot.clone());
        Some((snapshot, state))
    })
}

/// The first tick of the grid `due + k·interval` (k ≥ 0) that is later than `now`.
fn next_tick(due: tokio::time::Instant, interval: Duration, now: tokio::time::Instant) -> tokio::time::Instant {
    if due > now {
        return due;
    }
    let step = interval.as_nanos().max(1);
    let behind = (now - due).as_nanos();
    due + Duration::from_nanos(((behind / step + 1) * step) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(processed: i64, status: BroadcastStatus, updated_at: DateTime<Utc>) -> broadcast::Model {
        broadcast::Model {
            id: 1,
            workspace_id: 1,
            name: "b".into(),
            label: None,
            channel_id: Some(1),
            use_last_interacted_channel: false,
            segment_id: Some(1),
            content: serde_json::json!({ "text": "x" }),
            send_rate_count: None,
            send_rate_period_secs: None,
            status,
            failure_reason: None,
            scheduled_at: None,
            started_at: None,
            completed_at: None,
            created_by_user_id: None,
            sent_by_user_id: None,
            resend_of_id: None,
            resend_filter: None,
            target_recipients: Some(10),
            completed_recipients: processed,
            excluded_recipients: 0,
            total_messages: 10,
            sent_count: processed,
            delivered_count: 0,
            read_count: 0,
            failed_count: 0,
            replied_count: 0,
            created_at: updated_at,
            updated_at,
        }
    }

    #[tokio::test]
    async fn a_new_subscriber_with_the_same_snapshot_wakes_nobody() {
        let hub = ProgressHub::default();
        let at = Utc::now();
        let mut first = hub.subscribe(&model(0, BroadcastStatus::Running, at)).into_receiver();
        first.borrow_and_update();
        let _second = hub.subscribe(&model(0, BroadcastStatus::Running, at));
        assert!(!first.has_changed().unwrap(), "an equal snapshot must not replace the current one");
        hub.publish(&model(3, BroadcastStatus::Running, at + chrono::Duration::milliseconds(5)));
        assert!(first.has_changed().unwrap());
        assert_eq!(first.borrow_and_update().processed, 3);
    }

    #[tokio::test]
    async fn the_stream_ends_after_the_terminal_snapshot_which_is_not_held_back() {
        use futures_util::StreamExt;
        let hub = ProgressHub::default();
        let at = Utc::now();
        let mut stream = Box::pin(stream(hub.subscribe(&model(0, BroadcastStatus::Running, at))));
        assert_eq!(stream.next().await.unwrap().processed, 0);
        hub.publish(&model(5, BroadcastStatus::Running, at + chrono::Duration::milliseconds(1)));
        // An update waits for the interval since the last one...
        assert_eq!(stream.next().await.unwrap().processed, 5);
        hub.publish(&model(10, BroadcastStatus::Completed, at + chrono::Duration::milliseconds(2)));
        // ...the final one does not.
        let started = tokio::time::Instant::now();
        let last = stream.next().await.unwrap();
        assert_eq!(last.status, BroadcastStatus::Completed);
        assert!(started.elapsed() < MIN_INTERVAL / 2, "the final event waited {:?}", started.elapsed());
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_subscribers_keep_their_own_phases_when_a_change_wakes_them() {
        use futures_util::StreamExt;
        let hub = ProgressHub::default();
        let at = Utc::now();
        // Each subscriber is polled all along, as a WebSocket connection polls its stream.
        let subscribers: Vec<_> = (0..50)
            .map(|_| {
                let mut stream = Box::pin(stream(hub.subscribe(&model(0, BroadcastStatus::Running, at))));
                tokio::spawn(async move {
                    assert_eq!(stream.next().await.unwrap().processed, 0);
                    assert_eq!(stream.next().await.unwrap().processed, 1);
                    tokio::time::Instant::now()
                })
            })
            .collect();
        // Every subscriber idles through several ticks, then one change arrives.
        tokio::time::sleep(MIN_INTERVAL * 5).await;
        hub.publish(&model(1, BroadcastStatus::Running, at + chrono::Duration::milliseconds(1)));
        let changed = tokio::time::Instant::now();
        let mut arrivals = Vec::new();
        for subscriber in subscribers {
            arrivals.push(subscriber.await.unwrap() - changed);
        }
        let first = arrivals.iter().min().unwrap();
        let last = arrivals.iter().max().unwrap();
        assert!(*last <= MIN_INTERVAL, "an update waited {last:?}, longer than one interval");
        assert!(*last - *first >= MIN_INTERVAL / 2, "the updates went out together: {first:?}..{last:?}");
    }
}
