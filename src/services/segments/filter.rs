//! The segment filter: ALL/ANY groups of conditions on contacts, stored as JSON in
//! `segments.filter` and compiled to one SQL condition on `contacts` (never filtered in
//! memory).
//!
//! Compiling is done against the workspace as it is when the segment is evaluated: tag names
//! become tag ids (an unknown tag matches nobody), custom field keys find their type (a field
//! deleted since behaves as a value nobody has), dates are read in the workspace's time zone.
//! [`validate`] is the strict check run when a filter is saved or previewed; it names the
//! offending condition by its path, e.g. `all[1].any[0]`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entity::{ContactFieldType, contact, contact_channel, contact_field, contact_tag};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend};
use serde::{Deserialize, Serialize};

use crate::auth::Scope;
use crate::error::{ServiceError, ServiceResult};
use crate::normalize;
use crate::services::{channels, contact_fields, contacts, tags};

/// Deepest nesting of groups, and most conditions, a filter may have.
pub const MAX_DEPTH: usize = 6;
pub const MAX_CONDITIONS: usize = 100;
const MAX_VALUES: usize = 100;

/// A filter: a group of filters, or one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Filter {
    /// Contacts matching every part (an empty group matches everyone).
    All(Vec<Filter>),
    /// Contacts matching at least one part (an empty group matches no one).
    Any(Vec<Filter>),
    Condition(ConditionSpec),
}

impl Default for Filter {
    /// Everyone.
    fn default() -> Self {
        Filter::All(Vec::new())
    }
}

/// One condition on a contact attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionSpec {
    pub field: Field,
    pub operator: Operator,
    /// The custom field's key (CUSTOM_FIELD only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Tag names, channel ids (list operators).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The value compared with (IS, CONTAINS, GREATER_THAN, BEFORE…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// WITHIN_LAST_DAYS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Field {
    Tags,
    FirstName,
    LastName,
    Phone,
    Email,
    Language,
    CustomField,
    Channel,
    CreatedAt,
    LastInteractionAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    HasAnyOf,
    HasAllOf,
    HasNoneOf,
    Is,
    IsNot,
    Contains,
    DoesNotContain,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
    Before,
    After,
    WithinLastDays,
}

/// What the workspace knows that a filter refers to, looked up once per compilation.
struct Lookups {
    backend: DbBackend,
    tz: Tz,
    default_country: Option<String>,
    /// Lower-cased tag name → id.
    tags: HashMap<String, i64>,
    fields: HashMap<String, contact_field::Model>,
    channels: HashSet<i64>,
    now: DateTime<Utc>,
}

/// Checks a filter strictly (before saving or previewing it): every condition's operator
/// must fit its field, values must parse, custom fields and channels must exist.
pub async fn validate(conn: &impl ConnectionTrait, scope: &Scope, filter: &Filter) -> ServiceResult<()> {
    let lookups = lookups(conn, scope, filter).await?;
    let mut count = 0;
    walk(filter, "filter", 1, &mut count, &mut |path, condition| check(condition, path, &lookups).map(drop))
}

/// The SQL condition on `contacts` for `filter`, as the workspace is now.
pub async fn compile(conn: &impl ConnectionTrait, scope: &Scope, filter: &Filter) -> ServiceResult<Condition> {
    let lookups = lookups(conn, scope, filter).await?;
    build(filter, "filter", &lookups)
}

fn walk(
    filter: &Filter,
    path: &str,
    depth: usize,
    count: &mut usize,
    visit: &mut impl FnMut(&str, &ConditionSpec) -> ServiceResult<()>,
) -> ServiceResult<()> {
    if depth > MAX_DEPTH {
        return Err(bad(path, format!("groups nest at most {MAX_DEPTH} deep")));
    }
    match filter {
        Filter::All(parts) | Filter::Any(parts) => {
            let name = if matches!(filter, Filter::All(_)) { "all" } else { "any" };
            for (i, part) in parts.iter().enumerate() {
                walk(part, &format!("{path}.{name}[{i}]"), depth + 1, count, visit)?;
            }
            Ok(())
        }
        Filter::Condition(condition) => {
            *count += 1;
            if *count > MAX_CONDITIONS {
                return Err(bad(path, format!("a filter has at most {MAX_CONDITIONS} conditions")));
            }
            visit(path, condition)
        }
    }
}

fn bad(path: &str, message: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_input("filter", format!("{path}: {message}."))
}

