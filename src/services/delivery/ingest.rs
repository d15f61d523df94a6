//! The return path: everything a provider's callback says, applied in batches.
//!
//! The webhook handler authenticates and parses a request (the channel adapters own the wire
//! formats) and hands its events to [`ingest`], which queues them for the ingestor, one task per
//! instance. The ingestor takes every request waiting and applies them together (group
//! commit): statuses in one transaction with one counter update per broadcast, inbound messages
//! and reachability in another. Each request is answered only once its own events are
//! committed, so a provider is never told "received" about something a crash could lose. When
//! a batch fails, its requests are retried one by one, so one bad request cannot fail the others
//! (that also settles a conflict with another instance's batch: the same new contact or
//! message in both).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use entity::{DeliveryStatus, MessageDirection, channel, message};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{mpsc, oneshot};

use super::inbound::{self, Received};
use super::{Tracked, Update, early, record};
use crate::app::{App, AppState};
use crate::channels::adapter::StatusReport;
use crate::channels::webhook::{Watermark, WebhookEvents};
use crate::error::{ServiceError, ServiceResult};

/// Requests waiting beyond this many make callers wait to queue (back-pressure).
const QUEUE: usize = 4096;
/// Most requests taken from the queue at once.
const MAX_JOBS: usize = 512;
/// Most events applied in one batch (one request may carry up to 10,000 on its own).
const MAX_EVENTS: usize = 2_000;
/// How often held early statuses are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// What one callback request changed, for the provider's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Statuses and watermarks it carried.
    pub statuses: usize,
    /// Statuses naming no message Pregón knows (acknowledged and logged).
    pub unknown: usize,
    /// Of those, statuses held because they name a provider id no message carries yet: applied
    /// when the provider's answer to the send records it.
    pub held: usize,
    /// Inbound messages stored.
    pub messages: usize,
    /// Inbound messages already stored by an earlier delivery of the same callback.
    pub duplicates: usize,
}

/// The queue to the ingestor task, started on first use.
#[derive(Default)]
pub struct Ingestor {
    queue: OnceLock<mpsc::Sender<Job>>,
}

struct Job {
    channel: channel::Model,
    events: WebhookEvents,
    done: oneshot::Sender<ServiceResult<IngestSummary>>,
}

/// Applies what one callback request says about `channel`; answers once it is committed.
pub async fn ingest(app: &AppState, channel: channel::Model, events: WebhookEvents) -> ServiceResult<IngestSummary> {
    let queue = app.ingestor.queue.get_or_init(|| {
        let (sender, receiver) = mpsc::channel(QUEUE);
        // The task holds the app weakly: it ends when the app is dropped (tests start many).
        tokio::spawn(run(Arc::downgrade(&app.0), receiver));
        sender
    });
    let (done, answer) = oneshot::channel();
    let stopped = || ServiceError::internal(anyhow::anyhow!("the ingestor has stopped"));
    queue.send(Job { channel, events, done }).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

async fn run(app: Weak<App>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_JOBS);
    let mut swept = Instant::now();
    // One batch at a time: SQLite has one writer, and on PostgreSQL every status batch of a
    // broadcast updates its counter row, so batches side by side queue on that row's lock
    // (measured: four at once were slower for statuses; BENCHMARKS.md).
    while queue.recv_many(&mut jobs, MAX_JOBS).await > 0 {
        let Some(app) = app.upgrade() else { break };
        for batch in batches(std::mem::take(&mut jobs)) {
            apply_jobs(&app, batch).await;
        }
        if swept.elapsed() >= SWEEP_EVERY {
            swept = Instant::now();
            match early::sweep(&app).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed early statuses no message claimed within a day"),
                Err(err) => tracing::warn!(error = ?err, "sweeping early statuses failed"),
            }
        }
    }
}

/// Splits the waiting requests into batches of at most [`MAX_EVENTS`] events (a request with
/// more is a batch of its own), so that one transaction stays small.
fn batches(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut batches: Vec<Vec<Job>> = Vec::new();
    let mut events = 0;
    for job in jobs {
        let size = job.events.len();
        match batches.last_mut() {
            Some(batch) if events + size <= MAX_EVENTS => batch.push(job),
            _ => {
                batches.push(vec![job]);
                events = 0;
            }
        }
        events += size;
    }
    batches
}

