//! Importing contacts from CSV ("Importar contactos"): add only, update only, or add and
//! update, matching rows to contacts by contact ID, phone or email.
//!
//! Every row is read and checked first; rows that cannot be used are reported with their line
//! and a reason a person can act on, and the good ones are kept. Then everything is applied,
//! set-based, in one transaction: a failure halfway leaves nothing half-applied.
//!
//! The file: UTF-8 with or without BOM, `,` or `;` separated (detected from the header line
//! unless given), quoted fields, LF or CRLF. The first line is the header; columns are mapped
//! by name (see [`ColumnField::from_header`]) unless a mapping is given.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use entity::{Role, contact, contact_field, workspace};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::Scope;
use crate::db::portable;
use crate::error::{ServiceError, ServiceResult};
use crate::events::Event;
use crate::normalize;
use crate::services::{contact_fields, tags};

/// Problems listed in a report at most (the counts cover them all).
pub const MAX_PROBLEMS: usize = 1000;
/// Rows per statement when reading by key and writing contacts: 11 columns × 2500 stays under
/// SQLite's 32,766 bound parameters. Fewer, larger statements cost less to parse and send.
const CHUNK: usize = 2500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Create contacts; rows matching an existing contact are skipped.
    AddOnly,
    /// Update existing contacts; rows matching none are rejected.
    UpdateOnly,
    /// Update the matching contact, create the others.
    AddAndUpdate,
}

/// What rows are matched to existing contacts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    ContactId,
    Phone,
    Email,
}

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnField {
    ContactId,
    FirstName,
    LastName,
    Phone,
    Email,
    Language,
    /// Tags separated by `,` or `;`.
    Tags,
    /// A custom field, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

impl ColumnField {
    /// The field a header names, by the names Pregón's own exports use and their usual
    /// English and Spanish spellings; custom fields by key or label.
    pub fn from_header(header: &str, fields: &HashMap<String, contact_field::Model>) -> ColumnField {
        let name = header.trim().to_lowercase().replace(['_', '-'], " ");
        match name.as_str() {
            "contact id" | "contactid" | "id" | "id de contacto" | "id del contacto" => ColumnField::ContactId,
            "first name" | "firstname" | "nombre" | "nombres" => ColumnField::FirstName,
            "last name" | "lastname" | "apellido" | "apellidos" => ColumnField::LastName,
            "phone" | "phone number" | "telephone" | "mobile" | "teléfono" | "telefono" | "celular" | "móvil"
            | "movil" => ColumnField::Phone,
            "email" | "e mail" | "email address" | "correo" | "correo electrónico" | "correo electronico" => {
                ColumnField::Email
            }
            "language" | "lang" | "idioma" => ColumnField::Language,
            "tags" | "tag" | "etiquetas" | "etiqueta" => ColumnField::Tags,
            _ => fields
                .values()
                .find(|f| f.key == header.trim() || f.name.to_lowercase() == header.trim().to_lowercase())
                .map(|f| ColumnField::Custom(f.key.clone()))
                .unwrap_or(ColumnField::Ignore),
        }
    }
}

/// A column the caller maps explicitly.
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    /// The header, as written in the file (matched without regard to case or spaces around).
    pub column: String,
    pub field: ColumnField,
}

#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub csv: Vec<u8>,
    pub mode: ImportMode,
    pub identifier: Identifier,
    /// Tags put on every imported contact (created and updated).
    pub tags: Vec<String>,
    pub mapping: Option<Vec<ColumnMapping>>,
    /// `,` or `;`; detected from the header line when `None`.
    pub delimiter: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Left alone on purpose (ADD_ONLY and the contact exists).
    Skipped,
    /// Could not be used.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub outcome: Outcome,
    /// The column at fault, when one is.
    pub column: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// How each header was understood.
    pub columns: Vec<(String, ColumnField)>,
    /// The first [`MAX_PROBLEMS`] skipped or rejected rows.
    pub problems: Vec<Problem>,
    pub problems_truncated: bool,
}

impl ImportReport {
    fn problem(&mut self, line: u64, outcome: Outcome, column: Option<&str>, reason: String) {
        match outcome {
            Outcome::Skipped => self.skipped += 1,
            Outcome::Rejected => self.rejected += 1,
        }
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { line, outcome, column: column.map(str::to_owned), reason });
        } else {
            self.problems_truncated = true;
        }
    }
}

