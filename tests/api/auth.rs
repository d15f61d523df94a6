//! Tokens and access levels.

use serde_json::json;

use crate::helpers::{Role, TestApp, error_code};

#[tokio::test]
async fn without_a_token_only_introspection_and_typename_answer() {
    let app = TestApp::spawn().await;

    let body = app.gql_as(None, "{ __typename __schema { queryType { name } } }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["__typename"], "Query");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    for query in ["{ viewer { role } }", "{ contacts { totalCount } }", "{ channels { id } }"] {
        let body = app.gql_as(None, query, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{query}: {body:#}");
        assert!(body["data"].is_null(), "{query}: {body:#}");
    }
    let body = app.gql_as(None, "mutation { createContact(input: {firstName: \"Ana\"}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_401() {
    let app = TestApp::spawn().await;
    for header in ["Bearer pgn_not-a-real-token", "Bearer something", "Basic dXNlcjpwYXNz", "Bearer"] {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("authorization", header)
            .json(&json!({ "query": "{ viewer { role } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{header}");
    }
}

#[tokio::test]
async fn the_viewer_is_the_token_s_user_with_the_token_s_role() {
    let app = TestApp::spawn().await;
    let agent = app.token_for(Role::Agent).await;
    let body = app.gql_as(Some(&agent), "{ viewer { role user { role } workspace { name } } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["role"], "AGENT", "{body:#}");
    assert_eq!(body["data"]["viewer"]["user"]["role"], "AGENT");
    assert_eq!(body["data"]["viewer"]["workspace"]["name"], "My workspace");
}

#[tokio::test]
async fn an_agent_cannot_manage_channels_users_or_tokens_nor_delete_contacts() {
    let app = TestApp::spawn().await;
    let contact = app.contact(json!({ "firstName": "Ana" })).await;
    let sandbox = app.ok("{ channels { id } }", json!({})).await["channels"][0]["id"].clone();
    for role in [Role::Agent, Role::Manager] {
        let token = app.token_for(role).await;
        let attempts = [
            (
                "mutation { createChannel(input: {name: \"x\", kind: TELEGRAM, credentials: {botToken: \"1:a\", secretToken: \"s\"}}) { id } }",
                json!({}),
            ),
            (
                "mutation($id: ID!) { updateChannel(id: $id, input: {name: \"renamed\"}) { id } }",
                json!({ "id": sandbox }),
            ),
            ("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": sandbox })),
            ("mutation { createUser(input: {name: \"B\", email: \"b@x.io\", role: AGENT}) { id } }", json!({})),
            ("mutation { createApiToken(input: {name: \"t\"}) { token } }", json!({})),
            ("{ apiTokens { id } }", json!({})),
            ("mutation { updateWorkspace(input: {name: \"Mine\"}) { name } }", json!({})),
        ];
        for (query, variables) in attempts {
            let body = app.gql_as(Some(&token), query, variables).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{role:?} {query}: {body:#}");
        }
        let body =
            app.gql_as(Some(&token), "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": contact })).await;
        if role == Role::Agent {
            assert_eq!(error_code(&body), "FORBIDDEN", "{body:#}");
        } else {
            assert_eq!(body["data"]["deleteContact"], json!(contact), "{body:#}");
        }
    }
    // Nothing an agent or manager tried was written.
    let data = app.ok("{ channels { name } workspace { name } users { email } }", json!({})).await;
    assert_eq!(data["channels"].as_array().unwrap().len(), 1);
    assert_eq!(data["channels"][0]["name"], "Sandbox (simulated, sends nothing)");
    assert_eq!(data["workspace"]["name"], "My workspace");
    assert!(!data["users"].to_string().contains("b@x.io"));
}

#[tokio::test]
async fn an_agent_can_create_and_tag_contacts() {
    let app = TestApp::spawn().await;
    let agent = app.token_for(Role::Agent).await;
    let body = app
        .gql_as(
            Some(&agent),
            "mutation { createContact(input: {firstName: \"Ana\", tags: [\"vip\"]}) { id tags { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["createContact"]["tags"][0]["name"], "vip", "{body:#}");
}

#[tokio::test]
async fn a_created_token_works_once_shown_and_stops_when_revoked() {
    let app = TestApp::spawn().await;
    let created = app
        .ok("mutation { createApiToken(input: {name: \"Zapier\", role: MANAGER}) { token apiToken { id role prefix revokedAt } } }", json!({}))
        .await;
    let token = created["createApiToken"]["token"].as_str().unwrap().to_owned();
    let id = created["createApiToken"]["apiToken"]["id"].clone();
    assert!(token.starts_with(created["createApiToken"]["apiToken"]["prefix"].as_str().unwrap()));
    assert_eq!(created["createApiToken"]["apiToken"]["role"], "MANAGER");

    let body = app.gql_as(Some(&token), "{ viewer { role } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["role"], "MANAGER");

    // The secret is not stored: the list never shows it.
    let listed = app.ok("{ apiTokens { id name prefix lastUsedAt } }", json!({})).await;
    assert!(!listed.to_string().contains(&token));
    let zapier = listed["apiTokens"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert!(zapier["lastUsedAt"].is_string(), "use is recorded: {zapier:#}");

    let revoked = app.ok("mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", json!({ "id": id })).await;
    assert!(revoked["revokeApiToken"]["revokedAt"].is_string());
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_token_cannot_carry_more_than_its_user_or_its_creator() {
    let app = TestApp::spawn().await;
    let agent_user = app
        .ok("mutation { createUser(input: {name: \"Al\", email: \"al@x.io\", role: AGENT}) { id } }", json!({}))
        .await;
    let body = app
        .gql(
            "mutation($user: ID!) { createApiToken(input: {name: \"t\", userId: $user, role: ADMIN}) { token } }",
            json!({ "user": agent_user["createUser"]["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");

    let admin = app.token_for(Role::Admin).await;
    let body = app
        .gql_as(
            Some(&admin),
            "mutation { createApiToken(input: {name: \"t\", userId: \"1\", role: OWNER}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body:#}");
}

#[tokio::test]
async fn a_demoted_user_s_tokens_lose_the_access_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin).await;
    let viewer = app.gql_as(Some(&admin), "{ viewer { user { id } } }", json!({})).await;
    let admin_user = viewer["data"]["viewer"]["user"]["id"].clone();
    app.ok("mutation($id: ID!) { updateUser(id: $id, input: {role: AGENT}) { role } }", json!({ "id": admin_user }))
        .await;
    let body = app.gql_as(Some(&admin), "{ viewer { role } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["role"], "AGENT");
    let body = app.gql_as(Some(&admin), "{ apiTokens { id } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}
