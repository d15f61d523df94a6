//! The capability table of every channel kind (seed 003, "Capacidades de los canales",
//! "Disponibilidad del estado del mensaje", "Ventana de mensajería", "Límites de frecuencia").
//!
//! Where the seed gives no figure (LINE, the Twilio kinds, the kinds that cannot broadcast)
//! the provider's own published default is used and the README says so; every rate can be
//! overridden per channel.

use entity::{ChannelKind, DeliveryStatus};

use crate::normalize;

/// `count` messages per `period_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period_secs: u32,
}

impl RateLimit {
    pub const fn per_second(count: u32) -> Self {
        RateLimit { count, period_secs: 1 }
    }

    pub fn per_second_f64(&self) -> f64 {
        f64::from(self.count) / f64::from(self.period_secs)
    }
}

/// How long after a contact's last message the channel lets the business write freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingWindow {
    /// No window: messages can be sent at any time.
    None,
    /// Replies only within this many hours of the contact's last message.
    Hours(u32),
    /// Only while the visitor keeps the chat page open (web chat).
    WhileOnPage,
}

/// What a broadcast on this channel must carry (seed 003, "Envíos masivos").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastRequirement {
    /// Plain text is enough.
    None,
    /// An approved WhatsApp message template (official WhatsApp API channels).
    WhatsappTemplate,
    /// A Facebook message tag (Messenger).
    MessageTag,
}

/// How a contact is addressed on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    /// A phone number, E.164.
    Phone,
    /// A Facebook page-scoped id (digits).
    PageScopedId,
    /// An Instagram-scoped id (digits).
    InstagramScopedId,
    /// A Telegram chat id (an integer, negative for groups).
    TelegramChatId,
    /// A Viber user id.
    ViberUserId,
    /// A LINE user id (`U` and 32 hex digits).
    LineUserId,
    /// A WeChat OpenID.
    WechatOpenId,
    /// A web-chat session id.
    WebchatSessionId,
    /// An email address.
    Email,
    /// Any opaque identifier the provider understands (custom and sandbox channels).
    Opaque,
}

impl IdentifierKind {
    /// Checks `raw` against the identifier's format and returns its normalised form.
    pub fn normalize(self, raw: &str, default_country: Option<&str>) -> Result<String, String> {
        let value = raw.trim();
        let opaque = |max: usize| -> Result<String, String> {
            if value.is_empty() {
                return Err("The identifier is empty.".into());
            }
            if value.len() > max || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("'{value}' is not a valid identifier: at most {max} characters, no spaces."));
            }
            Ok(value.to_owned())
        };
        match self {
            IdentifierKind::Phone => normalize::phone(value, default_country),
            IdentifierKind::Email => normalize::email(value),
            IdentifierKind::PageScopedId | IdentifierKind::InstagramScopedId => {
                if (5..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(value.to_owned())
                } else {
                    Err(format!("'{value}' is not a page-scoped id: it must be 5 to 32 digits."))
                }
            }
            IdentifierKind::TelegramChatId => match value.parse::<i64>() {
                Ok(id) if id != 0 => Ok(id.to_string()),
                _ => Err(format!("'{value}' is not a Telegram chat id: it must be a non-zero integer.")),
            },
            IdentifierKind::LineUserId => {
                let hex = value.strip_prefix('U').unwrap_or_default();
                if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(format!("U{}", hex.to_ascii_lowercase()))
                } else {
                    Err(format!("'{value}' is not a LINE user id: it must be 'U' followed by 32 hex digits."))
                }
            }
            IdentifierKind::ViberUserId => {
                let valid = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                if valid { opaque(64) } else { Err(format!("'{value}' is not a Viber user id.")) }
            }
            IdentifierKind::WechatOpenId | IdentifierKind::WebchatSessionId => opaque(128),
            IdentifierKind::Opaque => opaque(255),
        }
    }
}

/// What one channel kind can do.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub kind: ChannelKind,
    /// Human name of the provider.
    pub label: &'static str,
    pub can_broadcast: bool,
    pub broadcast_requirement: BroadcastRequirement,
    pub messaging_window: MessagingWindow,
    /// The delivery statuses the provider reports back.
    pub reported_statuses: &'static [DeliveryStatus],
    pub default_rate: RateLimit,
    pub identifier: IdentifierKind,
    /// The provider's official API host; `None` where there is none (custom, sandbox) or
    /// the kind is not sent through an HTTP API here.
    pub official_base_url: Option<&'static str>,
    /// Credential keys a channel of this kind must have.
    pub required_credentials: &'static [&'static str],
    /// Credential keys it may have.
    pub optional_credentials: &'static [&'static str],
}