/// One usable row.
#[derive(Debug, Default)]
struct Row {
    line: u64,
    id: Option<i64>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    language: Option<String>,
    tags: Vec<String>,
    custom: Map<String, Value>,
}

impl Row {
    fn key(&self, identifier: Identifier) -> Option<String> {
        match identifier {
            Identifier::ContactId => self.id.map(|id| id.to_string()),
            Identifier::Phone => self.phone.clone(),
            Identifier::Email => self.email.clone(),
        }
    }

    fn has_identity(&self) -> bool {
        self.first_name.is_some() || self.last_name.is_some() || self.phone.is_some() || self.email.is_some()
    }
}

fn identifier_name(identifier: Identifier) -> &'static str {
    match identifier {
        Identifier::ContactId => "contact ID",
        Identifier::Phone => "phone",
        Identifier::Email => "email",
    }
}

pub async fn import_contacts(app: &App, scope: &Scope, request: ImportRequest) -> ServiceResult<ImportReport> {
    scope.require(Role::Manager, "Importing contacts")?;
    if request.mode == ImportMode::AddOnly && request.identifier == Identifier::ContactId {
        return Err(ServiceError::bad_input(
            "identifier",
            "ADD_ONLY creates contacts, which have no ID yet: match by PHONE or EMAIL, or use UPDATE_ONLY.",
        ));
    }
    tags::check_tag_count(&request.tags)?;
    let import_tags: Vec<String> =
        request.tags.iter().map(|t| tags::normalize_tag(t).map(|(name, _)| name)).collect::<Result<_, _>>()?;
    let workspace = scope.get::<workspace::Entity>(&app.db, "workspace", scope.workspace_id).await?;
    let definitions = contact_fields::definitions(&app.db, scope).await?;

    let started = std::time::Instant::now();
    // Reading and checking rows is CPU work (phone numbers above all): off the async workers.
    let mode = request.mode;
    let identifier = request.identifier;
    let (columns, rows, mut report) =
        tokio::task::spawn_blocking(move || read_rows(&request, &definitions, workspace.default_country.as_deref()))
            .await
            .map_err(ServiceError::internal)??;
    report.columns = columns;
    let read = started.elapsed();

    // Match rows to existing contacts, and decide each row's fate.
    let keys: Vec<String> = rows.iter().filter_map(|row| row.key(identifier)).collect();
    let existing = find_existing(&app.db, scope.workspace_id, identifier, &keys).await?;
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for row in rows {
        let key = row.key(identifier);
        let matched = key.as_ref().and_then(|k| existing.get(k)).copied();
        let what = identifier_name(identifier);
        match (mode, matched, key) {
            (ImportMode::AddOnly, Some(id), _) => {
                report.problem(
                    row.line,
                    Outcome::Skipped,
                    None,
                    format!("Already exists as contact {id} (same {what})."),
                );
            }
            (ImportMode::UpdateOnly | ImportMode::AddAndUpdate, Some(id), _) => updates.push((id, row)),
            (_, None, Some(key)) if identifier == Identifier::ContactId || mode == ImportMode::UpdateOnly => {
                report.problem(
                    row.line,
                    Outcome::Rejected,
                    None,
                    format!("No contact with {what} {key} in this workspace."),
                );
            }
            (ImportMode::UpdateOnly, None, None) => {
                report.problem(row.line, Outcome::Rejected, None, format!("No {what} to find the contact by."));
            }
            (_, None, _) if !row.has_identity() => {
                report.problem(
                    row.line,
                    Outcome::Rejected,
                    None,
                    "Nothing to create a contact from: give at least a name, a phone or an email.".into(),
                );
            }
            (_, None, _) => creates.push(row),
        }
    }

    let matched = started.elapsed();
    let txn = crate::db::begin_write(&app.db).await?;
    let now = Utc::now();
    let mut tagged: Vec<(i64, Vec<String>)> = Vec::with_capacity(creates.len() + updates.len());
    let backend = txn.get_database_backend();
    for chunk in creates.chunks(CHUNK) {
        let mut ids = insert_contacts(&txn, backend, scope.workspace_id, chunk, now).await?;
        // Ids are handed out in insertion order within a statement; RETURNING's order is not
        // promised, so sort before pairing them with the rows.
        ids.sort_unstable();
        tagged.extend(ids.into_iter().zip(chunk.iter().map(|row| row.tags.clone())));
    }
    for chunk in updates.chunks(CHUNK) {
        txn.execute_raw(update_statement(backend, scope.workspace_id, chunk, now)).await?;
        tagged.extend(chunk.iter().map(|(id, row)| (*id, row.tags.clone())));
    }
    link_tags(&txn, scope.workspace_id, &import_tags, &tagged).await?;
    txn.commit().await?;
    if tagged.len() >= 10_000 {
        crate::db::refresh_statistics(&app.db).await;
    }

    report.created = creates.len() as u64;
    report.updated = updates.len() as u64;
    if report.created + report.updated > 0 {
        app.events.publish(Event::ContactsImported {
            workspace_id: scope.workspace_id,
            count: report.created + report.updated,
        });
    }
    tracing::info!(
        workspace = scope.workspace_id,
        rows = report.rows_read,
        created = report.created,
        updated = report.updated,
        skipped = report.skipped,
        rejected = report.rejected,
        read_ms = read.as_millis() as u64,
        match_ms = (matched - read).as_millis() as u64,
        write_ms = (started.elapsed() - matched).as_millis() as u64,
        "contacts imported"
    );
    Ok(report)
}

