//! Duplicate suggestions and merging.

use async_graphql::connection::PageInfo;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::graphql::contact::Contact;
use crate::graphql::context::{ContextExt, cursor, page_size, parse_id};
use crate::graphql::loaders::{self, ContactById};
use crate::services::Page;
use crate::services::duplicates::{self, DuplicatePair};

/// Why two contacts look like the same person.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DuplicateReason {
    /// They have the same phone number.
    SamePhone,
    /// They have the same email address.
    SameEmail,
}

pub struct ContactDuplicate(DuplicatePair);

/// Two contacts that look like the same person (seed 000's "Sugerencias de fusión de
/// contactos"). Merge with `mergeContacts(primaryId, duplicateId)`.
#[Object]
impl ContactDuplicate {
    /// The older contact: the suggested one to keep.
    async fn primary(&self, ctx: &Context<'_>) -> ApiResult<Contact> {
        load(ctx, self.0.primary_id).await
    }

    /// The newer contact: the suggested one to merge into the primary.
    async fn duplicate(&self, ctx: &Context<'_>) -> ApiResult<Contact> {
        load(ctx, self.0.duplicate_id).await
    }

    /// What they share.
    async fn reasons(&self) -> Vec<DuplicateReason> {
        let mut reasons = Vec::new();
        if self.0.same_phone > 0 {
            reasons.push(DuplicateReason::SamePhone);
        }
        if self.0.same_email > 0 {
            reasons.push(DuplicateReason::SameEmail);
        }
        reasons
    }
}

async fn load(ctx: &Context<'_>, id: i64) -> ApiResult<Contact> {
    let contact = loaders::from_context(ctx).load_one(ContactById(id)).await?;
    contact.map(Contact).ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("Contact {id} no longer exists.")))
}

pub struct ContactDuplicateConnection(Page<DuplicatePair>);

/// A duplicate suggestion in a page, with its cursor.
#[derive(SimpleObject)]
pub struct ContactDuplicateEdge {
    /// Pass as `after` to continue after this suggestion.
    cursor: String,
    /// The suggestion.
    node: ContactDuplicate,
}

/// A page of duplicate suggestions (Relay connection), ordered by the primary's id.
#[Object]
impl ContactDuplicateConnection {
    /// The suggestions of this page, with cursors.
    async fn edges(&self) -> Vec<ContactDuplicateEdge> {
        self.0
            .items
            .iter()
            .map(|p| ContactDuplicateEdge {
                cursor: cursor::encode_pair(p.primary_id, p.duplicate_id),
                node: ContactDuplicate(p.clone()),
            })
            .collect()
    }

    /// The suggestions of this page.
    async fn nodes(&self) -> Vec<ContactDuplicate> {
        self.0.items.iter().cloned().map(ContactDuplicate).collect()
    }

    /// Where this page sits in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: false,
            has_next_page: self.0.has_next_page,
            start_cursor: self.0.items.first().map(|p| cursor::encode_pair(p.primary_id, p.duplicate_id)),
            end_cursor: self.0.items.last().map(|p| cursor::encode_pair(p.primary_id, p.duplicate_id)),
        }
    }
}

#[derive(Default)]
pub struct DuplicateQuery;

#[Object]
impl DuplicateQuery {
    /// Pairs of contacts that share a phone number or an email address.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn duplicate_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many pairs to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ContactDuplicateConnection> {
        let first = page_size(first, 20, 100)?;
        let after = after.as_deref().map(cursor::decode_pair).transpose()?;
        Ok(ContactDuplicateConnection(duplicates::list_duplicate_pairs(ctx.app(), ctx.scope()?, after, first).await?))
    }
}

#[derive(Default)]
pub struct DuplicateMutation;

#[Object]
impl DuplicateMutation {
    /// Merges the duplicate into the primary in one transaction: the duplicate's tags,
    /// custom field values (the primary's win), channel identifiers (the primary's win on a
    /// channel both have) and message history move to the primary, whose empty fields take
    /// the duplicate's values; the duplicate is deleted. MANAGER or above.
    async fn merge_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact to keep.")] primary_id: ID,
        #[graphql(desc = "The contact to merge into it and delete.")] duplicate_id: ID,
    ) -> ApiResult<Contact> {
        let primary = parse_id(&primary_id, "primaryId", "contact")?;
        let duplicate = parse_id(&duplicate_id, "duplicateId", "contact")?;
        Ok(Contact(duplicates::merge_contacts(ctx.app(), ctx.scope()?, primary, duplicate).await?))
    }
}
