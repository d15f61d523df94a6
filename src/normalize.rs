//! Normalising what people type: phone numbers to E.164, emails, language tags, names.
//! Each function returns the normalised value or a message a person can act on.

use std::str::FromStr;

use phonenumber::country;

/// Parses a phone number and returns it in E.164 (`+593991234567`).
///
/// Numbers written without `+` are read as national numbers of `default_country`
/// (the workspace's), when it has one.
pub fn phone(input: &str, default_country: Option<&str>) -> Result<String, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("The phone number is empty.".into());
    }
    if !trimmed.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!(
            "'{trimmed}' is not a valid phone number. Write it in international format, e.g. +593991234567."
        ));
    }
    let region = default_country.and_then(|c| country::Id::from_str(c).ok());
    if !trimmed.starts_with('+') && !trimmed.starts_with("00") && region.is_none() {
        return Err(format!(
            "'{trimmed}' has no country code. Write it in international format, e.g. +593991234567, \
             or set the workspace's default country."
        ));
    }
    let parsed = phonenumber::parse(region, trimmed).map_err(|err| {
        format!(
            "'{trimmed}' is not a valid phone number ({err}). Write it in international format, e.g. +593991234567."
        )
    })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(format!(
            "'{trimmed}' is not a valid phone number for its country. Write it in international format, e.g. +593991234567."
        ));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// Trims and lower-cases an email address after checking its shape.
pub fn email(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if !email_address::EmailAddress::is_valid(trimmed) {
        return Err(format!("'{trimmed}' is not a valid email address."));
    }
    Ok(trimmed.to_lowercase())
}

/// Checks a BCP 47 language tag of the common shape (`es`, `pt-BR`, `zh-Hant-TW`) and
/// normalises its case (`pt-br` → `pt-BR`).
pub fn language(input: &str) -> Result<String, String> {
    let trimmed = input.trim().replace('_', "-");
    let invalid = || {
        format!(
            "'{}' is not a language tag. Use an ISO 639 code such as 'es', optionally with a region: 'pt-BR'.",
            input.trim()
        )
    };
    let mut parts = trimmed.split('-');
    let primary = parts.next().unwrap_or_default();
    if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid());
    }
    let mut out = primary.to_ascii_lowercase();
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        out.push('-');
        match part.len() {
            2 => out.push_str(&part.to_ascii_uppercase()),
            4 => {
                let mut chars = part.chars();
                out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                out.push_str(&chars.as_str().to_ascii_lowercase());
            }
            _ => out.push_str(&part.to_ascii_lowercase()),
        }
    }
    Ok(out)
}

/// An ISO 3166-1 alpha-2 region code that the phone library knows, upper-cased.
pub fn country(input: &str) -> Result<String, String> {
    let code = input.trim().to_ascii_uppercase();
    match country::Id::from_str(&code) {
        Ok(_) if code.len() == 2 => Ok(code),
        _ => Err(format!("'{}' is not an ISO 3166-1 alpha-2 country code such as 'EC' or 'US'.", input.trim())),
    }
}

/// Trims a free-text name and collapses inner runs of whitespace; `None` when empty.
pub fn name(input: &str, max_chars: usize) -> Result<Option<String>, String> {
    let collapsed = input.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > max_chars {
        return Err(format!("Must be at most {max_chars} characters."));
    }
    if collapsed.chars().any(char::is_control) {
        return Err("Must not contain control characters.".into());
    }
    Ok((!collapsed.is_empty()).then_some(collapsed))
}

/// Like [`name`], but the value is required.
pub fn required_name(input: &str, max_chars: usize) -> Result<String, String> {
    name(input, max_chars)?.ok_or_else(|| "Must not be empty.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164() {
        assert_eq!(phone("+593 99 123 4567", None).unwrap(), "+593991234567");
        assert_eq!(phone("099 123 4567", Some("EC")).unwrap(), "+593991234567");
        assert_eq!(phone("+1 (415) 555-2671", None).unwrap(), "+14155552671");
    }

    #[test]
    fn bad_phones_are_rejected_with_a_reason() {
        assert!(phone("0991234567", None).unwrap_err().contains("no country code"));
        assert!(phone("+593 12", None).unwrap_err().contains("not a valid phone number"));
        assert!(phone("hello", Some("EC")).is_err());
        assert!(phone("", None).is_err());
    }

    #[test]
    fn languages_are_normalised() {
        assert_eq!(language("pt_br").unwrap(), "pt-BR");
        assert_eq!(language("ES").unwrap(), "es");
        assert_eq!(language("zh-hant-tw").unwrap(), "zh-Hant-TW");
        assert!(language("spanish!").is_err());
        assert!(language("e").is_err());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(email("  Ana@Example.COM ").unwrap(), "ana@example.com");
        assert!(email("ana@").is_err());
    }

    #[test]
    fn names_collapse_whitespace() {
        assert_eq!(name("  Ana   María ", 10).unwrap().as_deref(), Some("Ana María"));
        assert_eq!(name("   ", 10).unwrap(), None);
        assert!(name("abcdefghijk", 10).is_err());
    }
}
