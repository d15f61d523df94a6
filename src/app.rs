//! The application state every handler, resolver and service reaches.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::ServerConfig;
use crate::events::EventBus;

/// Everything a request may need, built once at start-up.
pub struct App {
    /// The database pool (SQLite or PostgreSQL); sea-orm connections are cheap handles.
    pub db: DatabaseConnection,
    /// In-process bus of domain events; GraphQL subscriptions listen to it.
    pub events: EventBus,
    /// The settings the server was started with.
    pub config: ServerConfig,
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
