//! sea-orm entities of Pregón, one file per table (sea-orm 2.0 dense format).
//!
//! Entities describe rows; they are never GraphQL types (the `graphql` module of the server
//! has its own types and converts). Enumerations stored as text live in [`enums`] so that
//! the server, the migrations' documentation and the GraphQL enums agree on one spelling.

pub mod api_token;
pub mod broadcast;
pub mod channel;
pub mod contact;
pub mod contact_channel;
pub mod contact_field;
pub mod contact_tag;
pub mod early_status;
pub mod enums;
pub mod message;
pub mod rate_limit;
pub mod segment;
pub mod tag;
pub mod team;
pub mod team_member;
pub mod user;
pub mod workspace;

pub use enums::*;
