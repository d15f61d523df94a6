//! The committed SDL matches the server, and everything in it is described.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Fails when `schema.graphql` differs from the server's schema. Run with
/// `UPDATE_SCHEMA=1 cargo test schema_graphql` to regenerate it, then commit it.
#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let sdl = pregon::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test schema_graphql` and commit the result"
    );
}

/// Every type, field, argument, input field and enum value has a description, as
/// integrators see them through introspection (asked without a token).
#[tokio::test]
async fn every_type_field_and_argument_is_described() {
    let app = TestApp::spawn().await;
    let body = app.gql_as(None, include_str!("introspection.graphql"), json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let described = |v: &Value| v["description"].as_str().is_some_and(|d| !d.trim().is_empty());
    let mut missing = Vec::new();
    for ty in body["data"]["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || builtin.contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("{name}.{}({})", field["name"], arg["name"]));
                }
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if !described(value) {
                missing.push(format!("{name}.{}", value["name"]));
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
}
