//! Contacts: the type, the connection, queries, mutations and the change subscription.

use async_graphql::connection::PageInfo;
use async_graphql::futures_util::Stream;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::{channel, contact, contact_channel};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::channels::{MessagingWindow, capabilities};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Event};
use crate::graphql::channel::Channel;
use crate::graphql::context::{ContextExt, cursor, page_size, parse_id, parse_ids};
use crate::graphql::loaders::{self, IdentifiersOfContact, LiveChannelById, TagsOfContact};
use crate::graphql::scalars::JsonObject;
use crate::graphql::segment::SegmentFilterInput;
use crate::graphql::tag::Tag;
use crate::graphql::workspace::maybe;
use crate::services::contacts::{self, ContactFilter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

pub struct Contact(pub contact::Model);

/// A person the workspace messages.
#[Object]
impl Contact {
    /// The contact's id (the seed's "ID de contacto"; imports can match on it).
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// First name.
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    /// Last name.
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    /// First and last name together; the email or phone when there is no name.
    async fn display_name(&self) -> String {
        let name = [self.0.first_name.as_deref(), self.0.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.0.email.clone().or_else(|| self.0.phone.clone()).unwrap_or_else(|| format!("Contact {}", self.0.id))
        } else {
            name
        }
    }

    /// Phone number in E.164, e.g. +593991234567.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    /// Email address, lower-cased.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Preferred language, a BCP 47 tag such as es or pt-BR.
    async fn language(&self) -> Option<&str> {
        self.0.language.as_deref()
    }

    /// Custom field values by field key, e.g. {"loyalty_level": "gold"}.
    async fn custom_fields(&self) -> JsonObject {
        JsonObject(self.0.custom_fields.as_object().cloned().unwrap_or_default())
    }

    /// The contact's tags, alphabetical.
    async fn tags(&self, ctx: &Context<'_>) -> ApiResult<Vec<Tag>> {
        let tags = loaders::from_context(ctx).load_one(TagsOfContact(self.0.id)).await?.unwrap_or_default();
        Ok(tags.into_iter().map(Tag).collect())
    }

    /// How the contact is addressed on each channel.
    async fn identifiers(&self, ctx: &Context<'_>) -> ApiResult<Vec<ContactIdentifier>> {
        let rows = loaders::from_context(ctx).load_one(IdentifiersOfContact(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|(identifier, channel)| ContactIdentifier { identifier, channel }).collect())
    }

    /// When the contact last wrote, on any channel.
    async fn last_interaction_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_interaction_at
    }

    /// The channel the contact last wrote from (broadcasts can use it).
    async fn last_interacted_channel(&self, ctx: &Context<'_>) -> ApiResult<Option<Channel>> {
        let Some(id) = self.0.last_interacted_channel_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(LiveChannelById(id)).await?.map(Channel))
    }

    /// When the contact was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the contact was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct ContactIdentifier {
    identifier: contact_channel::Model,
    channel: channel::Model,
}

/// A contact's address on one channel, and its messaging window there.
#[Object]
impl ContactIdentifier {
    /// The channel.
    async fn channel(&self) -> Channel {
        Channel(self.channel.clone())
    }

    /// The contact's id on that channel (phone, page-scoped id, chat id…).
    async fn identifier(&self) -> &str {
        &self.identifier.identifier
    }

    /// When the contact last wrote on this channel.
    async fn last_incoming_at(&self) -> Option<DateTime<Utc>> {
        self.identifier.last_incoming_at
    }

    /// Until when the business may write freely on this channel; null when the channel has
    /// no messaging window or the contact never wrote on it.
    async fn messaging_window_ends_at(&self) -> Option<DateTime<Utc>> {
        match capabilities(self.channel.kind).messaging_window {
            MessagingWindow::Hours(hours) => {
                self.identifier.last_incoming_at.map(|at| at + chrono::Duration::hours(i64::from(hours)))
            }
            MessagingWindow::None | MessagingWindow::WhileOnPage => None,
        }
    }

    /// Whether the provider said the contact cannot be reached here (e.g. blocked the bot).
    async fn unreachable(&self) -> bool {
        self.identifier.unreachable_at.is_some()
    }
}

pub struct ContactConnection {
    page: crate::services::Page<contact::Model>,
    filter: ContactFilter,
}

