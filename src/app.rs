//! The application state every handler, resolver and service reaches.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::config::{DispatcherConfig, ServerConfig};
use crate::events::EventBus;
use crate::progress::ProgressHub;

/// Everything a request may need, built once at start-up.
pub struct App {
    /// The database pool (SQLite or PostgreSQL); sea-orm connections are cheap handles.
    pub db: DatabaseConnection,
    /// In-process bus of domain events; GraphQL subscriptions listen to it.
    pub events: EventBus,
    /// Every broadcast's latest progress, for `broadcastProgress` subscribers.
    pub progress: ProgressHub,
    /// The settings the server was started with.
    pub config: ServerConfig,
    /// The dispatcher's settings.
    pub dispatch: DispatcherConfig,
    /// Wakes the dispatcher before its next poll (a send, a schedule change).
    pub dispatcher_wake: Notify,
    /// The URL providers reach this server at; set once the listener is bound.
    pub public_url: std::sync::OnceLock<String>,
    /// Applies provider callbacks in batches (`services::delivery::ingest`).
    pub ingestor: crate::services::delivery::Ingestor,
    /// Channels as webhooks look them up, kept a second (`services::channels::webhook_channel`).
    pub channels: crate::services::channels::ChannelCache,
}

impl App {
    /// The URL providers reach this server at, without a trailing slash: `PREGON_PUBLIC_URL`,
    /// else `http://` and the bound address.
    pub fn public_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("http://127.0.0.1")
    }

    /// Where `channel_id`'s provider posts its callbacks.
    pub fn webhook_url(&self, channel_id: i64) -> String {
        format!("{}/webhooks/{channel_id}", self.public_url())
    }

    /// Tells the dispatcher there is work now, rather than at its next poll; the other
    /// instances' dispatchers too.
    pub fn wake_dispatcher(&self) {
        self.events.relay().send(crate::cluster::Note::Wake);
        self.dispatcher_wake.notify_one();
    }
}

/// Cheap-to-clone handle on [`App`], the axum state and the GraphQL schema data.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
