//! GraphQL over HTTP: media types, status codes, GET, methods.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(app: &TestApp, accept: Option<&str>, content_type: &str, body: String) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .body(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let app = TestApp::spawn().await;
    let query = json!({ "query": "{ viewer { role } }" }).to_string();
    for (accept, expected) in [
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some("application/graphql-response+json, application/json;q=0.9"), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (None, "application/json"),
    ] {
        let response = post(&app, accept, "application/json", query.clone()).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert!(content_type(&response).starts_with(expected), "{accept:?} gave {}", content_type(&response));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["viewer"]["role"], "OWNER");
    }
    let response = post(&app, Some("text/html"), "application/json", query.clone()).await;
    assert_eq!(response.status(), 406);
    let response = post(&app, Some("application/json;q=0"), "application/json", query).await;
    assert_eq!(response.status(), 406);
}

#[tokio::test]
async fn request_errors_are_400_without_data_for_graphql_response_json_and_200_for_json() {
    let app = TestApp::spawn().await;
    for document in ["{ viewer { role ", "{ noSuchField }", "query($n: Int!) { contacts(first: $n) { totalCount } }"] {
        let body = json!({ "query": document }).to_string();
        let response = post(&app, Some(GRAPHQL_RESPONSE), "application/json", body.clone()).await;
        assert_eq!(response.status(), 400, "{document}");
        assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE));
        let json: Value = response.json().await.unwrap();
        assert!(json.get("data").is_none(), "{document}: {json:#}");
        assert_eq!(error_code(&json), "BAD_USER_INPUT", "{document}: {json:#}");

        let response = post(&app, Some("application/json"), "application/json", body).await;
        assert_eq!(response.status(), 200, "{document}");
        let json: Value = response.json().await.unwrap();
        assert!(json.get("data").is_none(), "{document}: {json:#}");
    }
    // An error during execution keeps 200 and `data`.
    let body = json!({ "query": "{ contact(id: \"abc\") { id } }" }).to_string();
    let response = post(&app, Some(GRAPHQL_RESPONSE), "application/json", body).await;
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert!(json.get("data").is_some(), "{json:#}");
    assert_eq!(error_code(&json), "BAD_USER_INPUT");
}

#[tokio::test]
async fn bodies_that_are_not_json_graphql_requests_are_refused() {
    let app = TestApp::spawn().await;
    let response = post(&app, None, "text/plain", "{ viewer { role } }".into()).await;
    assert_eq!(response.status(), 415);
    let response = post(&app, None, "application/x-www-form-urlencoded", "query=%7Bviewer%7D".into()).await;
    assert_eq!(response.status(), 415);
    for body in ["{not json", "[1,2]", "{\"variables\": {}}"] {
        let response = post(&app, None, "application/json", body.into()).await;
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(error_code(&json), "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", app.address),
        &[("query", "query($first: Int) { contacts(first: $first) { totalCount } }"), ("variables", "{\"first\": 5}")],
    )
    .unwrap();
    let response = app.client.get(url).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["data"]["contacts"]["totalCount"], 0);

    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", app.address),
        &[("query", "mutation { createContact(input: {firstName: \"Get\"}) { id } }")],
    )
    .unwrap();
    let response = app.client.get(url).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);

    let response = app.client.get(format!("{}/graphql", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_subscription_over_http_is_pointed_to_the_websocket_endpoint() {
    let app = TestApp::spawn().await;
    let body = json!({ "query": "subscription { contactChanged { action } }" }).to_string();
    let response = post(&app, Some(GRAPHQL_RESPONSE), "application/json", body).await;
    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.unwrap();
    assert!(json["errors"][0]["message"].as_str().unwrap().contains("/graphql/ws"), "{json:#}");
}

#[tokio::test]
async fn health_readiness_metrics_and_graphiql_answer() {
    let app = TestApp::spawn().await;
    app.ok("{ viewer { role } }", json!({})).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let live = get("/healthz").await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pregon_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/graphql\""), "{metrics}");
    assert!(metrics.contains("pregon_http_request_duration_seconds_bucket"), "{metrics}");
    let page = get("/").await.unwrap().text().await.unwrap();
    assert!(page.contains("graphiql") && page.contains("/graphql/ws"));
    assert_eq!(get("/nope").await.unwrap().status(), 404);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.app.db.clone().close().await.unwrap();
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let live = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(live.status(), 200);
}