/// A contact in a page, with its cursor.
#[derive(SimpleObject)]
pub struct ContactEdge {
    /// Pass as `after` to continue after this contact.
    cursor: String,
    /// The contact.
    node: Contact,
}

/// A page of contacts, newest first (Relay connection).
#[Object]
impl ContactConnection {
    /// The contacts of this page, with cursors.
    async fn edges(&self) -> Vec<ContactEdge> {
        self.page.items.iter().map(|c| ContactEdge { cursor: cursor::encode(c.id), node: Contact(c.clone()) }).collect()
    }

    /// The contacts of this page.
    async fn nodes(&self) -> Vec<Contact> {
        self.page.items.iter().cloned().map(Contact).collect()
    }

    /// Where this page sits in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: false,
            has_next_page: self.page.has_next_page,
            start_cursor: self.page.items.first().map(|c| cursor::encode(c.id)),
            end_cursor: self.page.items.last().map(|c| cursor::encode(c.id)),
        }
    }

    /// How many contacts match the filter, over all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(contacts::count_contacts(ctx.app(), ctx.scope()?, &self.filter).await?)
    }
}

/// One page of the contacts matching `filter`.
pub async fn contact_page(
    ctx: &Context<'_>,
    filter: ContactFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<ContactConnection> {
    let first = page_size(first, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = after.as_deref().map(cursor::decode).transpose()?;
    let page = contacts::list_contacts(ctx.app(), ctx.scope()?, &filter, after, first).await?;
    Ok(ContactConnection { page, filter })
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// The workspace's contacts, newest first.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE_SIZE as i32).max(0) as usize * child_complexity + 1")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many contacts to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (a previous page's `pageInfo.endCursor`).")] after: Option<String>,
        #[graphql(desc = "Only contacts whose name, email or phone contains this text (any case).")] search: Option<
            String,
        >,
        #[graphql(desc = "Only contacts with this tag (any case).")] tag: Option<String>,
        #[graphql(desc = "Only contacts matching this segment filter.")] filter: Option<SegmentFilterInput>,
    ) -> ApiResult<ContactConnection> {
        let filter = ContactFilter { search, tag, filter: filter.map(Into::into) };
        contact_page(ctx, filter, first, after).await
    }

    /// One contact; null when there is none with this id in the workspace.
    async fn contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id.")] id: ID,
    ) -> ApiResult<Option<Contact>> {
        let id = parse_id(&id, "id", "contact")?;
        Ok(contacts::find_contact(ctx.app(), ctx.scope()?, id).await?.map(Contact))
    }
}

/// A contact's address on a channel.
#[derive(InputObject)]
pub struct ContactIdentifierInput {
    /// The channel.
    channel_id: ID,
    /// The contact's id there, in the channel's identifier format (see
    /// `ChannelCapabilities.identifierKind`).
    identifier: String,
}

/// A contact to create. At least a name, a phone, an email or an identifier is needed.
#[derive(InputObject)]
pub struct CreateContactInput {
    /// First name.
    first_name: Option<String>,
    /// Last name.
    last_name: Option<String>,
    /// Phone number; stored in E.164. Without +country code it is read in the workspace's
    /// default country.
    phone: Option<String>,
    /// Email address.
    email: Option<String>,
    /// Preferred language, e.g. es or pt-BR.
    language: Option<String>,
    /// Custom field values by key; each key must be a defined contact field.
    custom_fields: Option<JsonObject>,
    /// Tags to put on the contact (created when new).
    #[graphql(default)]
    tags: Vec<String>,
    /// Addresses on channels.
    #[graphql(default)]
    identifiers: Vec<ContactIdentifierInput>,
}

