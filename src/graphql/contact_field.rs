//! Custom contact fields.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::contact_field;

use crate::error::ApiResult;
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::enums::ContactFieldType;
use crate::services::contact_fields;

pub struct ContactField(pub contact_field::Model);

/// A custom field the workspace defined for its contacts.
#[Object]
impl ContactField {
    /// The field's id.
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    /// The key values are stored under in `Contact.customFields`, e.g. loyalty_level.
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// The label people see.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The type values must have.
    #[graphql(name = "type")]
    async fn field_type(&self) -> ContactFieldType {
        self.0.field_type.into()
    }

    /// When it was defined.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct ContactFieldQuery;

#[Object]
impl ContactFieldQuery {
    /// The workspace's custom contact fields, by key.
    async fn contact_fields(&self, ctx: &Context<'_>) -> ApiResult<Vec<ContactField>> {
        Ok(contact_fields::list_contact_fields(ctx.app(), ctx.scope()?).await?.into_iter().map(ContactField).collect())
    }
}

/// A custom field to define.
#[derive(InputObject)]
pub struct CreateContactFieldInput {
    /// Lower-case letters, digits and '_', starting with a letter, e.g. loyalty_level.
    key: String,
    /// The label people see.
    name: String,
    /// The type values must have.
    #[graphql(name = "type")]
    field_type: ContactFieldType,
}

#[derive(Default)]
pub struct ContactFieldMutation;

#[Object]
impl ContactFieldMutation {
    /// Defines a custom contact field. OWNER or ADMIN.
    async fn create_contact_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The field to define.")] input: CreateContactFieldInput,
    ) -> ApiResult<ContactField> {
        let field = contact_fields::create_contact_field(
            ctx.app(),
            ctx.scope()?,
            &input.key,
            &input.name,
            input.field_type.into(),
        )
        .await?;
        Ok(ContactField(field))
    }

    /// Renames a custom field (its key and type never change). OWNER or ADMIN.
    async fn rename_contact_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The field's id.")] id: ID,
        #[graphql(desc = "The new label.")] name: String,
    ) -> ApiResult<ContactField> {
        let id = parse_id(&id, "id", "contact field")?;
        Ok(ContactField(contact_fields::rename_contact_field(ctx.app(), ctx.scope()?, id, &name).await?))
    }

    /// Deletes a custom field and its value on every contact; answers the id. OWNER or ADMIN.
    async fn delete_contact_field(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The field's id.")] id: ID,
    ) -> ApiResult<ID> {
        let id = parse_id(&id, "id", "contact field")?;
        Ok(contact_fields::delete_contact_field(ctx.app(), ctx.scope()?, id).await?.into())
    }
}
