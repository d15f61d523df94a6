//! GraphQL enums mirroring the stored ones (`entity::enums`); `remote` generates the
//! conversions both ways, so the spellings cannot drift.

use async_graphql::Enum;

/// A user's access level, from most to least: OWNER, ADMIN, MANAGER, AGENT.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::Role")]
pub enum Role {
    /// Everything, including managing owners.
    Owner,
    /// Everything except managing owners: channels, users, teams, API tokens, fields.
    Admin,
    /// Contacts (including deleting them), segments and broadcasts.
    Manager,
    /// Works with contacts and conversations; cannot create or send broadcasts.
    Agent,
}

/// The provider behind a channel.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::ChannelKind")]
pub enum ChannelKind {
    /// WhatsApp Business Cloud API (Meta).
    WhatsappCloud,
    /// WhatsApp through 360dialog.
    #[graphql(name = "WHATSAPP_360DIALOG")]
    Whatsapp360dialog,
    /// WhatsApp through Twilio.
    TwilioWhatsapp,
    /// SMS through Twilio.
    TwilioSms,
    /// Facebook Messenger.
    Messenger,
    /// Telegram bot.
    Telegram,
    /// Viber bot.
    Viber,
    /// LINE official account.
    Line,
    /// Your own HTTP endpoint: Pregón posts each message as JSON.
    Custom,
    /// A simulated provider inside Pregón that sends nothing: for trying broadcasts out.
    Sandbox,
    /// Instagram direct messages (cannot broadcast).
    Instagram,
    /// Website chat widget (cannot broadcast).
    Webchat,
    /// WeChat (cannot broadcast).
    Wechat,
    /// Email (cannot broadcast).
    Email,
}

/// Delivery status of a message. Statuses only move forward.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::DeliveryStatus")]
pub enum DeliveryStatus {
    /// Waiting for its turn in the dispatcher.
    Queued,
    /// Handed to the provider, no answer yet.
    Sending,
    /// Accepted by the provider.
    Sent,
    /// Reached the contact's device.
    Delivered,
    /// Read by the contact.
    Read,
    /// Not delivered; the message carries the provider's reason.
    Failed,
}

/// The type of a custom contact field; values are checked against it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::ContactFieldType")]
pub enum ContactFieldType {
    /// Free text (at most 10,000 characters).
    Text,
    /// A number.
    Number,
    /// A calendar date written YYYY-MM-DD.
    Date,
    /// true or false.
    Boolean,
}

/// How contacts are addressed on a channel.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::channels::IdentifierKind")]
pub enum IdentifierKind {
    /// A phone number in E.164 (+593991234567).
    Phone,
    /// A Facebook page-scoped id (digits).
    PageScopedId,
    /// An Instagram-scoped id (digits).
    InstagramScopedId,
    /// A Telegram chat id (an integer).
    TelegramChatId,
    /// A Viber user id.
    ViberUserId,
    /// A LINE user id: U followed by 32 hex digits.
    LineUserId,
    /// A WeChat OpenID.
    WechatOpenId,
    /// A web-chat session id.
    WebchatSessionId,
    /// An email address.
    Email,
    /// Any identifier without spaces, up to 255 characters, that the provider understands.
    Opaque,
}

/// What a broadcast on a channel must carry besides its text.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::channels::BroadcastRequirement")]
pub enum BroadcastRequirement {
    /// Nothing: plain text can be broadcast.
    None,
    /// An approved WhatsApp message template.
    WhatsappTemplate,
    /// A Facebook message tag.
    MessageTag,
}

/// Where a broadcast is in its life: DRAFT → SCHEDULED → RUNNING → COMPLETED, or FAILED.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::BroadcastStatus")]
pub enum BroadcastStatus {
    /// Being prepared (seed 002: "Fabricación"); nothing is sent until it is scheduled.
    Draft,
    /// Waiting for its time ("Programado"); cancelling returns it to DRAFT.
    Scheduled,
    /// Sending ("En Proceso").
    Running,
    /// Every message was attempted ("Completado"); some may have failed.
    Completed,
    /// The broadcast as a whole failed, with a reason ("Fallido").
    Failed,
}

/// Whether a message went to a contact or came from one.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::MessageDirection")]
pub enum MessageDirection {
    /// From a contact.
    Incoming,
    /// To a contact.
    Outgoing,
}

/// Where an outgoing message came from (seed 004).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::MessageSource")]
pub enum MessageSource {
    /// A person in the app.
    User,
    /// A chatbot.
    Bot,
    /// A broadcast.
    Broadcast,
    /// A workflow.
    Workflow,
    /// The API.
    Api,
    /// Zapier.
    Zapier,
    /// Sent from the provider's own app and echoed back.
    Echo,
}

/// The kind of outgoing message (seed 004).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::MessageType")]
pub enum MessageType {
    /// A normal message, within the channel's messaging window.
    Session,
    /// A Messenger message with a message tag.
    FacebookMessageTag,
    /// An approved WhatsApp template.
    WhatsappTemplate,
}