/// Changes to a contact; fields left out stay as they are, null clears them.
#[derive(InputObject)]
pub struct UpdateContactInput {
    /// First name.
    first_name: MaybeUndefined<String>,
    /// Last name.
    last_name: MaybeUndefined<String>,
    /// Phone number.
    phone: MaybeUndefined<String>,
    /// Email address.
    email: MaybeUndefined<String>,
    /// Preferred language.
    language: MaybeUndefined<String>,
    /// Custom field values to set, merged into the stored ones; a key set to null is removed.
    custom_fields: Option<JsonObject>,
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Creates a contact.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact to create.")] input: CreateContactInput,
    ) -> ApiResult<Contact> {
        let identifiers = input
            .identifiers
            .into_iter()
            .map(|i| Ok((parse_id(&i.channel_id, "identifiers.channelId", "channel")?, i.identifier)))
            .collect::<ApiResult<Vec<_>>>()?;
        let new = contacts::NewContact {
            first_name: input.first_name,
            last_name: input.last_name,
            phone: input.phone,
            email: input.email,
            language: input.language,
            custom_fields: input.custom_fields.map(|c| c.0).unwrap_or_default(),
            tags: input.tags,
            identifiers,
        };
        Ok(Contact(contacts::create_contact(ctx.app(), ctx.scope()?, new).await?))
    }

    /// Changes a contact.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateContactInput,
    ) -> ApiResult<Contact> {
        let id = parse_id(&id, "id", "contact")?;
        let changes = contacts::ContactChanges {
            first_name: maybe(input.first_name),
            last_name: maybe(input.last_name),
            phone: maybe(input.phone),
            email: maybe(input.email),
            language: maybe(input.language),
            custom_fields: input.custom_fields.map(|c| c.0),
        };
        Ok(Contact(contacts::update_contact(ctx.app(), ctx.scope()?, id, changes).await?))
    }

    /// Deletes a contact (their message history stays, without the contact); answers the
    /// id. MANAGER or above.
    async fn delete_contact(&self, ctx: &Context<'_>, #[graphql(desc = "The contact's id.")] id: ID) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "contact")?;
        Ok(contacts::delete_contact(ctx.app(), ctx.scope()?, id).await?.into())
    }

    /// Puts tags on contacts (tags are created when new). At most 1000 contacts per call.
    async fn tag_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contacts to tag.")] contact_ids: Vec<ID>,
        #[graphql(desc = "The tags to add.")] tags: Vec<String>,
    ) -> ApiResult<Vec<Contact>> {
        let ids = parse_ids(&contact_ids, "contactIds", "contact")?;
        Ok(contacts::tag_contacts(ctx.app(), ctx.scope()?, &ids, &tags).await?.into_iter().map(Contact).collect())
    }

    /// Takes tags off contacts. At most 1000 contacts per call.
    async fn untag_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contacts to untag.")] contact_ids: Vec<ID>,
        #[graphql(desc = "The tags to remove.")] tags: Vec<String>,
    ) -> ApiResult<Vec<Contact>> {
        let ids = parse_ids(&contact_ids, "contactIds", "contact")?;
        Ok(contacts::untag_contacts(ctx.app(), ctx.scope()?, &ids, &tags).await?.into_iter().map(Contact).collect())
    }

    /// Sets a contact's identifier on a channel, replacing the previous one. An identifier
    /// belongs to one contact per channel: CONFLICT when another contact has it.
    async fn set_contact_identifier(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id.")] contact_id: ID,
        #[graphql(desc = "The channel and the identifier.")] input: ContactIdentifierInput,
    ) -> ApiResult<Contact> {
        let contact_id = parse_id(&contact_id, "contactId", "contact")?;
        let channel_id = parse_id(&input.channel_id, "channelId", "channel")?;
        let contact =
            contacts::set_contact_identifier(ctx.app(), ctx.scope()?, contact_id, channel_id, &input.identifier)
                .await?;
        Ok(Contact(contact))
    }

    /// Removes a contact's identifier on a channel.
    async fn remove_contact_identifier(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id.")] contact_id: ID,
        #[graphql(desc = "The channel's id.")] channel_id: ID,
    ) -> ApiResult<Contact> {
        let contact_id = parse_id(&contact_id, "contactId", "contact")?;
        let channel_id = parse_id(&channel_id, "channelId", "channel")?;
        Ok(Contact(contacts::remove_contact_identifier(ctx.app(), ctx.scope()?, contact_id, channel_id).await?))
    }
}

/// What happened to a contact.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ChangeAction {
    /// It was created.
    Created,
    /// Its fields, tags or identifiers changed.
    Updated,
    /// It was deleted.
    Deleted,
    /// An import created or updated contacts (one event per import, not per row).
    Imported,
}

pub struct ContactChange {
    /// `None` for an import.
    contact_id: Option<i64>,
    action: ChangeAction,
    count: u64,
}

