//! What a message says: text, a WhatsApp template or a Messenger message tag, and the rules
//! a channel puts on it (seed 003, "Envíos masivos").

use entity::{ChannelKind, MessageType};
use serde::{Deserialize, Serialize};

use super::{BroadcastRequirement, capabilities};

/// Longest text a message may carry (WhatsApp's and Messenger's own limits are below this;
/// the provider answers for its own).
pub const MAX_TEXT_CHARS: usize = 4096;

/// The Messenger message tags that allow a message outside the 7-day window.
pub const MESSAGE_TAGS: &[&str] = &["CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", HUMAN_AGENT];

/// The Messenger tag of a person's reply sent after the standard 24-hour window and within 7
/// days of the contact's last message (Meta, "Message Tags": human replies only, no automated
/// messages).
pub const HUMAN_AGENT: &str = "HUMAN_AGENT";

/// A message's content, stored as JSON on broadcasts and messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<WhatsappTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_tag: Option<String>,
}

/// An approved WhatsApp message template and the values of its `{{1}}`, `{{2}}`… parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatsappTemplate {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// Why content does not fit: the input field and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentProblem {
    pub field: &'static str,
    pub message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> ContentProblem {
    ContentProblem { field, message: message.into() }
}

impl MessageContent {
    /// Trims and checks the parts on their own (not against a channel).
    pub fn normalized(self) -> Result<MessageContent, ContentProblem> {
        let text = self.text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if let Some(text) = &text
            && text.chars().count() > MAX_TEXT_CHARS
        {
            return Err(problem("content.text", format!("The text is longer than {MAX_TEXT_CHARS} characters.")));
        }
        let template = match self.template {
            None => None,
            Some(t) => {
                let name = t.name.trim().to_owned();
                let valid_name = !name.is_empty()
                    && name.len() <= 512
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !valid_name && !is_content_sid(&name) {
                    return Err(problem(
                        "content.template.name",
                        format!(
                            "'{name}' is not a WhatsApp template name (lower-case letters, digits and _) nor a Twilio Content SID (HX and 32 hex digits)."
                        ),
                    ));
                }
                let language = t.language.trim().replace('-', "_");
                let valid_language = (2..=8).contains(&language.len())
                    && language.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid_language {
                    return Err(problem(
                        "content.template.language",
                        format!("'{}' is not a template language code such as es, en_US or pt_BR.", t.language),
                    ));
                }
                if t.parameters.len() > 100 || t.parameters.iter().any(|p| p.chars().count() > 1024) {
                    return Err(problem(
                        "content.template.parameters",
                        "A template takes at most 100 parameters of at most 1024 characters each.",
                    ));
                }
                Some(WhatsappTemplate { name, language, parameters: t.parameters })
            }
        };
        let message_tag = match self.message_tag {
            None => None,
            Some(tag) => {
                let tag = tag.trim().to_ascii_uppercase();
                if !MESSAGE_TAGS.contains(&tag.as_str()) {
                    return Err(problem(
                        "content.messageTag",
                        format!("'{tag}' is not a Messenger message tag; use one of {}.", MESSAGE_TAGS.join(", ")),
                    ));
                }
                Some(tag)
            }
        };
        if text.is_none() && template.is_none() {
            return Err(problem("content", "A message needs a text or a WhatsApp template."));
        }
        Ok(MessageContent { text, template, message_tag })
    }

    /// What is sent on a channel of `kind`, and as what type; or why it cannot be sent there.
    /// `broadcast` applies the broadcast rules: official WhatsApp channels need a template and
    /// Messenger a tag, whatever the window.
    pub fn plan_for(&self, kind: ChannelKind, broadcast: bool) -> Result<Planned, ContentProblem> {
        let caps = capabilities(kind);
        if broadcast && !caps.can_broadcast {
            return Err(problem("channelId", format!("{} channels cannot send broadcasts (seed 003).", caps.label)));
        }
        match caps.broadcast_requirement {
            BroadcastRequirement::WhatsappTemplate => match &self.template {
                // Twilio sends templates by Content SID; Meta and 360dialog by name.
                Some(template) if is_content_sid(&template.name) != (kind == ChannelKind::TwilioWhatsapp) => {
                    Err(problem(
                        "content.template.name",
                        if kind == ChannelKind::TwilioWhatsapp {
                            format!("On {} a template is named by its Content SID (HX and 32 hex digits).", caps.label)
                        } else {
                            format!(
                                "On {} a template is named by its WhatsApp name, not a Twilio Content SID.",
                                caps.label
                            )
                        },
                    ))
                }
                Some(template) => Ok(Planned::template(template)),
                None if broadcast => Err(problem(
                    "content.template",
                    format!("A broadcast on a {} channel must be an approved WhatsApp template.", caps.label),
                )),
                None => Ok(Planned::session()),
            },
            BroadcastRequirement::MessageTag => {
                if self.text.is_none() {
                    return Err(problem("content.text", "A Messenger message needs a text."));
                }
                match &self.message_tag {
                    Some(tag) if tag == HUMAN_AGENT && broadcast => Err(problem(
                        "content.messageTag",
                        "HUMAN_AGENT is for a person's reply within 7 days of the contact's last message, \
                         not for broadcasts; use CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE or ACCOUNT_UPDATE.",
                    )),
                    // A person's reply: inside the 7-day window only.
                    Some(tag) if tag == HUMAN_AGENT => Ok(Planned {
                        message_type: MessageType::FacebookMessageTag,
                        subtype: Some(tag.clone()),
                        outside_window: false,
                    }),
                    Some(tag) => Ok(Planned {
                        message_type: MessageType::FacebookMessageTag,
                        subtype: Some(tag.clone()),
                        outside_window: true,
                    }),
                    None if broadcast => Err(problem(
                        "content.messageTag",
                        format!("A broadcast on Messenger needs a message tag: one of {}.", MESSAGE_TAGS.join(", ")),
                    )),
                    None => Ok(Planned::session()),
                }
            }
            BroadcastRequirement::None => {
                if self.text.is_none() {
                    return Err(problem(
                        "content.text",
                        format!("A message on a {} channel needs a text; templates are WhatsApp's.", caps.label),
                    ));
                }
                Ok(Planned::session())
            }
        }
    }