async fn lookups(conn: &impl ConnectionTrait, scope: &Scope, filter: &Filter) -> ServiceResult<Lookups> {
    let mut tag_names = Vec::new();
    let mut channel_ids = Vec::new();
    let mut count = 0;
    walk(filter, "filter", 1, &mut count, &mut |path, condition| {
        // `check` says it too; here so that a huge list never reaches the lookups' `IN (…)`.
        if condition.values.len() > MAX_VALUES {
            return Err(bad(path, format!("a condition takes at most {MAX_VALUES} values")));
        }
        match condition.field {
            Field::Tags => tag_names.extend(condition.values.iter().cloned()),
            Field::Channel => channel_ids.extend(condition.values.iter().filter_map(|v| v.trim().parse::<i64>().ok())),
            _ => {}
        }
        Ok(())
    })?;
    let workspace = scope.get::<entity::workspace::Entity>(conn, "workspace", scope.workspace_id).await?;
    let tz: Tz = workspace.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let tag_names: Vec<String> = tag_names.into_iter().filter(|n| tags::normalize_tag(n).is_ok()).collect();
    let tags =
        tags::find_tags(conn, scope.workspace_id, &tag_names).await?.into_iter().map(|t| (t.name_key, t.id)).collect();
    let channels = channels::live_channels_by_ids(conn, scope.workspace_id, &channel_ids)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(Lookups {
        backend: conn.get_database_backend(),
        tz,
        default_country: workspace.default_country,
        tags,
        fields: contact_fields::definitions(conn, scope).await?,
        channels,
        now: Utc::now(),
    })
}

/// What a condition compares against, once checked.
enum Operand {
    None,
    Text(String),
    Number(f64),
    Bool(bool),
    /// A custom DATE field's value, `YYYY-MM-DD`.
    Date(String),
    Instant(DateTime<Utc>),
    Ids(Vec<i64>),
    /// Tags or channels named but unknown to the workspace: they match nobody.
    UnknownIds,
}

