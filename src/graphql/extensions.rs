//! Schema extensions: the authentication gate and the execution marker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe, ResolveInfo,
};
use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::{Response, ServerError, ServerResult, Value};

use crate::auth::Scope;
use crate::error::ApiError;

/// Refuses, in one place, every root field except introspection when the request has no
/// [`Scope`]: a new resolver cannot forget authentication. (`__typename` never reaches this
/// hook and is always allowed.)
pub struct AuthGate;

impl ExtensionFactory for AuthGate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthGate)
    }
}

fn unauthenticated() -> ServerError {
    let error: async_graphql::Error = ApiError::unauthenticated().into();
    let mut error = error.into_server_error(Default::default());
    error.locations.clear();
    error
}

/// Set by the handler in the request data; becomes `true` once the operation passed parsing
/// and validation and started executing. The GraphQL-over-HTTP handler uses it to tell a
/// request error (4xx, no `data`) from an execution error.
#[derive(Default, Clone)]
pub struct ExecutionMarker(pub Arc<AtomicBool>);

impl ExecutionMarker {
    pub fn executed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl Extension for AuthGate {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(marker) = ctx.data_opt::<ExecutionMarker>() {
            marker.0.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let is_root = info.path_node.parent.is_none();
        let is_introspection = info.is_for_introspection || info.name.starts_with("__");
        if is_root && !is_introspection && ctx.data_opt::<Scope>().is_none() {
            let mut error = unauthenticated();
            error.path = vec![async_graphql::PathSegment::Field(info.path_node.field_name().to_owned())];
            return Err(error);
        }
        next.run(ctx, info).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        if ctx.data_opt::<Scope>().is_none() {
            return stream::once(async { Response::from_errors(vec![unauthenticated()]) }).boxed();
        }
        next.run(ctx, stream)
    }
}
