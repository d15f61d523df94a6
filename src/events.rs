//! The in-process event bus: services publish what changed, subscriptions listen.
//!
//! Events carry ids, not rows: a subscriber loads what it shows through its own scope, so an
//! event can never carry one workspace's data to another's subscriber. A subscriber that
//! falls more than [`CAPACITY`] events behind skips ahead (and is told, by a log line).

use std::sync::Arc;

use entity::{BroadcastStatus, DeliveryStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::cluster::{Note, Relay};

/// Events kept for slow subscribers before they start skipping.
pub const CAPACITY: usize = 4096;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeAction {
    Created,
    Updated,
    Deleted,
}

/// A domain event. Serialized for the other instances (`cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A contact was created, changed (fields, tags, identifiers) or deleted.
    ContactChanged { workspace_id: i64, contact_id: i64, action: ChangeAction },
    /// An import created or updated `count` contacts (one event, not one per row).
    ContactsImported { workspace_id: i64, count: u64 },
    /// A broadcast was created, changed, deleted or changed status.
    BroadcastChanged {
        workspace_id: i64,
        broadcast_id: i64,
        action: ChangeAction,
        #[serde(with = "stored_name")]
        status: BroadcastStatus,
    },
}

/// A message's delivery status changed (dispatcher, webhooks, the sandbox). On a bus of its
/// own: there are thousands a second while a broadcast runs, and the other subscriptions must
/// not wade through them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatusEvent {
    pub workspace_id: i64,
    pub message_id: i64,
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
    #[serde(with = "stored_name")]
    pub status: DeliveryStatus,
    pub error_code: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Event {
    pub fn workspace_id(&self) -> i64 {
        match self {
            Event::ContactChanged { workspace_id, .. }
            | Event::ContactsImported { workspace_id, .. }
            | Event::BroadcastChanged { workspace_id, .. } => *workspace_id,
        }
    }
}

/// An enumeration stored as text, serialized as the text it is stored as.
mod stored_name {
    use sea_orm::ActiveEnum;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<T: ActiveEnum<Value = String>, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_value())
    }

    pub fn deserialize<'de, T: ActiveEnum<Value = String>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let name = String::deserialize(deserializer)?;
        T::try_from_value(&name).map_err(|_| D::Error::custom(format!("unknown value {name:?}")))
    }
}

/// The bus: events for this instance's subscribers, handed to the relay too so that the other
/// instances' subscribers see them (`cluster`).
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
    messages: broadcast::Sender<Arc<MessageStatusEvent>>,
    relay: Relay,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(Relay::default())
    }
}

impl EventBus {
    pub fn new(relay: Relay) -> EventBus {
        EventBus { sender: broadcast::channel(CAPACITY).0, messages: broadcast::channel(CAPACITY).0, relay }
    }

    /// Where events for the other instances go.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Publishes to every current subscriber, here and on the other instances.
    pub fn publish(&self, event: Event) {
        self.relay.send(Note::Event(event.clone()));
        self.publish_local(event);
    }

    /// Publishes to this instance's subscribers only (an event another instance relayed); with
    /// none, the event is dropped.
    pub fn publish_local(&self, event: Event) {
        let _ = self.sender.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Publishes a message status change, here and on the other instances.
    pub fn publish_message(&self, event: MessageStatusEvent) {
        self.relay.send(Note::Message(event.clone()));
        self.publish_message_local(event);
    }

    /// Publishes a message status change to this instance's subscribers; free when nobody
    /// listens.
    pub fn publish_message_local(&self, event: MessageStatusEvent) {
        if self.messages.receiver_count() > 0 {
            let _ = self.messages.send(Arc::new(event));
        }
    }

    pub fn subscribe_messages(&self) -> broadcast::Receiver<Arc<MessageStatusEvent>> {
        self.messages.subscribe()
    }
}
