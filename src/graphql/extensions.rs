//! Schema extensions: the authentication gate, the nesting limit and the execution marker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve, NextSubscribe, ResolveInfo,
};
use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, Response, ServerError, ServerResult, Value, Variables};

type ConstValue = Value;

use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode};

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

/// Deepest nesting of `{`, `[` and `(` a document may have. async-graphql's parser recurses
/// once per level on the thread's stack, with no limit for values: a document of a few
/// hundred nested `[` (a 2 MiB body holds a million) overflowed the stack and aborted the
/// whole process. Real documents stay far below: selections are limited to 15 levels and a
/// segment filter to 6 groups.
pub const MAX_NESTING: usize = 64;

/// Refuses, before anything runs (over HTTP and WebSocket alike), input no resolver should
/// see: a document nested deeper than [`MAX_NESTING`] (checked before async-graphql parses
/// it), and text holding a NUL character in the document or its variables (PostgreSQL
/// cannot store or compare it, SQLite would: refused on both, wherever it appears).
pub struct InputLimits;

impl ExtensionFactory for InputLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(InputLimits)
    }
}

fn refused(message: String) -> ServerError {
    let error: async_graphql::Error = ApiError::new(ErrorCode::BadUserInput, message).into();
    let mut error = error.into_server_error(Default::default());
    error.locations.clear();
    error
}

#[async_trait::async_trait]
impl Extension for InputLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if nesting_depth(query) > MAX_NESTING {
            return Err(refused(format!("The document is nested too deep: at most {MAX_NESTING} levels of brackets.")));
        }
        let document = next.run(ctx, query, variables).await?;
        if variables.values().any(const_has_nul) || document_has_nul(&document) {
            return Err(refused("Text may not contain NUL characters (U+0000).".into()));
        }
        Ok(document)
    }
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(text) => text.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields.iter().any(|(name, value)| name.contains('\0') || const_has_nul(value)),
        _ => false,
    }
}

/// Whether a literal in the document (arguments, directives, variable defaults) holds NUL.
/// Iterative: the document's nesting is bounded, but nothing here needs the stack.
fn document_has_nul(document: &ExecutableDocument) -> bool {
    let mut sets: Vec<&SelectionSet> = Vec::new();
    let mut directives: Vec<&[Positioned<Directive>]> = Vec::new();
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            if definition.node.default_value.as_ref().is_some_and(|value| const_has_nul(&value.node)) {
                return true;
            }
            directives.push(&definition.node.directives);
        }
        directives.push(&operation.node.directives);
        sets.push(&operation.node.selection_set.node);
    }
    for fragment in document.fragments.values() {
        directives.push(&fragment.node.directives);
        sets.push(&fragment.node.selection_set.node);
    }
    let mut arguments = Vec::new();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    arguments.extend(field.node.arguments.iter().map(|(_, value)| &value.node));
                    directives.push(&field.node.directives);
                    sets.push(&field.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => directives.push(&spread.node.directives),
                Selection::InlineFragment(fragment) => {
                    directives.push(&fragment.node.directives);
                    sets.push(&fragment.node.selection_set.node);
                }
            }
        }
    }
    for list in directives {
        for directive in list {
            arguments.extend(directive.node.arguments.iter().map(|(_, value)| &value.node));
        }
    }
    // Variables inside literals are checked with the variables.
    arguments.into_iter().any(|value| {
        value
            .clone()
            .into_const_with(|_| Ok::<_, std::convert::Infallible>(ConstValue::Null))
            .is_ok_and(|v| const_has_nul(&v))
    })
}

/// The deepest nesting of `{`, `[` and `(` in a GraphQL document, not counting those inside
/// strings and comments. Linear and without recursion: it runs before the parser.
pub fn nesting_depth(document: &str) -> usize {
    let bytes = document.as_bytes();
    let line_end = |b: u8| b == b'\n' || b == b'\r';
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !line_end(bytes[i]) {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                // With the loop's step below, past the closing quotes.
                i += 2;
            }
            b'"' => {
                i += 1;
                // A string ends at its quote or, unterminated, at the end of the line.
                while i < bytes.len() && bytes[i] != b'"' && !line_end(bytes[i]) {
                    let escaped = bytes[i] == b'\\' && bytes.get(i + 1).is_some_and(|b| !line_end(*b));
                    i += if escaped { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::nesting_depth;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(nesting_depth("{ viewer { role } }"), 2);
        assert_eq!(nesting_depth("{ a(b: [[1]]) { c } }"), 4);
        assert_eq!(nesting_depth("{ a(b: \"{{{[[[\\\"(((\") }"), 2);
        assert_eq!(nesting_depth("{ a(b: \"\"\"{{{ \\\"\"\" [[[ \"\"\") }"), 2);
        assert_eq!(nesting_depth("# {{{{\n{ a }"), 1);
        assert_eq!(nesting_depth("{ a(b: \"unterminated\n[[[[ }"), 6);
        assert_eq!(nesting_depth(&"[".repeat(1000)), 1000);
        assert_eq!(nesting_depth("}}}{"), 1);
    }
}
