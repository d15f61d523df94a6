//! A token of workspace A can read, change and delete nothing of workspace B, even when it
//! guesses B's ids.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

struct Other {
    token: String,
    contact: Value,
    channel: Value,
    user: Value,
    team: Value,
    token_id: Value,
    field: Value,
}

async fn populate_other_workspace(app: &TestApp) -> Other {
    let (_, token) = app.other_workspace().await;
    let b = |query: &'static str, variables: Value| {
        let token = token.clone();
        async move {
            let body = app.gql_as(Some(&token), query, variables).await;
            assert!(body.get("errors").is_none(), "{body:#}");
            body["data"].clone()
        }
    };
    let channel = b(
        "mutation { createChannel(input: {name: \"B bot\", kind: TELEGRAM, credentials: {botToken: \"1:b\", secretToken: \"s\"}}) { id } }",
        json!({}),
    )
    .await["createChannel"]["id"]
        .clone();
    let contact = b(
        "mutation($ch: ID!) { createContact(input: {firstName: \"Bea\", phone: \"+593991234567\", tags: [\"b-tag\"], \
         identifiers: [{channelId: $ch, identifier: \"4242\"}]}) { id } }",
        json!({ "ch": channel }),
    )
    .await["createContact"]["id"]
        .clone();
    let user = b("mutation { createUser(input: {name: \"Bo\", email: \"bo@b.io\", role: AGENT}) { id } }", json!({}))
        .await["createUser"]["id"]
        .clone();
    let team =
        b("mutation { createTeam(input: {name: \"B team\"}) { id } }", json!({})).await["createTeam"]["id"].clone();
    let token_id = b("mutation { createApiToken(input: {name: \"B token\"}) { apiToken { id } } }", json!({}))
        .await["createApiToken"]["apiToken"]["id"]
        .clone();
    let field =
        b("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
            .await["createContactField"]["id"]
            .clone();
    Other { token, contact, channel, user, team, token_id, field }
}

#[tokio::test]
async fn a_token_of_one_workspace_reads_nothing_of_another() {
    let app = TestApp::spawn().await;
    let b = populate_other_workspace(&app).await;

    let data = app
        .ok(
            "query($c: ID!, $ch: ID!, $u: ID!, $t: ID!) { contact(id: $c) { id } channel(id: $ch) { id } user(id: $u) { id } team(id: $t) { id } }",
            json!({ "c": b.contact, "ch": b.channel, "u": b.user, "t": b.team }),
        )
        .await;
    assert_eq!(data, json!({ "contact": null, "channel": null, "user": null, "team": null }));

    let lists = app
        .ok(
            "{ contacts { totalCount nodes { id } } channels { id } users { id } teams { id } apiTokens { id } tags { name } contactFields { key } }",
            json!({}),
        )
        .await;
    assert_eq!(lists["contacts"]["totalCount"], 0);
    for (list, id) in [("channels", &b.channel), ("users", &b.user), ("teams", &b.team), ("apiTokens", &b.token_id)] {
        let ids: Vec<&Value> = lists[list].as_array().unwrap().iter().map(|item| &item["id"]).collect();
        assert!(!ids.contains(&id), "{list} shows the other workspace's {id}: {lists:#}");
    }
    assert_eq!(lists["contactFields"], json!([]), "{lists:#}");
    assert_eq!(lists["tags"], json!([]), "{lists:#}");
    assert_eq!(lists["teams"], json!([]), "{lists:#}");
    let searched = app
        .ok("{ contacts(search: \"Bea\") { totalCount } byTag: contacts(tag: \"b-tag\") { totalCount } }", json!({}))
        .await;
    assert_eq!(searched, json!({ "contacts": { "totalCount": 0 }, "byTag": { "totalCount": 0 } }));
}