impl Capabilities {
    /// How long after the contact's last message an automated message (a broadcast, an API
    /// send) may go without a message tag. Meta's standard messaging window is 24 hours on
    /// Messenger and Instagram; the 7 days of their `messaging_window` are for a person's reply,
    /// sent with the HUMAN_AGENT tag. Elsewhere the two are the same.
    pub fn automated_window(&self) -> MessagingWindow {
        match self.kind {
            ChannelKind::Messenger | ChannelKind::Instagram => MessagingWindow::Hours(24),
            _ => self.messaging_window,
        }
    }
}

use DeliveryStatus::{Delivered, Failed, Read, Sent};

const ALL_STATUSES: &[DeliveryStatus] = &[Sent, Delivered, Read, Failed];

const TABLE: &[Capabilities] = &[
    Capabilities {
        kind: ChannelKind::WhatsappCloud,
        label: "WhatsApp Cloud API",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::WhatsappTemplate,
        messaging_window: MessagingWindow::Hours(24),
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(80),
        identifier: IdentifierKind::Phone,
        official_base_url: Some("https://graph.facebook.com"),
        required_credentials: &["accessToken", "phoneNumberId", "appSecret"],
        optional_credentials: &["verifyToken", "apiVersion"],
    },
    Capabilities {
        kind: ChannelKind::Whatsapp360dialog,
        label: "WhatsApp via 360dialog",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::WhatsappTemplate,
        messaging_window: MessagingWindow::Hours(24),
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(10),
        identifier: IdentifierKind::Phone,
        official_base_url: Some("https://waba-v2.360dialog.io"),
        // 360dialog does not sign webhooks: it sends this secret in a header set up with the
        // webhook URL (channels/whatsapp.rs).
        required_credentials: &["apiKey", "webhookSecret"],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::TwilioWhatsapp,
        label: "WhatsApp via Twilio",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::WhatsappTemplate,
        messaging_window: MessagingWindow::Hours(24),
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(80),
        identifier: IdentifierKind::Phone,
        official_base_url: Some("https://api.twilio.com"),
        required_credentials: &["accountSid", "authToken", "from"],
        optional_credentials: &["messagingServiceSid"],
    },
    Capabilities {
        kind: ChannelKind::TwilioSms,
        label: "SMS via Twilio",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        // Seed 003: SMS reports sent and delivered, not read.
        reported_statuses: &[Sent, Delivered, Failed],
        // Seed 003: "varía según la ubicación del destinatario"; Twilio's long-code default.
        default_rate: RateLimit::per_second(1),
        identifier: IdentifierKind::Phone,
        official_base_url: Some("https://api.twilio.com"),
        required_credentials: &["accountSid", "authToken", "from"],
        optional_credentials: &["messagingServiceSid"],
    },
    Capabilities {
        kind: ChannelKind::Messenger,
        label: "Facebook Messenger",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::MessageTag,
        messaging_window: MessagingWindow::Hours(7 * 24),
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit { count: 200, period_secs: 3600 },
        identifier: IdentifierKind::PageScopedId,
        official_base_url: Some("https://graph.facebook.com"),
        required_credentials: &["pageAccessToken", "appSecret"],
        optional_credentials: &["pageId", "verifyToken", "apiVersion"],
    },
    Capabilities {
        kind: ChannelKind::Telegram,
        label: "Telegram",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        // Seed 003: Telegram reports sent only; SENT is final.
        reported_statuses: &[Sent],
        default_rate: RateLimit::per_second(30),
        identifier: IdentifierKind::TelegramChatId,
        official_base_url: Some("https://api.telegram.org"),
        // The secret token set with setWebhook: Telegram's only webhook authentication.
        required_credentials: &["botToken", "secretToken"],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Viber,
        label: "Viber",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit { count: 500, period_secs: 10 },
        identifier: IdentifierKind::ViberUserId,
        official_base_url: Some("https://chatapi.viber.com"),
        required_credentials: &["authToken"],
        // The sender name shown with each message (Viber requires one; default: the channel's).
        optional_credentials: &["senderName"],
    },
    Capabilities {
        kind: ChannelKind::Line,
        label: "LINE",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        // The push API reports no delivery or read.
        reported_statuses: &[Sent],
        default_rate: RateLimit::per_second(2000),
        identifier: IdentifierKind::LineUserId,
        official_base_url: Some("https://api.line.me"),
        required_credentials: &["channelAccessToken", "channelSecret"],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Custom,
        label: "Custom HTTP channel",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(20),
        identifier: IdentifierKind::Opaque,
        official_base_url: None,
        required_credentials: &["secret"],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Sandbox,
        label: "Sandbox (simulated, sends nothing)",
        can_broadcast: true,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(20),
        identifier: IdentifierKind::Opaque,
        official_base_url: None,
        required_credentials: &[],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Instagram,
        label: "Instagram",
        can_broadcast: false,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::Hours(7 * 24),
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit { count: 200, period_secs: 3600 },
        identifier: IdentifierKind::InstagramScopedId,
        official_base_url: Some("https://graph.facebook.com"),
        required_credentials: &["pageAccessToken", "appSecret"],
        optional_credentials: &["verifyToken", "apiVersion"],
    },
    Capabilities {
        kind: ChannelKind::Webchat,
        label: "Website chat",
        can_broadcast: false,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::WhileOnPage,
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(20),
        identifier: IdentifierKind::WebchatSessionId,
        official_base_url: None,
        required_credentials: &[],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Wechat,
        label: "WeChat",
        can_broadcast: false,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::Hours(48),
        reported_statuses: &[Sent],
        default_rate: RateLimit::per_second(20),
        identifier: IdentifierKind::WechatOpenId,
        official_base_url: Some("https://api.weixin.qq.com"),
        required_credentials: &["appId", "appSecret"],
        optional_credentials: &[],
    },
    Capabilities {
        kind: ChannelKind::Email,
        label: "Email",
        can_broadcast: false,
        broadcast_requirement: BroadcastRequirement::None,
        messaging_window: MessagingWindow::None,
        reported_statuses: ALL_STATUSES,
        default_rate: RateLimit::per_second(10),
        identifier: IdentifierKind::Email,
        official_base_url: None,
        required_credentials: &["smtpHost", "username", "password"],
        optional_credentials: &["smtpPort", "fromAddress"],
    },
];