/// Applies one batch and answers each of its requests.
async fn apply_jobs(app: &App, batch: Vec<Job>) {
    metrics::histogram!("pregon_callback_batch_requests").record(batch.len() as f64);
    let inputs: Vec<(&channel::Model, &WebhookEvents)> = batch.iter().map(|j| (&j.channel, &j.events)).collect();
    match apply_batch(app, &inputs).await {
        Ok(summaries) => {
            for (job, summary) in batch.into_iter().zip(summaries) {
                let _ = job.done.send(Ok(summary));
            }
        }
        Err(err) if batch.len() > 1 => {
            tracing::warn!(error = ?err, requests = batch.len(), "a callback batch failed; applying its requests one by one");
            for job in batch {
                let result = apply_batch(app, &[(&job.channel, &job.events)]).await.map(|mut s| s.remove(0));
                let _ = job.done.send(result);
            }
        }
        Err(err) => {
            let _ = batch.into_iter().next().map(|job| job.done.send(Err(err)));
        }
    }
}

/// Applies the events of several requests; a summary per request, in order.
async fn apply_batch(app: &App, requests: &[(&channel::Model, &WebhookEvents)]) -> ServiceResult<Vec<IngestSummary>> {
    let mut summaries = vec![IngestSummary::default(); requests.len()];
    let reports: Vec<(usize, StatusReport)> = requests
        .iter()
        .enumerate()
        .flat_map(|(index, (_, events))| events.statuses.iter().map(move |report| (index, report.clone())))
        .collect();
    for (index, unmatched) in resolve_and_record(app, reports).await? {
        summaries[index].unknown += 1;
        summaries[index].held += usize::from(unmatched);
    }
    for (index, (channel, events)) in requests.iter().enumerate() {
        summaries[index].statuses = events.statuses.len() + events.watermarks.len();
        if !events.watermarks.is_empty() {
            summaries[index].unknown += apply_watermarks(app, channel, &events.watermarks).await?;
        }
    }
    let mut batch = inbound::Batch::default();
    let mut owners = Vec::new();
    for (index, (channel, events)) in requests.iter().enumerate() {
        batch.unreachable.extend(events.unreachable.iter().map(|address| (*channel, address.as_str())));
        batch.reachable.extend(events.reachable.iter().map(|address| (*channel, address.as_str())));
        for message in &events.inbound {
            batch.messages.push((*channel, message));
            owners.push(index);
        }
    }
    let received = inbound::record_batch(app, &batch).await?;
    for (index, outcome) in owners.into_iter().zip(received) {
        match outcome {
            Received::Stored { .. } => summaries[index].messages += 1,
            Received::Duplicate => summaries[index].duplicates += 1,
            Received::Invalid => {}
        }
    }
    metrics::counter!("pregon_callback_statuses_total").increment(summaries.iter().map(|s| s.statuses as u64).sum());
    metrics::counter!("pregon_inbound_messages_total").increment(summaries.iter().map(|s| s.messages as u64).sum());
    Ok(summaries)
}

/// Applies statuses a provider reported outside a webhook (the sandbox's simulation).
pub async fn apply_reports(app: &App, reports: Vec<StatusReport>) -> ServiceResult<()> {
    resolve_and_record(app, reports.into_iter().map(|report| (0, report)).collect()).await?;
    Ok(())
}

/// Finds the outgoing message each status names (by our id, or by the provider's id on its
/// channel), applies them all, and holds those whose provider id no message carries yet.
/// Answers the statuses that matched nothing: (their tag, whether held).
async fn resolve_and_record(app: &App, reports: Vec<(usize, StatusReport)>) -> ServiceResult<Vec<(usize, bool)>> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let ours: HashSet<i64> = reports.iter().filter_map(|(_, r)| r.message_id).collect();
    let mut theirs: HashMap<i64, HashSet<String>> = HashMap::new();
    for (_, report) in reports.iter().filter(|(_, r)| r.message_id.is_none()) {
        if let Some(id) = &report.provider_message_id {
            theirs.entry(report.channel_id).or_default().insert(id.clone());
        }
    }
    let mut rows: HashMap<i64, message::Model> = HashMap::new();
    let outgoing = || message::Entity::find().filter(message::Column::Direction.eq(MessageDirection::Outgoing));
    let ours: Vec<i64> = ours.into_iter().collect();
    for chunk in ours.chunks(500) {
        for row in outgoing().filter(message::Column::Id.is_in(chunk.iter().copied())).all(&app.db).await? {
            rows.insert(row.id, row);
        }
    }
    let mut by_provider_id: HashMap<(i64, String), i64> = HashMap::new();
    for (channel_id, ids) in theirs {
        let ids: Vec<String> = ids.into_iter().collect();
        for chunk in ids.chunks(500) {
            let found = outgoing()
                .filter(message::Column::ChannelId.eq(channel_id))
                .filter(message::Column::ProviderMessageId.is_in(chunk.iter().cloned()))
                .all(&app.db)
                .await?;
            for row in found {
                if let Some(pid) = &row.provider_message_id {
                    by_provider_id.insert((channel_id, pid.clone()), row.id);
                }
                rows.insert(row.id, row);
            }
        }
    }
    let mut updates = Vec::with_capacity(reports.len());
    let mut unmatched = Vec::new();
    let mut to_hold = Vec::new();
    for (tag, report) in reports {
        let found = match (report.message_id, &report.provider_message_id) {
            (Some(id), _) => rows.get(&id).filter(|row| row.channel_id == Some(report.channel_id)).map(|row| row.id),
            (None, Some(pid)) => by_provider_id.get(&(report.channel_id, pid.clone())).copied(),
            (None, None) => None,
        };
        let attempts = found.and_then(|id| rows.get(&id)).map_or(0, |row| row.attempts);
        let Some(update) = update_of(app, &report, attempts) else { continue };
        match found {
            Some(id) => updates.push((id, update)),
            None if report.message_id.is_none() && report.provider_message_id.is_some() => {
                unmatched.push((tag, true));
                to_hold.push(report);
            }
            None => unmatched.push((tag, false)),
        }
    }
    if unmatched.iter().any(|(_, held)| !held) {
        tracing::warn!(
            unknown = unmatched.iter().filter(|(_, held)| !held).count(),
            "status reports for messages Pregón does not know; acknowledged and ignored"
        );
    }
    let known: Vec<Tracked> = rows.values().map(Tracked::from).collect();
    record(app, known, updates).await?;
    let found_meanwhile = early::hold(app, to_hold).await?;
    record(app, Vec::new(), found_meanwhile).await?;
    Ok(unmatched)
}