/// A change to one of the workspace's contacts.
#[Object]
impl ContactChange {
    /// What happened.
    async fn action(&self) -> ChangeAction {
        self.action
    }

    /// The contact's id; null for IMPORTED.
    async fn contact_id(&self) -> Option<ID> {
        self.contact_id.map(Into::into)
    }

    /// The contact as it is now; null once deleted, and for IMPORTED.
    async fn contact(&self, ctx: &Context<'_>) -> ApiResult<Option<Contact>> {
        let Some(id) = self.contact_id else {
            return Ok(None);
        };
        Ok(contacts::find_contact(ctx.app(), ctx.scope()?, id).await?.map(Contact))
    }

    /// How many contacts the change concerns: 1, or what an import created and updated.
    async fn count(&self) -> u64 {
        self.count
    }
}

#[derive(Default)]
pub struct ContactSubscription;

#[Subscription]
impl ContactSubscription {
    /// Every change to the workspace's contacts, as it happens on this server (an import is
    /// one IMPORTED event).
    async fn contact_changed(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = ContactChange> + use<>, ApiError> {
        let workspace_id = ctx.scope()?.workspace_id;
        let events = BroadcastStream::new(ctx.app().events.subscribe());
        Ok(events.filter_map(move |event| match event {
            Ok(event) => match *event {
                _ if event.workspace_id() != workspace_id => None,
                Event::ContactChanged { contact_id, action, .. } => {
                    let action = match action {
                        events::ChangeAction::Created => ChangeAction::Created,
                        events::ChangeAction::Updated => ChangeAction::Updated,
                        events::ChangeAction::Deleted => ChangeAction::Deleted,
                    };
                    Some(ContactChange { contact_id: Some(contact_id), action, count: 1 })
                }
                Event::ContactsImported { count, .. } => {
                    Some(ContactChange { contact_id: None, action: ChangeAction::Imported, count })
                }
                Event::BroadcastChanged { .. } => None,
            },
            Err(lagged) => {
                tracing::warn!(error = %lagged, "a contactChanged subscriber fell behind and skipped events");
                None
            }
        }))
    }
}

/// Where to download an export.
#[derive(SimpleObject)]
pub struct ContactExport {
    /// The path to GET, with the same `Authorization` header; the CSV streams from there.
    url: String,
    /// How many contacts it selects now.
    contact_count: u64,
}

#[derive(Default)]
pub struct ContactExportQuery;

#[Object]
impl ContactExportQuery {
    /// Prepares a CSV export of contacts: every field, tags, custom fields and channel
    /// identifiers. Select a segment or a filter (or neither, for everyone), optionally
    /// narrowed by a search and a tag. MANAGER or above.
    async fn export_contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Export the contacts of this segment.")] segment_id: Option<ID>,
        #[graphql(desc = "Export the contacts matching this filter.")] filter: Option<SegmentFilterInput>,
        #[graphql(desc = "Only contacts whose name, email or phone contains this text.")] search: Option<String>,
        #[graphql(desc = "Only contacts with this tag.")] tag: Option<String>,
    ) -> ApiResult<ContactExport> {
        let scope = ctx.scope()?;
        let segment_id = segment_id.map(|id| parse_id(&id, "segmentId", "segment")).transpose()?;
        let filter: Option<crate::services::segments::Filter> = filter.map(Into::into);
        let selection = crate::services::exports::selection(
            ctx.app(),
            scope,
            segment_id,
            filter.clone(),
            search.clone(),
            tag.clone(),
        )
        .await?;
        let contact_count = contacts::count_contacts(ctx.app(), scope, &selection).await?;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(id) = segment_id {
            query.append_pair("segmentId", &id.to_string());
        }
        if let Some(filter) = &filter {
            let json = serde_json::to_string(filter).map_err(crate::error::ServiceError::internal)?;
            query.append_pair("filter", &json);
        }
        if let Some(search) = &search {
            query.append_pair("search", search);
        }
        if let Some(tag) = &tag {
            query.append_pair("tag", tag);
        }
        let query = query.finish();
        let url =
            if query.is_empty() { "/export/contacts.csv".to_owned() } else { format!("/export/contacts.csv?{query}") };
        Ok(ContactExport { url, contact_count })
    }
}