/// The delimiter of the header line: whichever of `,`, `;` and tab occurs most outside quotes.
fn detect_delimiter(csv: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &byte in csv.iter().take_while(|&&b| b != b'\n') {
        match byte {
            b'"' => quoted = !quoted,
            _ if !quoted => {
                if let Some(entry) = counts.iter_mut().find(|(d, _)| *d == byte) {
                    entry.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts.iter().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map(|(d, _)| *d).unwrap_or(b',')
}

type Columns = Vec<(String, ColumnField)>;

/// Parses and checks every row.
fn read_rows(
    request: &ImportRequest,
    definitions: &HashMap<String, contact_field::Model>,
    default_country: Option<&str>,
) -> ServiceResult<(Columns, Vec<Row>, ImportReport)> {
    let csv = request.csv.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&request.csv);
    if csv.iter().all(u8::is_ascii_whitespace) {
        return Err(ServiceError::bad_input("csv", "The file is empty: it needs a header line and rows."));
    }
    let delimiter = request.delimiter.unwrap_or_else(|| detect_delimiter(csv));
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(csv);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        _ => return Err(ServiceError::bad_input("csv", "The header line cannot be read.")),
    };
    let header: Vec<String> = header
        .iter()
        .map(|cell| std::str::from_utf8(cell).map(|s| s.trim().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|_| ServiceError::bad_input("csv", "The header is not UTF-8 text: save the file as UTF-8 CSV."))?;
    let columns = map_columns(&header, request.mapping.as_deref(), definitions)?;
    let needed = match request.identifier {
        Identifier::ContactId => ColumnField::ContactId,
        Identifier::Phone => ColumnField::Phone,
        Identifier::Email => ColumnField::Email,
    };
    if !columns.iter().any(|(_, field)| *field == needed) {
        return Err(ServiceError::bad_input(
            "identifier",
            format!(
                "No column holds the {} that rows are matched by. Columns: {}. Name one accordingly or pass a mapping.",
                identifier_name(request.identifier),
                header.join(", ")
            ),
        ));
    }

    let mut report = ImportReport::default();
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        report.rows_read += 1;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let line = err.position().map(|p| p.line()).unwrap_or(0);
                report.problem(line, Outcome::Rejected, None, format!("Malformed line: {err}."));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() > header.len() {
            let reason = format!("Malformed line: {} fields, but the header has {}.", record.len(), header.len());
            report.problem(line, Outcome::Rejected, None, reason);
            continue;
        }
        match read_row(line, &record, &columns, definitions, default_country) {
            Ok(row) => {
                if let Some(key) = row.key(request.identifier) {
                    if let Some(first) = seen.get(&key) {
                        let what = identifier_name(request.identifier);
                        let reason = format!("Duplicate in the file: line {first} has the same {what} ({key}).");
                        report.problem(line, Outcome::Rejected, None, reason);
                        continue;
                    }
                    seen.insert(key, line);
                }
                rows.push(row);
            }
            Err((column, reason)) => report.problem(line, Outcome::Rejected, Some(&column), reason),
        }
    }
    Ok((columns, rows, report))
}

fn map_columns(
    header: &[String],
    mapping: Option<&[ColumnMapping]>,
    definitions: &HashMap<String, contact_field::Model>,
) -> ServiceResult<Columns> {
    let mut columns: Columns = match mapping {
        None => header.iter().map(|h| (h.clone(), ColumnField::from_header(h, definitions))).collect(),
        Some(mapping) => {
            let mut columns: Columns = header.iter().map(|h| (h.clone(), ColumnField::Ignore)).collect();
            for item in mapping {
                let wanted = item.column.trim().to_lowercase();
                let Some(slot) = columns.iter_mut().find(|(h, _)| h.to_lowercase() == wanted) else {
                    return Err(ServiceError::bad_input(
                        "mapping",
                        format!("No column named '{}' in the header ({}).", item.column.trim(), header.join(", ")),
                    ));
                };
                if let ColumnField::Custom(key) = &item.field
                    && !definitions.contains_key(key)
                {
                    return Err(ServiceError::bad_input(
                        "mapping",
                        format!(
                            "'{key}' is not a contact field of this workspace; create it first with createContactField."
                        ),
                    ));
                }
                slot.1 = item.field.clone();
            }
            columns
        }
    };
    // One column per field: the first wins, later ones are reported as ignored.
    let mut taken = Vec::new();
    for (_, field) in &mut columns {
        if *field == ColumnField::Ignore {
            continue;
        }
        if taken.contains(field) {
            *field = ColumnField::Ignore;
        } else {
            taken.push(field.clone());
        }
    }
    Ok(columns)
}

/// Reads one row; on failure, the column at fault and the reason.
fn read_row(
    line: u64,
    record: &csv::ByteRecord,
    columns: &Columns,
    definitions: &HashMap<String, contact_field::Model>,
    default_country: Option<&str>,
) -> Result<Row, (String, String)> {
    let mut row = Row { line, ..Row::default() };
    for (index, (column, field)) in columns.iter().enumerate() {
        if *field == ColumnField::Ignore {
            continue;
        }
        let raw = record.get(index).unwrap_or_default();
        let fail = |reason: String| (column.clone(), format!("{column}: {reason}"));
        let text =
            std::str::from_utf8(raw).map_err(|_| fail("not UTF-8 text; save the file as UTF-8 CSV.".into()))?.trim();
        // A cell an export neutralised against formula injection comes back as it was stored.
        let text = crate::services::exports::uncell(text);
        if text.contains('\0') {
            return Err(fail("holds a NUL character; save the file as UTF-8 text CSV.".into()));
        }
        if text.is_empty() {
            continue;
        }
        match field {
            ColumnField::ContactId => {
                row.id = Some(
                    text.parse::<i64>()
                        .ok()
                        .filter(|id| *id > 0)
                        .ok_or_else(|| fail(format!("'{text}' is not a contact ID.")))?,
                );
            }
            ColumnField::FirstName => row.first_name = normalize::name(text, 100).map_err(fail)?,
            ColumnField::LastName => row.last_name = normalize::name(text, 100).map_err(fail)?,
            ColumnField::Phone => row.phone = Some(normalize::phone(text, default_country).map_err(fail)?),
            ColumnField::Email => row.email = Some(normalize::email(text).map_err(fail)?),
            ColumnField::Language => row.language = Some(normalize::language(text).map_err(fail)?),
            ColumnField::Tags => {
                for tag in text.split([',', ';']).map(str::trim).filter(|t| !t.is_empty()) {
                    let (name, _) = tags::normalize_tag(tag).map_err(|err| fail(err.to_string()))?;
                    row.tags.push(name);
                }
            }
            ColumnField::Custom(key) => {
                let definition =
                    definitions.get(key).ok_or_else(|| fail(format!("'{key}' is not a contact field.")))?;
                let value = contact_fields::check_value(definition, &Value::String(text.to_owned())).map_err(fail)?;
                row.custom.insert(key.clone(), value);
            }
            ColumnField::Ignore => {}
        }
    }
    Ok(row)
}

/// Existing contacts by the identifier's value (the oldest when several share it).
async fn find_existing(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    identifier: Identifier,
    keys: &[String],
) -> ServiceResult<HashMap<String, i64>> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let base = contact::Entity::find().filter(contact::Column::WorkspaceId.eq(workspace_id));
        let pairs: Vec<(i64, Option<String>)> = match identifier {
            Identifier::ContactId => {
                let ids: Vec<i64> = chunk.iter().filter_map(|k| k.parse().ok()).collect();
                base.filter(contact::Column::Id.is_in(ids))
                    .select_only()
                    .column(contact::Column::Id)
                    .into_tuple::<i64>()
                    .all(conn)
                    .await?
                    .into_iter()
                    .map(|id| (id, Some(id.to_string())))
                    .collect()
            }
            Identifier::Phone | Identifier::Email => {
                let column =
                    if identifier == Identifier::Phone { contact::Column::Phone } else { contact::Column::Email };
                // No ORDER BY: it would tempt SQLite (without fresh statistics) to walk the
                // (workspace_id, id) index instead of (workspace_id, phone|email); the
                // oldest match is kept below instead.
                base.filter(column.is_in(chunk.iter().cloned()))
                    .select_only()
                    .column(contact::Column::Id)
                    .column(column)
                    .into_tuple::<(i64, Option<String>)>()
                    .all(conn)
                    .await?
            }
        };
        for (id, key) in pairs {
            if let Some(key) = key {
                found.entry(key).and_modify(|oldest: &mut i64| *oldest = (*oldest).min(id)).or_insert(id);
            }
        }
    }
    Ok(found)
}