/// Checks one condition and returns its operand; the field type of a custom field comes back
/// with it (`None` when the field does not exist).
fn check(
    condition: &ConditionSpec,
    path: &str,
    lookups: &Lookups,
) -> ServiceResult<(Operand, Option<ContactFieldType>)> {
    use Field::*;
    use Operator::*;
    let op = condition.operator;
    let field = condition.field;
    // PostgreSQL cannot compare text holding NUL (the query fails); nothing stored holds it.
    let texts = condition.value.iter().chain(&condition.values).chain(&condition.key);
    if texts.into_iter().any(|text| text.contains('\0')) {
        return Err(bad(path, "a value may not contain NUL characters"));
    }
    let allowed: &[Operator] = match field {
        Tags => &[HasAnyOf, HasAllOf, HasNoneOf],
        Channel => &[HasAnyOf, HasNoneOf],
        FirstName | LastName | Phone | Email | Language => &[Is, IsNot, Contains, DoesNotContain, Exists, DoesNotExist],
        CreatedAt => &[Before, After, WithinLastDays],
        LastInteractionAt => &[Before, After, WithinLastDays, Exists, DoesNotExist],
        CustomField => &[Is, IsNot, Contains, DoesNotContain, Exists, DoesNotExist, GreaterThan, LessThan],
    };
    if !allowed.contains(&op) {
        return Err(bad(
            path,
            format!("{} does not apply to {}; use one of {}", name(op), name(field), names(allowed)),
        ));
    }
    let field_type = match field {
        CustomField => {
            let key = condition.key.as_deref().map(str::trim).filter(|k| !k.is_empty());
            let key = key.ok_or_else(|| bad(path, "CUSTOM_FIELD needs the field's key"))?;
            let definition = lookups.fields.get(key);
            if definition.is_none() {
                return Err(bad(path, format!("'{key}' is not a contact field of this workspace")));
            }
            definition.map(|d| d.field_type)
        }
        _ => None,
    };
    let value = || condition.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let need_value = || value().ok_or_else(|| bad(path, format!("{} needs a value", name(op))));
    let operand = match op {
        Exists | DoesNotExist => Operand::None,
        HasAnyOf | HasAllOf | HasNoneOf => {
            if condition.values.is_empty() || condition.values.len() > MAX_VALUES {
                return Err(bad(path, format!("{} needs 1 to {MAX_VALUES} values", name(op))));
            }
            if field == Tags {
                let mut ids = Vec::new();
                let mut unknown = false;
                for tag in &condition.values {
                    let (_, key) =
                        tags::normalize_tag(tag).map_err(|_| bad(path, format!("'{tag}' is not a tag name")))?;
                    match lookups.tags.get(&key) {
                        Some(id) => ids.push(*id),
                        None => unknown = true,
                    }
                }
                // HAS_ALL_OF an unknown tag can match nobody; elsewhere unknown tags just add nothing.
                if ids.is_empty() || (unknown && op == HasAllOf) { Operand::UnknownIds } else { Operand::Ids(ids) }
            } else {
                let mut ids = Vec::new();
                for value in &condition.values {
                    let id =
                        value.trim().parse::<i64>().map_err(|_| bad(path, format!("'{value}' is not a channel id")))?;
                    if !lookups.channels.contains(&id) {
                        return Err(bad(path, format!("there is no channel {id} in this workspace")));
                    }
                    ids.push(id);
                }
                Operand::Ids(ids)
            }
        }
        WithinLastDays => match condition.days {
            Some(days) if (1..=36_500).contains(&days) => Operand::Instant(lookups.start_of_last_days(days)),
            _ => return Err(bad(path, "WITHIN_LAST_DAYS needs days between 1 and 36500")),
        },
        Before | After => Operand::Instant(lookups.instant(need_value()?, op == After).map_err(|m| bad(path, m))?),
        Is | IsNot | Contains | DoesNotContain | GreaterThan | LessThan => {
            let raw = need_value()?;
            match field_type {
                Some(ContactFieldType::Number) => {
                    if matches!(op, Contains | DoesNotContain) {
                        return Err(bad(path, "CONTAINS applies to text, not to a NUMBER field"));
                    }
                    Operand::Number(
                        raw.parse::<f64>()
                            .ok()
                            .filter(|n| n.is_finite())
                            .ok_or_else(|| bad(path, format!("'{raw}' is not a number")))?,
                    )
                }
                Some(ContactFieldType::Date) => {
                    if matches!(op, Contains | DoesNotContain) {
                        return Err(bad(path, "CONTAINS applies to text, not to a DATE field"));
                    }
                    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                        .map_err(|_| bad(path, format!("'{raw}' is not a date written YYYY-MM-DD")))?;
                    Operand::Date(date.format("%Y-%m-%d").to_string())
                }
                Some(ContactFieldType::Boolean) => {
                    if !matches!(op, Is | IsNot) {
                        return Err(bad(path, "a BOOLEAN field takes IS, IS_NOT, EXISTS or DOES_NOT_EXIST"));
                    }
                    match raw.to_ascii_lowercase().as_str() {
                        "true" | "yes" | "1" => Operand::Bool(true),
                        "false" | "no" | "0" => Operand::Bool(false),
                        _ => return Err(bad(path, format!("'{raw}' is not true or false"))),
                    }
                }
                Some(ContactFieldType::Text) | None => {
                    if matches!(op, GreaterThan | LessThan) {
                        return Err(bad(path, "GREATER_THAN and LESS_THAN apply to NUMBER and DATE fields"));
                    }
                    if matches!(op, Contains | DoesNotContain) && raw.chars().count() > contacts::MAX_SEARCH_CHARS {
                        let limit = contacts::MAX_SEARCH_CHARS;
                        return Err(bad(path, format!("{} takes a value of at most {limit} characters", name(op))));
                    }
                    let text = match (field, op) {
                        (Phone, Is | IsNot) => {
                            normalize::phone(raw, lookups.default_country.as_deref()).unwrap_or_else(|_| raw.to_owned())
                        }
                        _ => raw.to_owned(),
                    };
                    Operand::Text(text)
                }
            }
        }
    };
    Ok((operand, field_type))
}

impl Lookups {
    /// Midnight (workspace time) of the day `days - 1` days ago: WITHIN_LAST_DAYS 1 is today,
    /// 7 is today and the six days before.
    fn start_of_last_days(&self, days: u32) -> DateTime<Utc> {
        let today = self.now.with_timezone(&self.tz).date_naive();
        let first = today.checked_sub_days(Days::new(u64::from(days - 1))).unwrap_or(NaiveDate::MIN);
        self.local_midnight(first)
    }

    fn local_midnight(&self, date: NaiveDate) -> DateTime<Utc> {
        let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        // Where midnight is skipped (a DST gap) the earliest valid local time is used.
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            chrono::LocalResult::None => self.tz.from_utc_datetime(&naive).with_timezone(&Utc),
        }
    }

    /// BEFORE/AFTER operand: a date (local day; AFTER means from the next day on) or an
    /// RFC 3339 instant.
    fn instant(&self, raw: &str, after: bool) -> Result<DateTime<Utc>, String> {
        if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            let day = if after { date.checked_add_days(Days::new(1)).unwrap_or(date) } else { date };
            return Ok(self.local_midnight(day));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("'{raw}' is not a date (YYYY-MM-DD) or an RFC 3339 time"))
    }
}