#[tokio::test]
async fn a_token_of_one_workspace_changes_and_deletes_nothing_of_another() {
    let app = TestApp::spawn().await;
    let b = populate_other_workspace(&app).await;
    let mine = app.contact(json!({ "firstName": "Ana" })).await;

    let attempts = [
        (
            "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"Hacked\"}) { id } }",
            json!({ "id": b.contact }),
        ),
        ("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": b.contact })),
        ("mutation($id: ID!) { tagContacts(contactIds: [$id], tags: [\"x\"]) { id } }", json!({ "id": b.contact })),
        (
            "mutation($id: ID!) { untagContacts(contactIds: [$id], tags: [\"b-tag\"]) { id } }",
            json!({ "id": b.contact }),
        ),
        (
            "mutation($id: ID!, $ch: ID!) { setContactIdentifier(contactId: $id, input: {channelId: $ch, identifier: \"1\"}) { id } }",
            json!({ "id": b.contact, "ch": b.channel }),
        ),
        (
            "mutation($id: ID!, $ch: ID!) { removeContactIdentifier(contactId: $id, channelId: $ch) { id } }",
            json!({ "id": b.contact, "ch": b.channel }),
        ),
        // My contact on their channel is refused too.
        (
            "mutation($id: ID!, $ch: ID!) { setContactIdentifier(contactId: $id, input: {channelId: $ch, identifier: \"9\"}) { id } }",
            json!({ "id": mine, "ch": b.channel }),
        ),
        ("mutation($id: ID!) { updateChannel(id: $id, input: {name: \"Hacked\"}) { id } }", json!({ "id": b.channel })),
        ("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": b.channel })),
        ("mutation($id: ID!) { updateUser(id: $id, input: {name: \"Hacked\"}) { id } }", json!({ "id": b.user })),
        ("mutation($id: ID!) { deleteUser(id: $id) }", json!({ "id": b.user })),
        ("mutation($id: ID!) { renameTeam(id: $id, name: \"Hacked\") { id } }", json!({ "id": b.team })),
        ("mutation($id: ID!) { deleteTeam(id: $id) }", json!({ "id": b.team })),
        ("mutation($id: ID!) { addTeamMembers(teamId: $id, userIds: [\"1\"]) { id } }", json!({ "id": b.team })),
        ("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": b.token_id })),
        ("mutation($id: ID!) { renameContactField(id: $id, name: \"Hacked\") { id } }", json!({ "id": b.field })),
        ("mutation($id: ID!) { deleteContactField(id: $id) }", json!({ "id": b.field })),
        (
            "mutation($u: ID!) { createApiToken(input: {name: \"steal\", userId: $u}) { token } }",
            json!({ "u": b.user }),
        ),
        ("mutation($u: ID!) { createTeam(input: {name: \"mine\", memberIds: [$u]}) { id } }", json!({ "u": b.user })),
        (
            "mutation($ch: ID!) { createContact(input: {firstName: \"X\", identifiers: [{channelId: $ch, identifier: \"77\"}]}) { id } }",
            json!({ "ch": b.channel }),
        ),
    ];
    for (query, variables) in attempts {
        let body = app.gql(query, variables.clone()).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query} {variables}: {body:#}");
    }

    // Workspace B is exactly as it was.
    let after = app
        .gql_as(
            Some(&b.token),
            "query($c: ID!, $u: ID!, $t: ID!) { contact(id: $c) { firstName tags { name } identifiers { identifier } } \
             channels { name } user(id: $u) { name } team(id: $t) { name } apiTokens { name revokedAt } contactFields { name } }",
            json!({ "c": b.contact, "u": b.user, "t": b.team }),
        )
        .await;
    assert_eq!(
        after["data"]["contact"],
        json!({ "firstName": "Bea", "tags": [{ "name": "b-tag" }], "identifiers": [{ "identifier": "4242" }] })
    );
    assert_eq!(after["data"]["channels"].as_array().unwrap().iter().filter(|c| c["name"] == "B bot").count(), 1);
    assert_eq!(after["data"]["user"]["name"], "Bo");
    assert_eq!(after["data"]["team"]["name"], "B team");
    assert!(after["data"]["apiTokens"].as_array().unwrap().iter().all(|t| t["revokedAt"].is_null()));
    assert_eq!(after["data"]["contactFields"], json!([{ "name": "Tier" }]));
    // And my own data did not gain anything of theirs.
    let mine_after = app
        .ok(
            "query($id: ID!) { contact(id: $id) { tags { name } identifiers { identifier } } teams { id } }",
            json!({ "id": mine }),
        )
        .await;
    assert_eq!(mine_after["contact"], json!({ "tags": [], "identifiers": [] }));
    assert_eq!(mine_after["teams"], json!([]));
}