/// The capabilities of `kind`.
pub fn capabilities(kind: ChannelKind) -> &'static Capabilities {
    TABLE
        .iter()
        .find(|caps| caps.kind == kind)
        .expect("every ChannelKind has a row in the capability table (checked by a test)")
}

/// Every kind's capabilities, in the table's order.
pub fn all() -> &'static [Capabilities] {
    TABLE
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;

    #[test]
    fn every_kind_has_exactly_one_row() {
        for kind in ChannelKind::iter() {
            assert_eq!(TABLE.iter().filter(|caps| caps.kind == kind).count(), 1, "{kind:?}");
        }
    }

    #[test]
    fn seed_rate_limits_are_the_defaults() {
        let rate = |kind| capabilities(kind).default_rate;
        assert_eq!(rate(ChannelKind::Messenger), RateLimit { count: 200, period_secs: 3600 });
        assert_eq!(rate(ChannelKind::Whatsapp360dialog), RateLimit::per_second(10));
        assert_eq!(rate(ChannelKind::Telegram), RateLimit::per_second(30));
        assert_eq!(rate(ChannelKind::Viber), RateLimit { count: 500, period_secs: 10 });
        assert_eq!(rate(ChannelKind::Custom), RateLimit::per_second(20));
        assert_eq!(rate(ChannelKind::WhatsappCloud), RateLimit::per_second(80));
    }

    #[test]
    fn the_seed_kinds_that_cannot_broadcast_cannot() {
        for kind in [ChannelKind::Instagram, ChannelKind::Webchat, ChannelKind::Wechat, ChannelKind::Email] {
            assert!(!capabilities(kind).can_broadcast, "{kind:?}");
        }
    }

    #[test]
    fn identifiers_are_checked_per_kind() {
        assert_eq!(IdentifierKind::TelegramChatId.normalize(" -100123 ", None).unwrap(), "-100123");
        assert!(IdentifierKind::TelegramChatId.normalize("abc", None).is_err());
        assert!(IdentifierKind::LineUserId.normalize("U4af4980629", None).is_err());
        assert_eq!(
            IdentifierKind::LineUserId.normalize("U4AF4980629ABCDEF4af4980629abcdef", None).unwrap(),
            "U4af4980629abcdef4af4980629abcdef"
        );
        assert!(IdentifierKind::PageScopedId.normalize("12ab45", None).is_err());
        assert!(IdentifierKind::Opaque.normalize("has space", None).is_err());
        assert_eq!(IdentifierKind::Phone.normalize("+593 99 123 4567", None).unwrap(), "+593991234567");
    }
}
