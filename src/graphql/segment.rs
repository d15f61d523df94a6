//! Segments: saved filters over contacts, evaluated when asked.

use async_graphql::{Context, Enum, ID, InputObject, Object, OneofObject};
use chrono::{DateTime, Utc};
use entity::segment;

use crate::error::ApiResult;
use crate::graphql::contact::{ContactConnection, contact_page};
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::loaders::{self, UserById};
use crate::graphql::user::User;
use crate::services::contacts::{ContactFilter, DEFAULT_PAGE_SIZE};
use crate::services::segments::{self, filter};

/// The contact attribute a condition looks at.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::services::segments::filter::Field")]
pub enum SegmentField {
    /// The contact's tags: HAS_ANY_OF, HAS_ALL_OF, HAS_NONE_OF with tag names in `values`.
    Tags,
    /// First name: IS, IS_NOT, CONTAINS, DOES_NOT_CONTAIN, EXISTS, DOES_NOT_EXIST.
    FirstName,
    /// Last name: as FIRST_NAME.
    LastName,
    /// Phone (E.164): as FIRST_NAME; IS accepts any way of writing the number.
    Phone,
    /// Email: as FIRST_NAME.
    Email,
    /// Language tag: as FIRST_NAME.
    Language,
    /// A custom field named by `key`: text fields as FIRST_NAME; NUMBER and DATE fields also
    /// GREATER_THAN and LESS_THAN; BOOLEAN fields IS, IS_NOT, EXISTS, DOES_NOT_EXIST.
    CustomField,
    /// Has an identifier on one of the channels in `values` (HAS_ANY_OF), or on none
    /// (HAS_NONE_OF).
    Channel,
    /// When the contact was created: BEFORE, AFTER, WITHIN_LAST_DAYS.
    CreatedAt,
    /// When the contact last wrote: BEFORE, AFTER, WITHIN_LAST_DAYS, EXISTS, DOES_NOT_EXIST.
    LastInteractionAt,
}

/// How a condition compares.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::services::segments::filter::Operator")]
pub enum SegmentOperator {
    /// Has at least one of `values`.
    HasAnyOf,
    /// Has every one of `values`.
    HasAllOf,
    /// Has none of `values`.
    HasNoneOf,
    /// Equals `value` (text without regard to case).
    Is,
    /// Differs from `value`, or has no value.
    IsNot,
    /// Contains `value` (without regard to case).
    Contains,
    /// Does not contain `value`, or has no value.
    DoesNotContain,
    /// Has a value.
    Exists,
    /// Has no value.
    DoesNotExist,
    /// Greater than `value` (NUMBER and DATE fields).
    GreaterThan,
    /// Less than `value` (NUMBER and DATE fields).
    LessThan,
    /// Before `value`: a date (YYYY-MM-DD, the day's start in the workspace's time zone) or
    /// an RFC 3339 time.
    Before,
    /// After `value`: a date (from the next day's start in the workspace's time zone) or an
    /// RFC 3339 time.
    After,
    /// Within the last `days` days, today included, in the workspace's time zone.
    WithinLastDays,
}

/// One condition on contacts.
#[derive(InputObject, Clone)]
pub struct SegmentConditionInput {
    /// The attribute.
    field: SegmentField,
    /// The comparison.
    operator: SegmentOperator,
    /// The custom field's key (CUSTOM_FIELD only).
    key: Option<String>,
    /// Tag names or channel ids (HAS_ANY_OF, HAS_ALL_OF, HAS_NONE_OF).
    #[graphql(default)]
    values: Vec<String>,
    /// The value to compare with.
    value: Option<String>,
    /// Days (WITHIN_LAST_DAYS).
    days: Option<i32>,
}

/// A segment filter: a group of filters or one condition. Exactly one of the fields.
#[derive(OneofObject, Clone)]
pub enum SegmentFilterInput {
    /// Contacts matching every filter of the list (an empty list matches everyone).
    All(Vec<SegmentFilterInput>),
    /// Contacts matching at least one filter of the list.
    Any(Vec<SegmentFilterInput>),
    /// One condition.
    Condition(SegmentConditionInput),
}

impl From<SegmentFilterInput> for filter::Filter {
    fn from(input: SegmentFilterInput) -> Self {
        match input {
            SegmentFilterInput::All(parts) => filter::Filter::All(parts.into_iter().map(Into::into).collect()),
            SegmentFilterInput::Any(parts) => filter::Filter::Any(parts.into_iter().map(Into::into).collect()),
            SegmentFilterInput::Condition(c) => filter::Filter::Condition(filter::ConditionSpec {
                field: c.field.into(),
                operator: c.operator.into(),
                key: c.key,
                values: c.values,
                value: c.value,
                // A negative count becomes 0, which the filter check rejects by name.
                days: c.days.map(|d| d.max(0) as u32),
            }),
        }
    }
}

pub struct SegmentFilter(filter::Filter);

/// A segment filter as stored: a group of filters or one condition; exactly one field is set.
#[Object]
impl SegmentFilter {
    /// Set when every filter of the list must match.
    async fn all(&self) -> Option<Vec<SegmentFilter>> {
        match &self.0 {
            filter::Filter::All(parts) => Some(parts.iter().cloned().map(SegmentFilter).collect()),
            _ => None,
        }
    }

