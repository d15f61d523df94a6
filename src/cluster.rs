//! Several instances on one PostgreSQL: what each tells the others, through `LISTEN/NOTIFY`.
//!
//! Whatever a subscription shows is published on the instance's own event bus and progress hub
//! (`events`, `progress`), which hand it to the [`Relay`] as well. The relay's sender sends it to
//! the other instances on the channel `pregon_<schema>` (instances of different deployments in
//! other schemas of the same database do not hear each other):
//! - **coalesced**: notes gathered over [`FLUSH_EVERY`] go out together, a few NOTIFYs of at most
//!   [`MAX_PAYLOAD`] bytes, and a broadcast's progress is one id however often it changed;
//! - **outside write transactions**: NOTIFY inside the dispatcher's write transactions cut their
//!   throughput 3–6× (DESIGN.md), so notes are sent after the commit, on a pool connection of
//!   their own.
//!
//! The listener holds one connection with `LISTEN`. A progress note makes it read the
//! broadcast's row again, and only when a subscriber of this instance follows that broadcast;
//! events are passed to the local bus as they are (they carry ids: subscribers load what they
//! show through their own scope); a wake-up wakes the local dispatcher (a send made through
//! another instance starts without waiting for the next poll). Notes from the instance itself are ignored. When the listening
//! connection is lost (PostgreSQL restarted), notes sent in the meantime are lost with it: on
//! reconnection every followed broadcast is read again, so progress catches up and no stream
//! misses its end; the individual events of the gap are not replayed.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use entity::broadcast;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::events::{Event, MessageStatusEvent};

/// How long notes are gathered before they are sent.
pub const FLUSH_EVERY: Duration = Duration::from_millis(25);

/// Largest NOTIFY payload sent (PostgreSQL's limit is 8,000 bytes).
pub const MAX_PAYLOAD: usize = 7_900;

/// Something the other instances should know.
#[derive(Debug, Clone)]
pub enum Note {
    Event(Event),
    Message(MessageStatusEvent),
    /// A broadcast's progress changed.
    Progress(i64),
    /// There is work for the dispatchers now (a send, a schedule change).
    Wake,
}

/// Where the bus and the hub hand their notes; inert until [`Cluster::start`] (and on SQLite).
#[derive(Clone, Default)]
pub struct Relay(Arc<OnceLock<mpsc::UnboundedSender<Note>>>);

impl Relay {
    pub fn send(&self, note: Note) {
        if let Some(sender) = self.0.get() {
            let _ = sender.send(note);
        }
    }
}

/// One NOTIFY payload.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    /// The sending instance.
    from: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    messages: Vec<MessageStatusEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    progress: Vec<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    wake: bool,
}

/// The relay's sender and listener, while the server runs.
pub struct Cluster {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Cluster {
    /// Starts relaying on PostgreSQL; `None` on SQLite (one instance, nothing to tell). A
    /// database that cannot be reached yet does not stop the server: the relay keeps trying.
    pub fn start(app: &AppState) -> Option<Cluster> {
        if app.db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let (sender, inbox) = mpsc::unbounded_channel();
        if app.events.relay().0.set(sender).is_err() {
            tracing::error!("the cluster relay was started twice on one application state; not relaying");
            return None;
        }
        let instance: u64 = rand::random();
        let (stop, stopped) = watch::channel(false);
        let app = app.clone();
        let task = tokio::spawn(async move {
            let Some(channel) = channel_name(&app, stopped.clone()).await else {
                return;
            };
            tracing::info!(instance, %channel, "relaying events to other instances through LISTEN/NOTIFY");
            tokio::join!(
                send_notes(app.clone(), channel.clone(), instance, inbox, stopped.clone()),
                listen(app, channel, instance, stopped),
            );
        });
        Some(Cluster { stop, task })
    }

