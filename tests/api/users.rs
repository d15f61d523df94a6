//! Users, teams and the workspace settings.

use serde_json::json;

use crate::helpers::{Role, TestApp, error_code};

#[tokio::test]
async fn owners_are_protected() {
    let app = TestApp::spawn().await;
    let owner_id = app.ok("{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"].clone();
    let admin = app.token_for(Role::Admin).await;

    let body = app
        .gql_as(
            Some(&admin),
            "mutation { createUser(input: {name: \"O\", email: \"o@x.io\", role: OWNER}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql_as(
            Some(&admin),
            "mutation($id: ID!) { updateUser(id: $id, input: {role: AGENT}) { id } }",
            json!({ "id": owner_id }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // The last owner cannot step down or be removed, and nobody removes themself.
    let body = app
        .gql("mutation($id: ID!) { updateUser(id: $id, input: {role: ADMIN}) { id } }", json!({ "id": owner_id }))
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    let body = app.gql("mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": owner_id })).await;
    assert_eq!(error_code(&body), "CONFLICT");

    // With a second owner, the first may step down.
    app.ok("mutation { createUser(input: {name: \"Second\", email: \"second@x.io\", role: OWNER}) { id } }", json!({}))
        .await;
    let data = app
        .ok("mutation($id: ID!) { updateUser(id: $id, input: {role: ADMIN}) { role } }", json!({ "id": owner_id }))
        .await;
    assert_eq!(data["updateUser"]["role"], "ADMIN");
}

#[tokio::test]
async fn user_emails_are_unique_within_a_workspace() {
    let app = TestApp::spawn().await;
    app.ok("mutation { createUser(input: {name: \"A\", email: \"a@x.io\", role: AGENT}) { id } }", json!({})).await;
    let body = app
        .gql("mutation { createUser(input: {name: \"A2\", email: \" A@X.io \", role: AGENT}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("a@x.io"));
    // Another workspace may use the same email.
    let (_, other) = app.other_workspace().await;
    let body = app
        .gql_as(
            Some(&other),
            "mutation { createUser(input: {name: \"A\", email: \"a@x.io\", role: AGENT}) { id } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

#[tokio::test]
async fn teams_group_users() {
    let app = TestApp::spawn().await;
    let ana = app
        .ok("mutation { createUser(input: {name: \"Ana\", email: \"ana@x.io\", role: AGENT}) { id } }", json!({}))
        .await["createUser"]["id"]
        .clone();
    let bea = app
        .ok("mutation { createUser(input: {name: \"Bea\", email: \"bea@x.io\", role: MANAGER}) { id } }", json!({}))
        .await["createUser"]["id"]
        .clone();
    let team = app
        .ok(
            "mutation($m: [ID!]!) { createTeam(input: {name: \"Ventas\", memberIds: $m}) { id members { name } } }",
            json!({ "m": [ana] }),
        )
        .await;
    assert_eq!(team["createTeam"]["members"], json!([{ "name": "Ana" }]));
    let team_id = team["createTeam"]["id"].clone();
    let body = app.gql("mutation { createTeam(input: {name: \"Ventas\"}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "CONFLICT");

    app.ok(
        "mutation($t: ID!, $u: [ID!]!) { addTeamMembers(teamId: $t, userIds: $u) { id } }",
        json!({ "t": team_id, "u": [bea, ana] }),
    )
    .await;
    let data = app
        .ok("query($u: ID!) { teams { name members { name } } user(id: $u) { teams { name } } }", json!({ "u": bea }))
        .await;
    assert_eq!(data["teams"], json!([{ "name": "Ventas", "members": [{ "name": "Ana" }, { "name": "Bea" }] }]));
    assert_eq!(data["user"]["teams"], json!([{ "name": "Ventas" }]));

    app.ok(
        "mutation($t: ID!, $u: [ID!]!) { removeTeamMembers(teamId: $t, userIds: $u) { id } }",
        json!({ "t": team_id, "u": [ana] }),
    )
    .await;
    let data = app.ok("query($t: ID!) { team(id: $t) { members { name } } }", json!({ "t": team_id })).await;
    assert_eq!(data["team"]["members"], json!([{ "name": "Bea" }]));

    let body = app
        .gql("mutation($t: ID!) { addTeamMembers(teamId: $t, userIds: [\"99999\"]) { id } }", json!({ "t": team_id }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn the_workspace_time_zone_must_be_an_iana_name() {
    let app = TestApp::spawn().await;
    let body =
        app.gql("mutation { updateWorkspace(input: {timeZone: \"Mars/Olympus\"}) { timeZone } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let data = app.ok("mutation { updateWorkspace(input: {name: \"Tienda\", timeZone: \"America/Guayaquil\"}) { name timeZone limits { segments monthlyBroadcastMessages } } }", json!({})).await;
    assert_eq!(data["updateWorkspace"]["timeZone"], "America/Guayaquil");
    assert_eq!(data["updateWorkspace"]["limits"]["segments"], 500);
}
