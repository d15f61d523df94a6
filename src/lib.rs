//! Pregón: a GraphQL API server for business messaging broadcasts.
//!
//! Layout: `config` (settings), `app` (shared state), `startup` (build and run the server),
//! `router` (every route), `http/` (handlers), `graphql/` (translates), `services/`
//! (decides), `dispatcher/` (sends), `channels/` (providers' wire formats), `auth` (tokens
//! and workspace confinement), `db`, `events`, `progress`, `metrics`, `error`.

pub mod app;
pub mod auth;
pub mod catalogue;
pub mod channels;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod db;
pub mod dispatcher;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod normalize;
pub mod progress;
pub mod router;
pub mod services;
pub mod startup;