    /// Sends the notes still queued and stops listening.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The NOTIFY channel of this deployment: `pregon_` and the schema it works in. `None` when
/// stopped before the database answered.
async fn channel_name(app: &AppState, mut stop: watch::Receiver<bool>) -> Option<String> {
    loop {
        let statement = Statement::from_string(DbBackend::Postgres, "SELECT current_schema() AS name");
        match app.db.query_one_raw(statement).await {
            Ok(row) => {
                let schema = row.and_then(|row| row.try_get::<Option<String>>("", "name").ok().flatten());
                return Some(format!("pregon_{}", schema.unwrap_or_else(|| "public".to_owned())));
            }
            Err(err) => tracing::warn!(error = %err, "cannot reach the database to start relaying; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|stop| *stop) => return None,
        }
    }
}

/// Gathers notes for [`FLUSH_EVERY`] and sends them; on stop, sends what is queued and ends.
async fn send_notes(
    app: AppState,
    channel: String,
    instance: u64,
    mut inbox: mpsc::UnboundedReceiver<Note>,
    mut stop: watch::Receiver<bool>,
) {
    let mut notes = Vec::new();
    loop {
        let stopping = tokio::select! {
            received = inbox.recv_many(&mut notes, 10_000) => received == 0,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        if !stopping {
            tokio::time::sleep(FLUSH_EVERY).await;
        }
        while let Ok(note) = inbox.try_recv() {
            notes.push(note);
        }
        for payload in payloads(instance, std::mem::take(&mut notes)) {
            let statement = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [channel.as_str().into(), payload.into()],
            );
            if let Err(err) = app.db.execute_raw(statement).await {
                tracing::warn!(error = %err, "could not tell the other instances of a change");
            }
        }
        if stopping {
            return;
        }
    }
}

/// The notes as JSON payloads of at most [`MAX_PAYLOAD`] bytes, progress ids de-duplicated.
fn payloads(instance: u64, notes: Vec<Note>) -> Vec<String> {
    let mut progress = BTreeSet::new();
    let mut wake = false;
    let mut items: Vec<(&'static str, String)> = Vec::new();
    for note in notes {
        match note {
            Note::Wake => wake = true,
            Note::Progress(id) => {
                progress.insert(id);
            }
            Note::Event(event) => items.push(("events", serde_json::to_string(&event).unwrap_or_default())),
            Note::Message(event) => items.push(("messages", serde_json::to_string(&event).unwrap_or_default())),
        }
    }
    items.extend(progress.into_iter().map(|id| ("progress", id.to_string())));
    if wake {
        items.push(("wake", "true".to_owned()));
    }
    let mut out = Vec::new();
    let mut current: Vec<(&'static str, String)> = Vec::new();
    let mut size = 0;
    for item in items {
        // An item's own length, a comma, and room for the field names and braces.
        if !current.is_empty() && size + item.1.len() + 1 > MAX_PAYLOAD - 64 {
            out.push(assemble(instance, std::mem::take(&mut current)));
            size = 0;
        }
        size += item.1.len() + 1;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(assemble(instance, current));
    }
    out
}

fn assemble(instance: u64, items: Vec<(&'static str, String)>) -> String {
    let mut json = format!("{{\"from\":{instance}");
    if items.iter().any(|(field, _)| *field == "wake") {
        json.push_str(",\"wake\":true");
    }
    for field in ["events", "messages", "progress"] {
        let values: Vec<&str> = items.iter().filter(|(f, _)| *f == field).map(|(_, v)| v.as_str()).collect();
        if !values.is_empty() {
            json.push_str(&format!(",\"{field}\":[{}]", values.join(",")));
        }
    }
    json.push('}');
    json
}

/// Listens for the other instances' notes until stopped, reconnecting when the connection is
/// lost.
async fn listen(app: AppState, channel: String, instance: u64, mut stop: watch::Receiver<bool>) {
    let pool = app.db.get_postgres_connection_pool().clone();
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            connected = connected => connected,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        match listener {
            Ok(mut listener) => {
                // Whatever happened while not listening.
                catch_up(&app).await;
                loop {
                    let received = tokio::select! {
                        received = listener.try_recv() => received,
                        _ = stop.wait_for(|stop| *stop) => return,
                    };
                    match received {
                        Ok(Some(notification)) => receive(&app, instance, notification.payload()).await,
                        // The connection was lost and made again (LISTEN included).
                        Ok(None) => {
                            tracing::warn!("the listening connection was lost and reopened; catching up");
                            catch_up(&app).await;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "listening for other instances failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not listen for other instances; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Applies one payload from another instance.
async fn receive(app: &AppState, instance: u64, payload: &str) {
    let payload: Payload = match serde_json::from_str(payload) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::warn!(error = %err, "ignoring a malformed note from another instance");
            return;
        }
    };
    if payload.from == instance {
        return;
    }
    if payload.wake {
        app.dispatcher_wake.notify_one();
    }
    for event in payload.events {
        app.events.publish_local(event);
    }
    for event in payload.messages {
        app.events.publish_message_local(event);
    }
    refresh(app, app.progress.followed(&payload.progress)).await;
}

/// Reads every followed broadcast again.
async fn catch_up(app: &AppState) {
    refresh(app, app.progress.followed_all()).await;
}

/// Reads these broadcasts' rows and updates their progress here.
async fn refresh(app: &AppState, ids: Vec<i64>) {
    if ids.is_empty() {
        return;
    }
    match broadcast::Entity::find().filter(broadcast::Column::Id.is_in(ids)).all(&app.db).await {
        Ok(models) => {
            for model in &models {
                app.progress.apply(model);
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not read broadcasts another instance changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_note() {
        let notes: Vec<Note> = (0..2_000)
            .map(|i| {
                if i % 3 == 0 {
                    Note::Progress(i % 7)
                } else {
                    Note::Message(MessageStatusEvent {
                        workspace_id: 1,
                        message_id: i,
                        broadcast_id: Some(3),
                        contact_id: Some(i),
                        status: entity::DeliveryStatus::Sent,
                        error_code: None,
                        at: chrono::Utc::now(),
                    })
                }
            })
            .collect();
        let out = payloads(42, notes);
        assert!(out.len() > 1);
        let mut messages = 0;
        let mut progress = BTreeSet::new();
        for payload in &out {
            assert!(payload.len() <= MAX_PAYLOAD, "a payload of {} bytes", payload.len());
            let parsed: Payload = serde_json::from_str(payload).unwrap();
            assert_eq!(parsed.from, 42);
            messages += parsed.messages.len();
            progress.extend(parsed.progress);
        }
        assert_eq!(messages, 2_000 - 667);
        assert_eq!(progress, (0..7).collect());
    }
}
