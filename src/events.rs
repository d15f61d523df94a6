//! The in-process event bus: services publish what changed, subscriptions listen.
//!
//! Events carry ids, not rows: a subscriber loads what it shows through its own scope, so an
//! event can never carry one workspace's data to another's subscriber. A subscriber that
//! falls more than [`CAPACITY`] events behind skips ahead (and is told, by a log line).

use std::sync::Arc;

use entity::{BroadcastStatus, DeliveryStatus};
use tokio::sync::broadcast;

/// Events kept for slow subscribers before they start skipping.
pub const CAPACITY: usize = 4096;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    Created,
    Updated,
    Deleted,
}

/// A domain event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A contact was created, changed (fields, tags, identifiers) or deleted.
    ContactChanged { workspace_id: i64, contact_id: i64, action: ChangeAction },
    /// An import created or updated `count` contacts (one event, not one per row).
    ContactsImported { workspace_id: i64, count: u64 },
    /// A broadcast was created, changed, deleted or changed status.
    BroadcastChanged { workspace_id: i64, broadcast_id: i64, action: ChangeAction, status: BroadcastStatus },
}

/// A message's delivery status changed (dispatcher, webhooks, the sandbox). On a bus of its
/// own: there are thousands a second while a broadcast runs, and the other subscriptions must
/// not wade through them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStatusEvent {
    pub workspace_id: i64,
    pub message_id: i64,
    pub broadcast_id: Option<i64>,
    pub contact_id: Option<i64>,
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

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
    messages: broadcast::Sender<Arc<MessageStatusEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(CAPACITY).0, messages: broadcast::channel(CAPACITY).0 }
    }
}

impl EventBus {
    /// Publishes to every current subscriber; with none, the event is dropped.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Publishes a message status change; free when nobody listens.
    pub fn publish_message(&self, event: MessageStatusEvent) {
        if self.messages.receiver_count() > 0 {
            let _ = self.messages.send(Arc::new(event));
        }
    }

    pub fn subscribe_messages(&self) -> broadcast::Receiver<Arc<MessageStatusEvent>> {
        self.messages.subscribe()
    }
}
