//! Internal failures stay internal; oversized, deep and complex requests are refused.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{TestApp, error_code, error_message};

#[tokio::test]
async fn an_internal_failure_reaches_the_client_as_internal_error_only() {
    let app = TestApp::spawn().await;
    app.contact(json!({ "firstName": "Ana", "tags": ["vip"] })).await;
    // Break the database under the running server.
    app.app.db.execute_unprepared("DROP TABLE contact_tags").await.unwrap();

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.token)
        .json(&json!({ "query": "{ contacts { nodes { firstName tags { name } } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_message(&body), "Internal error", "{body:#}");
    assert_eq!(error_code(&body), "INTERNAL");
    for leak in ["contact_tags", "no such table", "does not exist", "sqlx", "SELECT", "relation"] {
        assert!(!text.contains(leak), "the response leaks {leak:?}: {text}");
    }
    // The server keeps serving.
    let data = app.ok("{ viewer { role } }", json!({})).await;
    assert_eq!(data["viewer"]["role"], "OWNER");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_or_not_its_length_is_declared() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(3 * 1024 * 1024);
    let body = json!({ "query": "{ viewer { role } }", "variables": { "pad": padding } }).to_string();

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&json), "BAD_USER_INPUT");

    // Chunked, without Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.into_bytes().chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Just under the limit is served.
    let small = json!({ "query": "{ viewer { role } }", "variables": { "pad": "x".repeat(1024 * 1024) } });
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(&app.token).json(&small).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused_before_it_runs() {
    let app = TestApp::spawn().await;
    let mut query = String::from("id");
    for _ in 0..10 {
        query = format!("teams {{ members {{ {query} }} }}");
    }
    let query = format!("{{ viewer {{ user {{ {query} }} }} }}");
    let body = app.gql(&query, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
    assert!(error_message(&body).to_lowercase().contains("nested too deep"), "{body:#}");
    assert!(body.get("data").is_none(), "nothing ran: {body:#}");

    // The standard introspection query (depth ~13) is within the limit.
    let introspection = include_str!("introspection.graphql");
    let body = app.gql_as(None, introspection, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

#[tokio::test]
async fn a_query_too_complex_is_refused_before_it_runs() {
    let app = TestApp::spawn().await;
    let fields: String = (0..10)
        .map(|i| format!("c{i}: contacts(first: 100) {{ nodes {{ id firstName lastName phone email }} }} "))
        .collect();
    let body = app.gql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
    assert!(error_message(&body).to_lowercase().contains("too complex"), "{body:#}");
    // One such page is fine.
    app.ok("{ contacts(first: 100) { nodes { id firstName lastName phone email } } }", json!({})).await;
}
