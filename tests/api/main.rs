//! Integration tests: the real server over HTTP and WebSocket, on SQLite, or on PostgreSQL
//! when `PREGON_TEST_DATABASE_URL` is set. One test binary keeps linking fast.

mod auth;
mod binary;
mod broadcasts;
mod channels;
mod cluster;
mod contacts;
mod dispatcher;
mod duplicates;
mod errors;
mod exports;
mod fuzz;
mod graphql_http;
mod helpers;
mod imports;
mod mock_provider;
mod providers;
mod reliability;
mod reports;
mod return_path;
mod schema;
mod segments;
mod subscriptions;
mod tenancy;
mod users;
