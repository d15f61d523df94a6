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
}

impl App {
    /// Tells the dispatcher there is work now, rather than at its next poll.
    pub fn wake_dispatcher(&self) {
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