/// The code and text of a failure the provider gave no reason for.
pub(super) const PROVIDER_FAILED: (&str, &str) = ("PROVIDER_FAILED", "The provider reported the message failed.");

/// The update a status report makes, a failure being final.
pub(super) fn reported_update(report: &StatusReport) -> Option<Update> {
    Some(match report.status {
        DeliveryStatus::Sent => {
            Update::Accepted { provider_message_id: report.provider_message_id.clone(), at: report.at }
        }
        DeliveryStatus::Delivered => Update::Delivered,
        DeliveryStatus::Read => Update::Read,
        DeliveryStatus::Failed => {
            let (code, text) =
                report.error.clone().unwrap_or_else(|| (PROVIDER_FAILED.0.into(), PROVIDER_FAILED.1.into()));
            Update::Failed { code, text }
        }
        DeliveryStatus::Queued | DeliveryStatus::Sending => return None,
    })
}

/// The update a status report makes to a message that has had `attempts` attempts. A
/// temporary failure is sent again with the dispatcher's backoff, up to its attempt limit.
fn update_of(app: &App, report: &StatusReport, attempts: i32) -> Option<Update> {
    match reported_update(report)? {
        Update::Failed { code, text } if report.retryable => {
            let attempts = u32::try_from(attempts).unwrap_or(0);
            Some(if attempts >= app.dispatch.max_attempts {
                Update::Failed { code, text: format!("{text} (gave up after {attempts} attempts)") }
            } else {
                let wait = app.dispatch.backoff(attempts.max(1));
                let at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                Update::Requeue { at, code, text }
            })
        }
        update => Some(update),
    }
}

/// Applies watermarks ("everything sent to this address up to then was delivered/read"): each
/// outgoing message to the address on the channel, sent by then and not yet that far along,
/// moves forward. Answers how many watermarks matched no message.
async fn apply_watermarks(app: &App, channel: &channel::Model, watermarks: &[Watermark]) -> ServiceResult<usize> {
    let mut unmatched = 0;
    let mut updates = Vec::new();
    for watermark in watermarks {
        let (update, behind) = match watermark.status {
            DeliveryStatus::Delivered => (Update::Delivered, vec![DeliveryStatus::Sent]),
            DeliveryStatus::Read => (Update::Read, vec![DeliveryStatus::Sent, DeliveryStatus::Delivered]),
            _ => continue,
        };
        let ids: Vec<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::ChannelId.eq(channel.id))
            .filter(message::Column::Direction.eq(MessageDirection::Outgoing))
            .filter(message::Column::Address.eq(watermark.address.as_str()))
            .filter(message::Column::Status.is_in(behind))
            .filter(message::Column::SentAt.lte(watermark.until))
            .into_tuple()
            .all(&app.db)
            .await?;
        if ids.is_empty() {
            unmatched += 1;
        }
        updates.extend(ids.into_iter().map(|id| (id, update.clone())));
    }
    record(app, Vec::new(), updates).await?;
    Ok(unmatched)
}
