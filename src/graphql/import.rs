//! Importing contacts from CSV.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Upload};

use crate::error::{ApiError, ApiResult};
use crate::graphql::context::ContextExt;
use crate::services::imports::{self, ColumnField, ColumnMapping, ImportRequest};

/// What to do with each row.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::services::imports::ImportMode")]
pub enum ImportMode {
    /// Create contacts; rows that match an existing contact are skipped.
    AddOnly,
    /// Update existing contacts; rows that match none are rejected.
    UpdateOnly,
    /// Update the matching contact, create the others.
    AddAndUpdate,
}

/// What rows are matched to existing contacts by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::services::imports::Identifier")]
pub enum ImportIdentifier {
    /// The contact ID (as in Pregón's exports, e.g. the failed-messages export).
    ContactId,
    /// The phone number, compared in E.164.
    Phone,
    /// The email address, compared without regard to case.
    Email,
}

/// What a column of the file holds.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ImportField {
    /// The contact ID.
    ContactId,
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// Phone number.
    Phone,
    /// Email address.
    Email,
    /// Language tag.
    Language,
    /// Tags, separated by commas or semicolons.
    Tags,
    /// A custom field, named by `key`.
    CustomField,
    /// Not imported.
    Ignore,
}

/// Maps one column of the file to a contact field.
#[derive(InputObject)]
pub struct ImportColumnInput {
    /// The column's header, as in the file (any case).
    column: String,
    /// What it holds.
    field: ImportField,
    /// The custom field's key (CUSTOM_FIELD only).
    key: Option<String>,
}

/// What happened to a row that was not imported.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::services::imports::Outcome")]
pub enum ImportOutcome {
    /// Left alone on purpose (ADD_ONLY, and the contact exists).
    Skipped,
    /// Could not be used.
    Rejected,
}

/// A row that was skipped or rejected, and why.
#[derive(SimpleObject)]
pub struct ImportProblem {
    /// The line of the file the row starts on (the header is line 1).
    line: u64,
    /// Skipped or rejected.
    outcome: ImportOutcome,
    /// The column at fault, when one is.
    column: Option<String>,
    /// What is wrong, in words a person can act on.
    reason: String,
}

/// How a column of the file was understood.
#[derive(SimpleObject)]
pub struct ImportColumn {
    /// The header.
    column: String,
    /// What it was read as.
    field: ImportField,
    /// The custom field's key (CUSTOM_FIELD only).
    key: Option<String>,
}

/// The outcome of an import.
#[derive(SimpleObject)]
pub struct ImportReport {
    /// Data rows in the file (the header not counted).
    rows_read: u64,
    /// Contacts created.
    created: u64,
    /// Contacts updated.
    updated: u64,
    /// Rows skipped (see `problems`).
    skipped: u64,
    /// Rows rejected (see `problems`).
    rejected: u64,
    /// How each column was understood.
    columns: Vec<ImportColumn>,
    /// Skipped and rejected rows, the first 1000.
    problems: Vec<ImportProblem>,
    /// Whether more problems happened than are listed.
    problems_truncated: bool,
}

fn field_of(input: &ImportColumnInput) -> ApiResult<ColumnField> {
    Ok(match input.field {
        ImportField::ContactId => ColumnField::ContactId,
        ImportField::FirstName => ColumnField::FirstName,
        ImportField::LastName => ColumnField::LastName,
        ImportField::Phone => ColumnField::Phone,
        ImportField::Email => ColumnField::Email,
        ImportField::Language => ColumnField::Language,
        ImportField::Tags => ColumnField::Tags,
        ImportField::Ignore => ColumnField::Ignore,
        ImportField::CustomField => {
            ColumnField::Custom(input.key.clone().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).ok_or_else(
                || ApiError::bad_input("mapping", format!("Column '{}': CUSTOM_FIELD needs a key.", input.column)),
            )?)
        }
    })
}

fn column_of((column, field): (String, ColumnField)) -> ImportColumn {
    let (field, key) = match field {
        ColumnField::ContactId => (ImportField::ContactId, None),
        ColumnField::FirstName => (ImportField::FirstName, None),
        ColumnField::LastName => (ImportField::LastName, None),
        ColumnField::Phone => (ImportField::Phone, None),
        ColumnField::Email => (ImportField::Email, None),
        ColumnField::Language => (ImportField::Language, None),
        ColumnField::Tags => (ImportField::Tags, None),
        ColumnField::Custom(key) => (ImportField::CustomField, Some(key)),
        ColumnField::Ignore => (ImportField::Ignore, None),
    };
    ImportColumn { column, field, key }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports contacts from a CSV file: UTF-8 (with or without BOM), `,` or `;` separated,
    /// quoted fields, a header line. Send the file as a GraphQL multipart upload (`file`) or
    /// its text (`csv`). Good rows are imported even when others are rejected; all of it is
    /// applied in one transaction. MANAGER or above.
    // Each GraphQL argument is a parameter here.
    #[allow(clippy::too_many_arguments)]
    async fn import_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The CSV file, as a GraphQL multipart upload.")] file: Option<Upload>,
        #[graphql(desc = "The CSV text, instead of `file`.")] csv: Option<String>,
        #[graphql(desc = "Add, update, or both.")] mode: ImportMode,
        #[graphql(desc = "What rows are matched to existing contacts by.")] identifier: ImportIdentifier,
        #[graphql(desc = "Tags put on every imported contact (created or updated).")] tags: Option<Vec<String>>,
        #[graphql(desc = "How columns map to fields; by default, by their headers' names.")] mapping: Option<
            Vec<ImportColumnInput>,
        >,
        #[graphql(desc = "`,` or `;`; detected from the header line when left out.")] delimiter: Option<String>,
    ) -> ApiResult<ImportReport> {
        let bytes = match (file, csv) {
            (Some(file), None) => file
                .value(ctx)
                .map_err(|_| ApiError::bad_input("file", "The upload could not be read; send it again."))?
                .content
                .to_vec(),
            (None, Some(csv)) => csv.into_bytes(),
            _ => {
                return Err(ApiError::bad_input(
                    "file",
                    "Send the CSV either as `file` (an upload) or as `csv`, one of them.",
                ));
            }
        };
        let delimiter = match delimiter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(",") => Some(b','),
            Some(";") => Some(b';'),
            Some(other) => {
                return Err(ApiError::bad_input("delimiter", format!("'{other}' is not a delimiter: use , or ;.")));
            }
        };
        let mapping = mapping
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        Ok::<_, ApiError>(ColumnMapping { column: item.column.clone(), field: field_of(item)? })
                    })
                    .collect::<ApiResult<Vec<_>>>()
            })
            .transpose()?;
        let request = ImportRequest {
            csv: bytes,
            mode: mode.into(),
            identifier: identifier.into(),
            tags: tags.unwrap_or_default(),
            mapping,
            delimiter,
        };
        let report = imports::import_contacts(ctx.app(), ctx.scope()?, request).await?;
        Ok(ImportReport {
            rows_read: report.rows_read,
            created: report.created,
            updated: report.updated,
            skipped: report.skipped,
            rejected: report.rejected,
            columns: report.columns.into_iter().map(column_of).collect(),
            problems: report
                .problems
                .into_iter()
                .map(|p| ImportProblem { line: p.line, outcome: p.outcome.into(), column: p.column, reason: p.reason })
                .collect(),
            problems_truncated: report.problems_truncated,
        })
    }
}
