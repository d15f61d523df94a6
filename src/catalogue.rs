//! The message catalogue: the reasons the help-centre seeds spell out, in English and in the
//! seeds' Spanish. An error that carries one has a stable `extensions.reason` key; its message
//! is English unless the request's `Accept-Language` prefers Spanish.

/// A reason with a fixed wording (seeds 000 and 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Seed 000: "Segmento de contacto no encontrado".
    SegmentNotFound,
    /// Seed 000: the 500-segment limit.
    SegmentLimitReached,
    /// Seed 000: "El nombre del segmento de contacto debe ser único."
    SegmentNameNotUnique,
    /// Seed 000: the plan's broadcast-message limit.
    BroadcastPlanLimitExceeded,
    /// Seed 000: an empty target segment.
    BroadcastNoContacts,
    /// Seed 000: the target segment is gone.
    BroadcastSegmentNotFound,
    /// The broadcast's channel was deleted before it started (not in the seeds; worded like
    /// their broadcast errors).
    BroadcastChannelUnavailable,
}

/// The language of a response's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    English,
    Spanish,
}

impl Locale {
    /// The first language of `Accept-Language` that the catalogue has (`es`, `es-EC`… are
    /// Spanish), English otherwise. Quality values are honoured.
    pub fn from_accept_language(header: Option<&str>) -> Locale {
        let Some(header) = header else {
            return Locale::English;
        };
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let quality =
                    parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
                Some((quality, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (quality, tag) in ranked {
            if quality <= 0.0 {
                continue;
            }
            let primary = tag.split('-').next().unwrap_or_default().to_ascii_lowercase();
            match primary.as_str() {
                "es" => return Locale::Spanish,
                "en" => return Locale::English,
                _ => {}
            }
        }
        Locale::English
    }
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::SegmentNotFound,
        Reason::SegmentLimitReached,
        Reason::SegmentNameNotUnique,
        Reason::BroadcastPlanLimitExceeded,
        Reason::BroadcastNoContacts,
        Reason::BroadcastSegmentNotFound,
        Reason::BroadcastChannelUnavailable,
    ];

    /// The stable key clients can switch on (`extensions.reason`).
    pub fn key(self) -> &'static str {
        match self {
            Reason::SegmentNotFound => "SEGMENT_NOT_FOUND",
            Reason::SegmentLimitReached => "SEGMENT_LIMIT_REACHED",
            Reason::SegmentNameNotUnique => "SEGMENT_NAME_NOT_UNIQUE",
            Reason::BroadcastPlanLimitExceeded => "BROADCAST_PLAN_LIMIT_EXCEEDED",
            Reason::BroadcastNoContacts => "BROADCAST_NO_CONTACTS",
            Reason::BroadcastSegmentNotFound => "BROADCAST_SEGMENT_NOT_FOUND",
            Reason::BroadcastChannelUnavailable => "BROADCAST_CHANNEL_UNAVAILABLE",
        }
    }

    pub fn from_key(key: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|reason| reason.key() == key)
    }

    pub fn message(self, locale: Locale) -> &'static str {
        match locale {
            Locale::English => self.english(),
            Locale::Spanish => self.spanish(),
        }
    }

    pub fn english(self) -> &'static str {
        match self {
            Reason::SegmentNotFound => "Contact segment not found.",
            Reason::SegmentLimitReached => {
                "Limit reached: the maximum number of segments in a workspace is 500. Delete a segment before creating a new one."
            }
            Reason::SegmentNameNotUnique => "The contact segment name must be unique.",
            Reason::BroadcastPlanLimitExceeded => {
                "Broadcast error: the broadcast messages allowed by the plan were exceeded."
            }
            Reason::BroadcastNoContacts => "Broadcast error: there are no contacts in the target segment.",
            Reason::BroadcastSegmentNotFound => "Broadcast error: the target segment was not found.",
            Reason::BroadcastChannelUnavailable => "Broadcast error: the broadcast's channel is no longer available.",
        }
    }

    /// The seeds' own wording.
    pub fn spanish(self) -> &'static str {
        match self {
            Reason::SegmentNotFound => "Segmento de contacto no encontrado",
            Reason::SegmentLimitReached => {
                "Límite alcanzado: el número máximo de segmentos en un espacio de trabajo es 500. Elimine un segmento antes de crear uno nuevo."
            }
            Reason::SegmentNameNotUnique => "El nombre del segmento de contacto debe ser único.",
            Reason::BroadcastPlanLimitExceeded => {
                "Error de difusión: se excedieron los mensajes de difusión permitidos en el plan."
            }
            Reason::BroadcastNoContacts => "Error de difusión: no hay contactos en el segmento objetivo",
            Reason::BroadcastSegmentNotFound => "Error de difusión: no se encontró el segmento de destino.",
            Reason::BroadcastChannelUnavailable => "Error de difusión: el canal de la difusión ya no está disponible.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_spanish_or_english() {
        assert_eq!(Locale::from_accept_language(None), Locale::English);
        assert_eq!(Locale::from_accept_language(Some("es-EC,es;q=0.9,en;q=0.8")), Locale::Spanish);
        assert_eq!(Locale::from_accept_language(Some("en-US,es;q=0.5")), Locale::English);
        assert_eq!(Locale::from_accept_language(Some("fr, es;q=0.7")), Locale::Spanish);
        assert_eq!(Locale::from_accept_language(Some("es;q=0, en")), Locale::English);
        assert_eq!(Locale::from_accept_language(Some("de")), Locale::English);
    }

    #[test]
    fn keys_round_trip() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_key(reason.key()), Some(reason));
        }
    }
}