    /// Set when at least one filter of the list must match.
    async fn any(&self) -> Option<Vec<SegmentFilter>> {
        match &self.0 {
            filter::Filter::Any(parts) => Some(parts.iter().cloned().map(SegmentFilter).collect()),
            _ => None,
        }
    }

    /// Set when this is one condition.
    async fn condition(&self) -> Option<SegmentCondition> {
        match &self.0 {
            filter::Filter::Condition(condition) => Some(SegmentCondition(condition.clone())),
            _ => None,
        }
    }
}

pub struct SegmentCondition(filter::ConditionSpec);

/// One stored condition.
#[Object]
impl SegmentCondition {
    /// The attribute.
    async fn field(&self) -> SegmentField {
        self.0.field.into()
    }

    /// The comparison.
    async fn operator(&self) -> SegmentOperator {
        self.0.operator.into()
    }

    /// The custom field's key.
    async fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// Tag names or channel ids.
    async fn values(&self) -> &[String] {
        &self.0.values
    }

    /// The value compared with.
    async fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }

    /// Days (WITHIN_LAST_DAYS).
    async fn days(&self) -> Option<u32> {
        self.0.days
    }
}

pub struct Segment(pub segment::Model);

/// A saved, dynamic group of contacts: its members are whoever matches its filter when asked.
#[Object]
impl Segment {
    /// The segment's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The segment's name, unique within the workspace.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The filter.
    async fn filter(&self) -> ApiResult<SegmentFilter> {
        Ok(SegmentFilter(segments::stored_filter(&self.0)?))
    }

    /// How many contacts match now.
    async fn contact_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        let filter = segments::stored_filter(&self.0)?;
        Ok(segments::count_matching(ctx.app(), ctx.scope()?, &filter).await?)
    }

    /// The contacts that match now, newest first.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE_SIZE as i32).max(0) as usize * child_complexity + 1")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many contacts to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ContactConnection> {
        let filter = ContactFilter { filter: Some(segments::stored_filter(&self.0)?), ..ContactFilter::default() };
        contact_page(ctx, filter, first, after).await
    }

    /// Who created it.
    async fn created_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.0.created_by_user_id else {
            return Ok(None);
        };
        Ok(loaders::from_context(ctx).load_one(UserById(id)).await?.map(User))
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct SegmentPreview(filter::Filter);

/// What a filter would select now, without saving it.
#[Object]
impl SegmentPreview {
    /// How many contacts match.
    async fn contact_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(segments::count_matching(ctx.app(), ctx.scope()?, &self.0).await?)
    }

    /// The contacts that match, newest first.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE_SIZE as i32).max(0) as usize * child_complexity + 1")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many contacts to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> ApiResult<ContactConnection> {
        let filter = ContactFilter { filter: Some(self.0.clone()), ..ContactFilter::default() };
        contact_page(ctx, filter, first, after).await
    }
}

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// The workspace's segments, by name (at most 500).
    async fn segments(&self, ctx: &Context<'_>) -> ApiResult<Vec<Segment>> {
        Ok(segments::list_segments(ctx.app(), ctx.scope()?).await?.into_iter().map(Segment).collect())
    }

    /// One segment; null when there is none with this id in the workspace.
    async fn segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment's id.")] id: ID,
    ) -> ApiResult<Option<Segment>> {
        let id = parse_id(&id, "id", "segment")?;
        Ok(segments::find_segment(&ctx.app().db, ctx.scope()?, id).await?.map(Segment))
    }

    /// What a filter selects now, without saving it. An invalid filter answers
    /// BAD_USER_INPUT naming the condition.
    async fn preview_segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The filter to try.")] filter: SegmentFilterInput,
    ) -> ApiResult<SegmentPreview> {
        let filter: filter::Filter = filter.into();
        filter::validate(&ctx.app().db, ctx.scope()?, &filter).await?;
        Ok(SegmentPreview(filter))
    }
}

/// A segment to create.
#[derive(InputObject)]
pub struct CreateSegmentInput {
    /// A name unique within the workspace.
    name: String,
    /// Who belongs to it.
    filter: SegmentFilterInput,
}

/// Changes to a segment; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateSegmentInput {
    /// New name, unique within the workspace.
    name: Option<String>,
    /// New filter.
    filter: Option<SegmentFilterInput>,
}

#[derive(Default)]
pub struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Creates a segment. CONFLICT when the name is taken, LIMIT_REACHED at 500 segments.
    /// MANAGER or above.
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment to create.")] input: CreateSegmentInput,
    ) -> ApiResult<Segment> {
        let segment = segments::create_segment(ctx.app(), ctx.scope()?, &input.name, input.filter.into()).await?;
        Ok(Segment(segment))
    }

    /// Renames a segment or changes its filter. MANAGER or above.
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateSegmentInput,
    ) -> ApiResult<Segment> {
        let id = parse_id(&id, "id", "segment")?;
        let segment =
            segments::update_segment(ctx.app(), ctx.scope()?, id, input.name, input.filter.map(Into::into)).await?;
        Ok(Segment(segment))
    }

    /// Deletes a segment; answers its id. Broadcasts aimed at it will fail with the seed's
    /// reason. MANAGER or above.
    async fn delete_segment(&self, ctx: &Context<'_>, #[graphql(desc = "The segment's id.")] id: ID) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "segment")?;
        Ok(segments::delete_segment(ctx.app(), ctx.scope()?, id).await?.into())
    }
}