/// Inserts a chunk of new contacts and returns their ids. PostgreSQL gets each column as one
/// array (`UNNEST`): a handful of parameters instead of thousands to parse and bind.
async fn insert_contacts(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    workspace_id: i64,
    rows: &[Row],
    now: chrono::DateTime<Utc>,
) -> ServiceResult<Vec<i64>> {
    if backend == DbBackend::Postgres {
        let sql = "INSERT INTO contacts (workspace_id, first_name, last_name, phone, email, language, custom_fields, created_at, updated_at) \
                   SELECT $1, NULLIF(u.first_name, ''), NULLIF(u.last_name, ''), NULLIF(u.phone, ''), \
                   NULLIF(u.email, ''), NULLIF(u.language, ''), CAST(u.custom AS jsonb), $8, $8 \
                   FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                   AS u(first_name, last_name, phone, email, language, custom) RETURNING id";
        let values = vec![
            workspace_id.into(),
            text_array(rows.iter().map(|r| r.first_name.clone())),
            text_array(rows.iter().map(|r| r.last_name.clone())),
            text_array(rows.iter().map(|r| r.phone.clone())),
            text_array(rows.iter().map(|r| r.email.clone())),
            text_array(rows.iter().map(|r| r.language.clone())),
            text_array(rows.iter().map(|r| Some(Value::Object(r.custom.clone()).to_string()))),
            now.into(),
        ];
        let found = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
        return found.iter().map(|row| row.try_get::<i64>("", "id").map_err(ServiceError::from)).collect();
    }
    let models = rows.iter().map(|row| contact::ActiveModel {
        workspace_id: Set(workspace_id),
        first_name: Set(row.first_name.clone()),
        last_name: Set(row.last_name.clone()),
        phone: Set(row.phone.clone()),
        email: Set(row.email.clone()),
        language: Set(row.language.clone()),
        custom_fields: Set(Value::Object(row.custom.clone())),
        last_interaction_at: Set(None),
        last_interacted_channel_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    Ok(contact::Entity::insert_many(models).exec_with_returning_keys(conn).await?)
}

/// A PostgreSQL `text[]` parameter. The binding cannot carry NULL elements, so a missing
/// value travels as `''` and the SQL turns it back with `NULLIF(…, '')`; imported values are
/// never empty strings (an empty cell is no value).
fn text_array(values: impl Iterator<Item = Option<String>>) -> sea_orm::Value {
    values.map(Option::unwrap_or_default).collect::<Vec<String>>().into()
}

/// One `UPDATE … FROM` for a chunk of rows (`UNNEST` of arrays on PostgreSQL, a `VALUES`
/// CTE on SQLite): given values replace, empty cells leave the contact's value, custom values
/// merge into the stored ones.
fn update_statement(
    backend: DbBackend,
    workspace_id: i64,
    rows: &[(i64, Row)],
    now: chrono::DateTime<Utc>,
) -> sea_orm::Statement {
    // NULLIF: PostgreSQL's arrays carry a missing value as '' (see `text_array`); in SQLite's
    // VALUES it is NULL already, and NULLIF leaves NULL alone.
    const SET: &str = "first_name = COALESCE(NULLIF(v.first_name, ''), contacts.first_name), \
         last_name = COALESCE(NULLIF(v.last_name, ''), contacts.last_name), \
         phone = COALESCE(NULLIF(v.phone, ''), contacts.phone), email = COALESCE(NULLIF(v.email, ''), contacts.email), \
         language = COALESCE(NULLIF(v.language, ''), contacts.language)";
    if backend == DbBackend::Postgres {
        let sql = format!(
            "UPDATE contacts SET {SET}, custom_fields = contacts.custom_fields || CAST(v.custom AS jsonb), updated_at = $8 \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
             AS v(id, first_name, last_name, phone, email, language, custom) \
             WHERE contacts.id = v.id AND contacts.workspace_id = $9"
        );
        let values = vec![
            rows.iter().map(|(id, _)| *id).collect::<Vec<i64>>().into(),
            text_array(rows.iter().map(|(_, r)| r.first_name.clone())),
            text_array(rows.iter().map(|(_, r)| r.last_name.clone())),
            text_array(rows.iter().map(|(_, r)| r.phone.clone())),
            text_array(rows.iter().map(|(_, r)| r.email.clone())),
            text_array(rows.iter().map(|(_, r)| r.language.clone())),
            text_array(rows.iter().map(|(_, r)| Some(Value::Object(r.custom.clone()).to_string()))),
            now.into(),
            workspace_id.into(),
        ];
        return sea_orm::Statement::from_sql_and_values(backend, sql, values);
    }
    let tuple = "(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT))";
    let tuples = vec![tuple; rows.len()].join(", ");
    let sql = format!(
        "WITH v (id, first_name, last_name, phone, email, language, custom) AS (VALUES {tuples}) \
         UPDATE contacts SET {SET}, custom_fields = json_patch(contacts.custom_fields, v.custom), updated_at = ? \
         FROM v WHERE contacts.id = v.id AND contacts.workspace_id = ?"
    );
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 7 + 2);
    for (id, row) in rows {
        values.push((*id).into());
        values.push(row.first_name.clone().into());
        values.push(row.last_name.clone().into());
        values.push(row.phone.clone().into());
        values.push(row.email.clone().into());
        values.push(row.language.clone().into());
        values.push(Value::Object(row.custom.clone()).to_string().into());
    }
    values.push(now.into());
    values.push(workspace_id.into());
    portable(backend, &sql, values)
}

/// Puts the import's tags and each row's own tags on the contacts.
async fn link_tags(
    conn: &impl ConnectionTrait,
    workspace_id: i64,
    import_tags: &[String],
    contacts: &[(i64, Vec<String>)],
) -> ServiceResult<()> {
    let names: BTreeSet<String> =
        import_tags.iter().chain(contacts.iter().flat_map(|(_, t)| t.iter())).cloned().collect();
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = names.into_iter().collect();
    let by_key: HashMap<String, i64> =
        tags::ensure_tags(conn, workspace_id, &names).await?.into_iter().map(|t| (t.name_key, t.id)).collect();
    let id_of = |name: &String| by_key.get(&name.to_lowercase()).copied();
    let common: Vec<i64> = import_tags.iter().filter_map(id_of).collect();
    let mut pairs: Vec<(i64, i64)> = Vec::new();
    for (contact_id, own) in contacts {
        let mut tag_ids: BTreeSet<i64> = common.iter().copied().collect();
        tag_ids.extend(own.iter().filter_map(id_of));
        pairs.extend(tag_ids.into_iter().map(|tag_id| (*contact_id, tag_id)));
    }
    tags::link_contacts(conn, &pairs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"name;phone;\"a,b,c\"\nx;y;z"), b';');
        assert_eq!(detect_delimiter(b"name,phone\n"), b',');
        assert_eq!(detect_delimiter(b"\"a;b;c\",phone\n"), b',');
        assert_eq!(detect_delimiter(b"single\n"), b',');
    }

    #[test]
    fn headers_map_in_english_and_spanish() {
        let none = HashMap::new();
        assert_eq!(ColumnField::from_header("Contact ID", &none), ColumnField::ContactId);
        assert_eq!(ColumnField::from_header("ID de contacto", &none), ColumnField::ContactId);
        assert_eq!(ColumnField::from_header(" Teléfono ", &none), ColumnField::Phone);
        assert_eq!(ColumnField::from_header("first_name", &none), ColumnField::FirstName);
        assert_eq!(ColumnField::from_header("Correo electrónico", &none), ColumnField::Email);
        assert_eq!(ColumnField::from_header("Error", &none), ColumnField::Ignore);
    }
}
