//! Messaging channels: what each provider kind can do ([`capabilities`]). The adapters that
//! speak each provider's wire format join this module as the dispatcher arrives.

pub mod capabilities;

pub use capabilities::{BroadcastRequirement, Capabilities, IdentifierKind, MessagingWindow, RateLimit, capabilities};