    /// A one-line preview: the text, or the template with its parameters.
    pub fn preview(&self) -> String {
        match (&self.template, &self.text) {
            (Some(t), _) if t.parameters.is_empty() => format!("[template {} ({})]", t.name, t.language),
            (Some(t), _) => format!("[template {} ({})] {}", t.name, t.language, t.parameters.join(" | ")),
            (None, Some(text)) => text.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Whether `name` is a Twilio Content SID (`HX` and 32 hex digits): Twilio's name for an
/// approved WhatsApp template.
fn is_content_sid(name: &str) -> bool {
    name.strip_prefix("HX").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How a content goes out on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub message_type: MessageType,
    /// Template name or message tag.
    pub subtype: Option<String>,
    /// Whether the message may be sent outside the channel's messaging window.
    pub outside_window: bool,
}

impl Planned {
    pub fn session() -> Planned {
        Planned { message_type: MessageType::Session, subtype: None, outside_window: false }
    }

    fn template(template: &WhatsappTemplate) -> Planned {
        Planned {
            message_type: MessageType::WhatsappTemplate,
            subtype: Some(template.name.clone()),
            outside_window: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> MessageContent {
        MessageContent { text: Some(t.into()), ..Default::default() }
    }

    #[test]
    fn broadcasts_need_what_their_channel_needs() {
        let plain = text("Hola");
        assert_eq!(plain.plan_for(ChannelKind::WhatsappCloud, true).unwrap_err().field, "content.template");
        assert_eq!(plain.plan_for(ChannelKind::Messenger, true).unwrap_err().field, "content.messageTag");
        assert_eq!(plain.plan_for(ChannelKind::Instagram, true).unwrap_err().field, "channelId");
        assert_eq!(plain.plan_for(ChannelKind::Custom, true).unwrap().message_type, MessageType::Session);
        // A single message may be plain text; the window decides whether it arrives.
        assert!(!plain.plan_for(ChannelKind::WhatsappCloud, false).unwrap().outside_window);
        let tagged = MessageContent { message_tag: Some("ACCOUNT_UPDATE".into()), ..text("Hola") };
        let planned = tagged.plan_for(ChannelKind::Messenger, true).unwrap();
        assert_eq!(planned.message_type, MessageType::FacebookMessageTag);
        assert!(planned.outside_window);
    }

    #[test]
    fn templates_and_tags_are_checked() {
        let bad_tag = MessageContent { message_tag: Some("PROMO".into()), ..text("x") };
        assert_eq!(bad_tag.normalized().unwrap_err().field, "content.messageTag");
        let template = WhatsappTemplate { name: "Order Update".into(), language: "es".into(), parameters: vec![] };
        let bad_name = MessageContent { template: Some(template), ..Default::default() };
        assert_eq!(bad_name.normalized().unwrap_err().field, "content.template.name");
        assert_eq!(MessageContent::default().normalized().unwrap_err().field, "content");
        // Twilio names templates by Content SID, the others by WhatsApp name.
        let sid =
            WhatsappTemplate { name: format!("HX{}", "ab12".repeat(8)), language: "es".into(), parameters: vec![] };
        let by_sid = MessageContent { template: Some(sid), ..Default::default() }.normalized().unwrap();
        assert!(by_sid.plan_for(ChannelKind::TwilioWhatsapp, true).is_ok());
        assert_eq!(by_sid.plan_for(ChannelKind::WhatsappCloud, true).unwrap_err().field, "content.template.name");
        let named = WhatsappTemplate { name: "order_update".into(), language: "es".into(), parameters: vec![] };
        let by_name = MessageContent { template: Some(named), ..Default::default() };
        assert_eq!(by_name.plan_for(ChannelKind::TwilioWhatsapp, true).unwrap_err().field, "content.template.name");
    }
}
