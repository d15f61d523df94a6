//! Enumerations stored as upper-case text columns.
//!
//! Text (not a database enum type) keeps SQLite and PostgreSQL identical and lets a later
//! migration add a variant without an `ALTER TYPE`.

use sea_orm::entity::prelude::*;

/// A user's access level, highest first. Ordering matters: `Owner > Admin > Manager > Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    #[sea_orm(string_value = "AGENT")]
    Agent,
    #[sea_orm(string_value = "MANAGER")]
    Manager,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    #[sea_orm(string_value = "OWNER")]
    Owner,
}

/// The provider behind a channel. Capabilities per kind live in the server's
/// `channels::capabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ChannelKind {
    #[sea_orm(string_value = "WHATSAPP_CLOUD")]
    WhatsappCloud,
    #[sea_orm(string_value = "WHATSAPP_360DIALOG")]
    Whatsapp360dialog,
    #[sea_orm(string_value = "TWILIO_WHATSAPP")]
    TwilioWhatsapp,
    #[sea_orm(string_value = "TWILIO_SMS")]
    TwilioSms,
    #[sea_orm(string_value = "MESSENGER")]
    Messenger,
    #[sea_orm(string_value = "TELEGRAM")]
    Telegram,
    #[sea_orm(string_value = "VIBER")]
    Viber,
    #[sea_orm(string_value = "LINE")]
    Line,
    #[sea_orm(string_value = "CUSTOM")]
    Custom,
    #[sea_orm(string_value = "SANDBOX")]
    Sandbox,
    #[sea_orm(string_value = "INSTAGRAM")]
    Instagram,
    #[sea_orm(string_value = "WEBCHAT")]
    Webchat,
    #[sea_orm(string_value = "WECHAT")]
    Wechat,
    #[sea_orm(string_value = "EMAIL")]
    Email,
}

/// The type of a workspace-defined contact field; values are validated against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ContactFieldType {
    #[sea_orm(string_value = "TEXT")]
    Text,
    #[sea_orm(string_value = "NUMBER")]
    Number,
    #[sea_orm(string_value = "DATE")]
    Date,
    #[sea_orm(string_value = "BOOLEAN")]
    Boolean,
}

/// Broadcast life cycle: DRAFT → SCHEDULED → RUNNING → COMPLETED, or FAILED with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum BroadcastStatus {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

/// Whether a message came from a contact or went to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum MessageDirection {
    #[sea_orm(string_value = "INCOMING")]
    Incoming,
    #[sea_orm(string_value = "OUTGOING")]
    Outgoing,
}

/// Where an outgoing message came from (seed 004, "Mensajes salientes por fuente").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum MessageSource {
    #[sea_orm(string_value = "USER")]
    User,
    #[sea_orm(string_value = "BOT")]
    Bot,
    #[sea_orm(string_value = "BROADCAST")]
    Broadcast,
    #[sea_orm(string_value = "WORKFLOW")]
    Workflow,
    #[sea_orm(string_value = "API")]
    Api,
    #[sea_orm(string_value = "ZAPIER")]
    Zapier,
    #[sea_orm(string_value = "ECHO")]
    Echo,
}

/// The kind of outgoing message (seed 004, "Mensajes salientes por tipo").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum MessageType {
    #[sea_orm(string_value = "SESSION")]
    Session,
    #[sea_orm(string_value = "FACEBOOK_MESSAGE_TAG")]
    FacebookMessageTag,
    #[sea_orm(string_value = "WHATSAPP_TEMPLATE")]
    WhatsappTemplate,
}

/// Delivery status of a message. Statuses only move forward, in this order, except that
/// FAILED can be reached from any non-terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DeliveryStatus {
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    #[sea_orm(string_value = "SENDING")]
    Sending,
    #[sea_orm(string_value = "SENT")]
    Sent,
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    #[sea_orm(string_value = "READ")]
    Read,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}
