//! The GraphQL API: one file per domain area, merged into the three roots here.
//! Resolvers translate between GraphQL and the services; they decide nothing.

pub mod api_token;
pub mod broadcast;
pub mod channel;
pub mod contact;
pub mod contact_field;
pub mod context;
pub mod duplicate;
pub mod enums;
pub mod extensions;
pub mod import;
pub mod loaders;
pub mod message;
pub mod report;
pub mod scalars;
pub mod segment;
pub mod tag;
pub mod team;
pub mod user;
pub mod workspace;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::app::AppState;
use crate::config::ServerConfig;

/// Everything that can be read.
#[derive(MergedObject, Default)]
pub struct Query(
    workspace::WorkspaceQuery,
    user::UserQuery,
    team::TeamQuery,
    api_token::ApiTokenQuery,
    channel::ChannelQuery,
    contact_field::ContactFieldQuery,
    tag::TagQuery,
    contact::ContactQuery,
    segment::SegmentQuery,
    duplicate::DuplicateQuery,
    contact::ContactExportQuery,
    broadcast::BroadcastQuery,
    message::MessageQuery,
    report::ReportQuery,
    report::BroadcastReportQuery,
);

/// Everything that can be changed.
#[derive(MergedObject, Default)]
pub struct Mutation(
    workspace::WorkspaceMutation,
    user::UserMutation,
    team::TeamMutation,
    api_token::ApiTokenMutation,
    channel::ChannelMutation,
    contact_field::ContactFieldMutation,
    contact::ContactMutation,
    segment::SegmentMutation,
    duplicate::DuplicateMutation,
    import::ImportMutation,
    broadcast::BroadcastMutation,
    message::MessageMutation,
    report::ReportMutation,
);

/// Live updates, over WebSocket at /graphql/ws.
#[derive(MergedSubscription, Default)]
pub struct Subscription(contact::ContactSubscription, broadcast::BroadcastSubscription, message::MessageSubscription);

pub type PregonSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits and the authentication gate; `state` is reachable from every
/// resolver.
pub fn build_schema(state: AppState, config: &ServerConfig) -> PregonSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .data(state)
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity)
        .extension(extensions::InputLimits)
        .extension(extensions::AuthGate)
        .finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}
