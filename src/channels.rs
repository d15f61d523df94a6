//! Messaging channels: what each provider kind can do ([`capabilities`]), what a message
//! says ([`content`]), and the adapters that speak each provider's wire format behind one
//! trait ([`adapter`]), so tests and benchmarks point them at a loopback mock.

pub mod adapter;
pub mod capabilities;
pub mod content;
pub mod custom;
pub mod line;
pub mod messenger;
pub mod sandbox;
pub mod telegram;
pub mod twilio;
pub mod viber;
pub mod webhook;
pub mod whatsapp;

pub use adapter::{Adapters, ChannelAdapter, Outgoing, SendOutcome};
pub use capabilities::{BroadcastRequirement, Capabilities, IdentifierKind, MessagingWindow, RateLimit, capabilities};
pub use content::MessageContent;