fn build(filter: &Filter, path: &str, lookups: &Lookups) -> ServiceResult<Condition> {
    Ok(match filter {
        Filter::All(parts) => {
            let mut all = Condition::all();
            for (i, part) in parts.iter().enumerate() {
                all = all.add(build(part, &format!("{path}.all[{i}]"), lookups)?);
            }
            all
        }
        Filter::Any(parts) => {
            if parts.is_empty() {
                return Ok(Condition::all().add(Expr::cust("1 = 0")));
            }
            let mut any = Condition::any();
            for (i, part) in parts.iter().enumerate() {
                any = any.add(build(part, &format!("{path}.any[{i}]"), lookups)?);
            }
            any
        }
        Filter::Condition(condition) => condition_sql(condition, path, lookups)?,
    })
}

/// `NOT (x)` that also holds where `x` is unknown (NULL): "is not" includes contacts
/// without a value.
fn not_or_null(positive: SimpleExpr, value: SimpleExpr) -> Condition {
    Condition::any().add(value.is_null()).add(positive.not())
}

fn never() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

fn always() -> Condition {
    Condition::all()
}

fn condition_sql(condition: &ConditionSpec, path: &str, lookups: &Lookups) -> ServiceResult<Condition> {
    use Operator::*;
    let (operand, field_type) = match check(condition, path, lookups) {
        Ok(checked) => checked,
        // A custom field deleted after the segment was saved: no contact has a value for it.
        Err(_) if condition.field == Field::CustomField && !has_field(condition, lookups) => {
            return Ok(match condition.operator {
                IsNot | DoesNotContain | DoesNotExist => always(),
                _ => never(),
            });
        }
        Err(err) => return Err(err),
    };
    let op = condition.operator;
    let column = |c: contact::Column| Expr::col((contact::Entity, c));
    Ok(match condition.field {
        Field::Tags => match (operand, op) {
            (Operand::UnknownIds, HasNoneOf) => always(),
            (Operand::UnknownIds, _) => never(),
            (Operand::Ids(ids), HasAnyOf) => Condition::all().add(tagged(ids)),
            (Operand::Ids(ids), HasNoneOf) => Condition::all().add(tagged(ids).not()),
            (Operand::Ids(ids), _) => ids.into_iter().fold(Condition::all(), |all, id| all.add(tagged(vec![id]))),
            _ => never(),
        },
        Field::Channel => match operand {
            Operand::Ids(ids) => {
                let has = Expr::exists(
                    Query::select()
                        .expr(Expr::val(1))
                        .from(contact_channel::Entity)
                        .and_where(
                            Expr::col((contact_channel::Entity, contact_channel::Column::ContactId))
                                .equals((contact::Entity, contact::Column::Id)),
                        )
                        .and_where(contact_channel::Column::ChannelId.is_in(ids))
                        .to_owned(),
                );
                Condition::all().add(if op == HasNoneOf { has.not() } else { has })
            }
            _ => never(),
        },
        Field::FirstName | Field::LastName | Field::Phone | Field::Email | Field::Language => {
            let col = match condition.field {
                Field::FirstName => contact::Column::FirstName,
                Field::LastName => contact::Column::LastName,
                Field::Phone => contact::Column::Phone,
                Field::Email => contact::Column::Email,
                _ => contact::Column::Language,
            };
            text_condition(column(col), op, &operand)
        }
        Field::CreatedAt | Field::LastInteractionAt => {
            let col = if condition.field == Field::CreatedAt {
                contact::Column::CreatedAt
            } else {
                contact::Column::LastInteractionAt
            };
            match (op, operand) {
                (Exists, _) => Condition::all().add(col.is_not_null()),
                (DoesNotExist, _) => Condition::all().add(col.is_null()),
                (Before, Operand::Instant(t)) => Condition::all().add(col.lt(t)),
                (After | WithinLastDays, Operand::Instant(t)) => Condition::all().add(col.gte(t)),
                _ => never(),
            }
        }
        Field::CustomField => {
            let key = condition.key.as_deref().unwrap_or_default().trim();
            custom_condition(lookups.backend, key, field_type, op, &operand)
        }
    })
}

fn has_field(condition: &ConditionSpec, lookups: &Lookups) -> bool {
    condition.key.as_deref().is_some_and(|key| lookups.fields.contains_key(key.trim()))
}

/// `EXISTS (SELECT 1 FROM contact_tags WHERE contact_id = contacts.id AND tag_id IN (…))`.
fn tagged(ids: Vec<i64>) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(contact_tag::Entity)
            .and_where(
                Expr::col((contact_tag::Entity, contact_tag::Column::ContactId))
                    .equals((contact::Entity, contact::Column::Id)),
            )
            .and_where(contact_tag::Column::TagId.is_in(ids))
            .to_owned(),
    )
}

/// Case-insensitive text comparisons on a nullable text expression.
fn text_condition(value: SimpleExpr, op: Operator, operand: &Operand) -> Condition {
    use Operator::*;
    let lower = || SimpleExpr::from(Func::lower(value.clone()));
    let text = match operand {
        Operand::Text(t) => t.to_lowercase(),
        _ => String::new(),
    };
    match op {
        Exists => Condition::all().add(value.clone().is_not_null()).add(value.clone().ne("")),
        DoesNotExist => Condition::any().add(value.clone().is_null()).add(value.clone().eq("")),
        Is => Condition::all().add(lower().eq(text)),
        IsNot => not_or_null(lower().eq(text), value),
        Contains => Condition::all().add(lower().like(crate::db::contains_pattern(&text))),
        DoesNotContain => not_or_null(lower().like(crate::db::contains_pattern(&text)), value),
        _ => never(),
    }
}

/// Conditions on `contacts.custom_fields ->> key`, per backend and field type.
fn custom_condition(
    backend: DbBackend,
    key: &str,
    field_type: Option<ContactFieldType>,
    op: Operator,
    operand: &Operand,
) -> Condition {
    use Operator::*;
    let postgres = backend == DbBackend::Postgres;
    let path = format!("$.{key}");
    // The JSON type of the value ('string', 'number', 'boolean'; NULL when absent).
    let json_type = if postgres {
        Expr::cust_with_values("jsonb_typeof(contacts.custom_fields -> $1)", [key])
    } else {
        Expr::cust_with_values(
            "(CASE json_type(contacts.custom_fields, ?) WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' \
             WHEN 'real' THEN 'number' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' END)",
            [path.as_str()],
        )
    };
    let as_text = || {
        if postgres {
            Expr::cust_with_values("(contacts.custom_fields ->> $1)", [key])
        } else {
            Expr::cust_with_values("json_extract(contacts.custom_fields, ?)", [path.as_str()])
        }
    };
    let as_number = || {
        if postgres {
            Expr::cust_with_values(
                "(CASE WHEN jsonb_typeof(contacts.custom_fields -> $1) = 'number' THEN (contacts.custom_fields ->> $2)::double precision END)",
                [key, key],
            )
        } else {
            Expr::cust_with_values(
                "(CASE WHEN json_type(contacts.custom_fields, ?) IN ('integer', 'real') THEN json_extract(contacts.custom_fields, ?) END)",
                [path.as_str(), path.as_str()],
            )
        }
    };
    let as_bool_text = || {
        if postgres {
            Expr::cust_with_values("(contacts.custom_fields ->> $1)", [key])
        } else {
            Expr::cust_with_values(
                "(CASE json_type(contacts.custom_fields, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)",
                [path.as_str()],
            )
        }
    };
    match (op, operand) {
        (Exists, _) => match field_type {
            Some(ContactFieldType::Text) | None => Condition::all().add(as_text().is_not_null()).add(as_text().ne("")),
            _ => Condition::all().add(json_type.is_not_null()),
        },
        (DoesNotExist, _) => match field_type {
            Some(ContactFieldType::Text) | None => Condition::any().add(as_text().is_null()).add(as_text().eq("")),
            _ => Condition::all().add(json_type.is_null()),
        },
        (Is | IsNot | GreaterThan | LessThan, Operand::Number(n)) => {
            let cmp = match op {
                Is | IsNot => as_number().eq(*n),
                GreaterThan => as_number().gt(*n),
                _ => as_number().lt(*n),
            };
            if op == IsNot { not_or_null(cmp, as_number()) } else { Condition::all().add(cmp) }
        }
        (Is | IsNot | GreaterThan | LessThan, Operand::Date(d)) => {
            let cmp = match op {
                Is | IsNot => as_text().eq(d.as_str()),
                GreaterThan => as_text().gt(d.as_str()),
                _ => as_text().lt(d.as_str()),
            };
            if op == IsNot { not_or_null(cmp, as_text()) } else { Condition::all().add(cmp) }
        }
        (Is | IsNot, Operand::Bool(b)) => {
            let cmp = as_bool_text().eq(if *b { "true" } else { "false" });
            if op == IsNot { not_or_null(cmp, as_bool_text()) } else { Condition::all().add(cmp) }
        }
        (_, Operand::Text(_)) => text_condition(as_text(), op, operand),
        _ => never(),
    }
}

fn name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn names(values: &[Operator]) -> String {
    values.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")
}
