//! Segments: the filter language, limits, names and isolation.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::{Role, TestApp, error_code, error_message};

/// The ids (as strings) of the contacts a filter previews, sorted.
async fn preview(app: &TestApp, filter: Value) -> Vec<String> {
    let data = app
        .ok(
            "query($f: SegmentFilterInput!) { previewSegment(filter: $f) { contactCount contacts(first: 100) { nodes { id } } } }",
            json!({ "f": filter }),
        )
        .await;
    let mut ids: Vec<String> = data["previewSegment"]["contacts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data["previewSegment"]["contactCount"], ids.len(), "count and list agree for {filter}");
    ids.sort();
    ids
}

fn cond(field: &str, operator: &str) -> Value {
    json!({ "condition": { "field": field, "operator": operator } })
}

fn with(mut condition: Value, key: &str, value: Value) -> Value {
    condition["condition"][key] = value;
    condition
}

async fn set_times(app: &TestApp, id: &str, created: DateTime<Utc>, interacted: Option<DateTime<Utc>>) {
    entity::contact::Entity::update(entity::contact::ActiveModel {
        id: Set(id.parse().unwrap()),
        created_at: Set(created),
        last_interaction_at: Set(interacted),
        ..Default::default()
    })
    .exec(&app.app.db)
    .await
    .unwrap();
}

async fn read_segment(app: &TestApp, id: Value) -> Value {
    let query = "query($id: ID!) { segment(id: $id) { contactCount contacts { nodes { id } } } }";
    app.ok(query, json!({ "id": id })).await["segment"].clone()
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn every_filter_operator_selects_exactly_the_right_contacts() {
    let app = TestApp::spawn().await;
    // Far from UTC, so that day boundaries in the workspace's zone differ from UTC's.
    app.ok("mutation { updateWorkspace(input: {timeZone: \"America/Guayaquil\"}) { timeZone } }", json!({})).await;
    for (key, kind) in [("tier", "TEXT"), ("points", "NUMBER"), ("renewal", "DATE"), ("optin", "BOOLEAN")] {
        app.ok(
            "mutation($k: String!, $t: ContactFieldType!) { createContactField(input: {key: $k, name: $k, type: $t}) { id } }",
            json!({ "k": key, "t": kind }),
        )
        .await;
    }
    let bot = app
        .channel(json!({ "name": "Bot", "kind": "TELEGRAM", "credentials": { "botToken": "1:a", "secretToken": "s" } }))
        .await;
    let ana = app
        .contact(json!({ "firstName": "Ana", "lastName": "Pérez", "phone": "+593991234567", "email": "ana@shop.io", "language": "es",
            "tags": ["vip", "gold"], "customFields": { "tier": "Gold", "points": 120, "renewal": "2024-05-01", "optin": true },
            "identifiers": [{ "channelId": bot, "identifier": "111" }] }))
        .await;
    let bea = app
        .contact(json!({ "firstName": "Bea", "email": "bea@mail.com", "language": "pt-BR", "tags": ["vip"],
            "customFields": { "tier": "silver", "points": 15.5, "renewal": "2025-01-01", "optin": false } }))
        .await;
    let carl = app
        .contact(
            json!({ "firstName": "Carl", "phone": "+14155552671", "tags": ["gold"], "customFields": { "points": 50 } }),
        )
        .await;
    let dee = app.contact(json!({ "lastName": "Dee", "email": "dee@shop.io" })).await;

    let tz: chrono_tz::Tz = "America/Guayaquil".parse().unwrap();
    let now = Utc::now();
    let local_midnight =
        |date: NaiveDate| tz.from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let today = now.with_timezone(&tz).date_naive();
    // Ana: created 2024-03-09 22:00 Guayaquil (03:00 UTC on the 10th); wrote an hour ago.
    set_times(&app, &ana, Utc.with_ymd_and_hms(2024, 3, 10, 3, 0, 0).unwrap(), Some(now - Duration::hours(1))).await;
    // Bea: created 2024-03-10 01:00 Guayaquil; never wrote.
    set_times(&app, &bea, Utc.with_ymd_and_hms(2024, 3, 10, 6, 0, 0).unwrap(), None).await;
    // Carl: created one minute after local midnight six days ago (inside "the last 7 days").
    set_times(&app, &carl, local_midnight(today - chrono::Days::new(6)) + Duration::minutes(1), None).await;
    // Dee: created one minute before that midnight (outside), wrote 10 days ago.
    set_times(
        &app,
        &dee,
        local_midnight(today - chrono::Days::new(6)) - Duration::minutes(1),
        Some(now - Duration::days(10)),
    )
    .await;

    let (a, b, c, d) = (&ana, &bea, &carl, &dee);
    let cases: Vec<(Value, Vec<String>)> = vec![
        // Tags
        (with(cond("TAGS", "HAS_ANY_OF"), "values", json!(["VIP"])), sorted(&[a, b])),
        (with(cond("TAGS", "HAS_ANY_OF"), "values", json!(["vip", "gold"])), sorted(&[a, b, c])),
        (with(cond("TAGS", "HAS_ALL_OF"), "values", json!(["vip", "gold"])), sorted(&[a])),
        (with(cond("TAGS", "HAS_ALL_OF"), "values", json!(["vip", "no-such-tag"])), vec![]),
        (with(cond("TAGS", "HAS_NONE_OF"), "values", json!(["vip"])), sorted(&[c, d])),
        (with(cond("TAGS", "HAS_ANY_OF"), "values", json!(["no-such-tag"])), vec![]),
        (with(cond("TAGS", "HAS_NONE_OF"), "values", json!(["no-such-tag"])), sorted(&[a, b, c, d])),
        // Text attributes
        (with(cond("FIRST_NAME", "IS"), "value", json!("ana")), sorted(&[a])),
        (with(cond("FIRST_NAME", "IS_NOT"), "value", json!("Ana")), sorted(&[b, c, d])),
        (with(cond("FIRST_NAME", "CONTAINS"), "value", json!("A")), sorted(&[a, b, c])),
        (with(cond("FIRST_NAME", "DOES_NOT_CONTAIN"), "value", json!("a")), sorted(&[d])),
        (cond("FIRST_NAME", "EXISTS"), sorted(&[a, b, c])),
        (cond("FIRST_NAME", "DOES_NOT_EXIST"), sorted(&[d])),
        (with(cond("LAST_NAME", "IS"), "value", json!("pérez")), sorted(&[a])),
        (with(cond("PHONE", "IS"), "value", json!("+593 99 123 4567")), sorted(&[a])),
        (with(cond("PHONE", "CONTAINS"), "value", json!("+1415")), sorted(&[c])),
        (cond("PHONE", "DOES_NOT_EXIST"), sorted(&[b, d])),
        (with(cond("EMAIL", "CONTAINS"), "value", json!("@SHOP.io")), sorted(&[a, d])),
        (with(cond("EMAIL", "IS_NOT"), "value", json!("ana@shop.io")), sorted(&[b, c, d])),
        (with(cond("LANGUAGE", "IS"), "value", json!("pt-br")), sorted(&[b])),
        (cond("LANGUAGE", "EXISTS"), sorted(&[a, b])),
        // Custom fields, by type
        (with(with(cond("CUSTOM_FIELD", "IS"), "key", json!("tier")), "value", json!("GOLD")), sorted(&[a])),
        (with(with(cond("CUSTOM_FIELD", "IS_NOT"), "key", json!("tier")), "value", json!("gold")), sorted(&[b, c, d])),
        (with(with(cond("CUSTOM_FIELD", "CONTAINS"), "key", json!("tier")), "value", json!("il")), sorted(&[b])),
        (
            with(with(cond("CUSTOM_FIELD", "DOES_NOT_CONTAIN"), "key", json!("tier")), "value", json!("il")),
            sorted(&[a, c, d]),
        ),
        (with(cond("CUSTOM_FIELD", "EXISTS"), "key", json!("tier")), sorted(&[a, b])),
        (with(cond("CUSTOM_FIELD", "DOES_NOT_EXIST"), "key", json!("tier")), sorted(&[c, d])),
        (with(with(cond("CUSTOM_FIELD", "GREATER_THAN"), "key", json!("points")), "value", json!("50")), sorted(&[a])),
        (
            with(with(cond("CUSTOM_FIELD", "LESS_THAN"), "key", json!("points")), "value", json!("50.5")),
            sorted(&[b, c]),
        ),
        (with(with(cond("CUSTOM_FIELD", "IS"), "key", json!("points")), "value", json!("15.5")), sorted(&[b])),
        (with(with(cond("CUSTOM_FIELD", "IS_NOT"), "key", json!("points")), "value", json!("50")), sorted(&[a, b, d])),
        (with(cond("CUSTOM_FIELD", "EXISTS"), "key", json!("points")), sorted(&[a, b, c])),
        (
            with(with(cond("CUSTOM_FIELD", "GREATER_THAN"), "key", json!("renewal")), "value", json!("2024-05-01")),
            sorted(&[b]),
        ),
        (
            with(with(cond("CUSTOM_FIELD", "LESS_THAN"), "key", json!("renewal")), "value", json!("2025-01-01")),
            sorted(&[a]),
        ),
        (with(with(cond("CUSTOM_FIELD", "IS"), "key", json!("renewal")), "value", json!("2024-05-01")), sorted(&[a])),
        (with(with(cond("CUSTOM_FIELD", "IS"), "key", json!("optin")), "value", json!("true")), sorted(&[a])),
        (with(with(cond("CUSTOM_FIELD", "IS"), "key", json!("optin")), "value", json!("false")), sorted(&[b])),
        (with(with(cond("CUSTOM_FIELD", "IS_NOT"), "key", json!("optin")), "value", json!("true")), sorted(&[b, c, d])),
        (with(cond("CUSTOM_FIELD", "DOES_NOT_EXIST"), "key", json!("optin")), sorted(&[c, d])),
        // Channels
        (with(cond("CHANNEL", "HAS_ANY_OF"), "values", json!([bot])), sorted(&[a])),
        (with(cond("CHANNEL", "HAS_NONE_OF"), "values", json!([bot])), sorted(&[b, c, d])),
        // Dates, in the workspace's time zone
        (with(cond("CREATED_AT", "BEFORE"), "value", json!("2024-03-10")), sorted(&[a])),
        (with(cond("CREATED_AT", "AFTER"), "value", json!("2024-03-09")), sorted(&[b, c, d])),
        (with(cond("CREATED_AT", "BEFORE"), "value", json!("2024-03-10T04:00:00Z")), sorted(&[a])),
        (with(cond("CREATED_AT", "WITHIN_LAST_DAYS"), "days", json!(7)), sorted(&[c])),
        (with(cond("CREATED_AT", "WITHIN_LAST_DAYS"), "days", json!(8)), sorted(&[c, d])),
        (cond("LAST_INTERACTION_AT", "EXISTS"), sorted(&[a, d])),
        (cond("LAST_INTERACTION_AT", "DOES_NOT_EXIST"), sorted(&[b, c])),
        (with(cond("LAST_INTERACTION_AT", "WITHIN_LAST_DAYS"), "days", json!(2)), sorted(&[a])),
        // Groups, nested
        (
            json!({ "all": [
                with(cond("TAGS", "HAS_ANY_OF"), "values", json!(["vip"])),
                { "any": [ with(cond("LANGUAGE", "IS"), "value", json!("es")), with(cond("EMAIL", "CONTAINS"), "value", json!("mail.com")) ] }
            ] }),
            sorted(&[a, b]),
        ),
        (
            json!({ "any": [ with(cond("FIRST_NAME", "IS"), "value", json!("Carl")), { "all": [ cond("LAST_NAME", "EXISTS"), cond("FIRST_NAME", "DOES_NOT_EXIST") ] } ] }),
            sorted(&[c, d]),
        ),
        (json!({ "all": [] }), sorted(&[a, b, c, d])),
        (json!({ "any": [] }), vec![]),
    ];
    for (filter, expected) in cases {
        assert_eq!(preview(&app, filter.clone()).await, expected, "filter {filter}");
    }
}

#[tokio::test]
async fn an_invalid_filter_answers_bad_user_input_naming_the_condition() {
    let app = TestApp::spawn().await;
    let (_, other) = app.other_workspace().await;
    let foreign_channel = app
        .gql_as(
            Some(&other),
            "mutation { createChannel(input: {name: \"B\", kind: TELEGRAM, credentials: {botToken: \"1:b\", secretToken: \"s\"}}) { id } }",
            json!({}),
        )
        .await["data"]["createChannel"]["id"]
        .clone();
    let mut deep = cond("FIRST_NAME", "EXISTS");
    for _ in 0..7 {
        deep = json!({ "all": [deep] });
    }
    let cases = [
        (
            json!({ "all": [cond("FIRST_NAME", "EXISTS"), with(cond("TAGS", "IS"), "value", json!("x"))] }),
            "filter.all[1]: IS does not apply to TAGS",
        ),
        (json!({ "any": [cond("CUSTOM_FIELD", "EXISTS")] }), "filter.any[0]: CUSTOM_FIELD needs the field's key"),
        (with(cond("CUSTOM_FIELD", "EXISTS"), "key", json!("nope")), "'nope' is not a contact field"),
        (cond("FIRST_NAME", "IS"), "IS needs a value"),
        (cond("CREATED_AT", "WITHIN_LAST_DAYS"), "WITHIN_LAST_DAYS needs days"),
        (with(cond("CREATED_AT", "BEFORE"), "value", json!("yesterday")), "is not a date"),
        (with(cond("TAGS", "HAS_ANY_OF"), "values", json!([])), "needs 1 to 100 values"),
        (with(cond("CHANNEL", "HAS_ANY_OF"), "values", json!([foreign_channel])), "there is no channel"),
        (with(cond("CHANNEL", "HAS_ANY_OF"), "values", json!(["abc"])), "'abc' is not a channel id"),
        (deep, "groups nest at most"),
    ];
    for (filter, expected) in cases {
        let body = app
            .gql(
                "query($f: SegmentFilterInput!) { previewSegment(filter: $f) { contactCount } }",
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{filter}: {body:#}");
        assert!(error_message(&body).contains(expected), "{filter}: expected {expected:?} in {body:#}");
    }
    // The same check guards saving.
    let body = app
        .gql(
            "mutation($f: SegmentFilterInput!) { createSegment(input: {name: \"Bad\", filter: $f}) { id } }",
            json!({ "f": cond("TAGS", "EXISTS") }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(app.ok("{ segments { id } }", json!({})).await["segments"], json!([]));
}

#[tokio::test]
async fn segment_names_are_unique_with_the_seed_message_in_english_or_spanish() {
    let app = TestApp::spawn().await;
    let create = "mutation($n: String!) { createSegment(input: {name: $n, filter: {all: []}}) { id name } }";
    app.ok(create, json!({ "n": "Clientes VIP" })).await;
    let body = app.gql(create, json!({ "n": "Clientes VIP" })).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "SEGMENT_NAME_NOT_UNIQUE");
    assert_eq!(error_message(&body), "The contact segment name must be unique.");
    let body =
        app.gql_with_headers(&[("accept-language", "es-EC,es;q=0.9")], create, json!({ "n": "Clientes VIP" })).await;
    assert_eq!(error_message(&body), "El nombre del segmento de contacto debe ser único.");

    // Renaming onto a taken name is refused too.
    let other = app.ok(create, json!({ "n": "Otros" })).await["createSegment"]["id"].clone();
    let body = app
        .gql(
            "mutation($id: ID!) { updateSegment(id: $id, input: {name: \"Clientes VIP\"}) { id } }",
            json!({ "id": other }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
}

#[tokio::test]
async fn a_workspace_has_at_most_500_segments() {
    let app = TestApp::spawn().await;
    // 499 segments written directly, the 500th through the API.
    let now = Utc::now();
    let rows: Vec<entity::segment::ActiveModel> = (0..499)
        .map(|i| entity::segment::ActiveModel {
            workspace_id: Set(app.workspace_id),
            name: Set(format!("Segment {i}")),
            filter: Set(json!({ "all": [] })),
            created_by_user_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(100) {
        entity::segment::Entity::insert_many(chunk.to_vec()).exec(&app.app.db).await.unwrap();
    }
    let create = "mutation($n: String!) { createSegment(input: {name: $n, filter: {all: []}}) { id } }";
    let body = app.gql(create, json!({ "n": "Number 500" })).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let body = app.gql(create, json!({ "n": "Number 501" })).await;
    assert_eq!(error_code(&body), "LIMIT_REACHED");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "SEGMENT_LIMIT_REACHED");
    assert!(error_message(&body).contains("500"), "{body:#}");
    let body = app.gql_with_headers(&[("accept-language", "es")], create, json!({ "n": "Número 501" })).await;
    assert_eq!(
        error_message(&body),
        "Límite alcanzado: el número máximo de segmentos en un espacio de trabajo es 500. Elimine un segmento antes de crear uno nuevo."
    );
    assert_eq!(app.ok("{ segments { id } }", json!({})).await["segments"].as_array().unwrap().len(), 500);

    // Deleting one makes room.
    let first = app.ok("{ segments { id } }", json!({})).await["segments"][0]["id"].clone();
    app.ok("mutation($id: ID!) { deleteSegment(id: $id) }", json!({ "id": first })).await;
    assert!(app.gql(create, json!({ "n": "Number 501" })).await.get("errors").is_none());
}

#[tokio::test]
async fn a_segment_is_evaluated_when_asked() {
    let app = TestApp::spawn().await;
    let ana = app.contact(json!({ "firstName": "Ana", "tags": ["vip"] })).await;
    let bea = app.contact(json!({ "firstName": "Bea" })).await;
    let segment = app
        .ok(
            "mutation { createSegment(input: {name: \"VIP\", filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"vip\"]}}}) \
             { id filter { condition { field operator values } } } }",
            json!({}),
        )
        .await;
    let id = segment["createSegment"]["id"].clone();
    assert_eq!(
        segment["createSegment"]["filter"],
        json!({ "condition": { "field": "TAGS", "operator": "HAS_ANY_OF", "values": ["vip"] } })
    );
    assert_eq!(
        read_segment(&app, id.clone()).await,
        json!({ "contactCount": 1, "contacts": { "nodes": [{ "id": ana }] } })
    );
    app.ok("mutation($ids: [ID!]!) { tagContacts(contactIds: $ids, tags: [\"VIP\"]) { id } }", json!({ "ids": [bea] }))
        .await;
    assert_eq!(read_segment(&app, id.clone()).await["contactCount"], 2);

    // Contacts can be listed through a filter directly too.
    let data = app
        .ok(
            "{ contacts(filter: {condition: {field: FIRST_NAME, operator: IS, value: \"bea\"}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["contacts"]["totalCount"], 1);

    // A custom field deleted after the segment was saved does not break it.
    let field = app
        .ok("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
        .await;
    let tiered = app
        .ok("mutation { createSegment(input: {name: \"No tier\", filter: {condition: {field: CUSTOM_FIELD, operator: DOES_NOT_EXIST, key: \"tier\"}}}) { id } }", json!({}))
        .await["createSegment"]["id"]
        .clone();
    app.ok("mutation($id: ID!) { deleteContactField(id: $id) }", json!({ "id": field["createContactField"]["id"] }))
        .await;
    assert_eq!(read_segment(&app, tiered).await["contactCount"], 2);
}

#[tokio::test]
async fn a_segment_never_counts_or_shows_another_workspace_s_contacts() {
    let app = TestApp::spawn().await;
    let (_, other) = app.other_workspace().await;
    for name in ["B1", "B2", "B3"] {
        app.gql_as(
            Some(&other),
            "mutation($n: String) { createContact(input: {firstName: $n, tags: [\"vip\"]}) { id } }",
            json!({ "n": name }),
        )
        .await;
    }
    app.contact(json!({ "firstName": "Mine", "tags": ["vip"] })).await;
    let data = app
        .ok(
            "{ previewSegment(filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"vip\"]}}) { contactCount contacts { nodes { firstName } } } \
               everyone: previewSegment(filter: {all: []}) { contactCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["previewSegment"],
        json!({ "contactCount": 1, "contacts": { "nodes": [{ "firstName": "Mine" }] } })
    );
    assert_eq!(data["everyone"]["contactCount"], 1);

    let theirs = app
        .gql_as(
            Some(&other),
            "mutation { createSegment(input: {name: \"Theirs\", filter: {all: []}}) { id } }",
            json!({}),
        )
        .await["data"]["createSegment"]["id"]
        .clone();
    assert_eq!(
        app.ok("query($id: ID!) { segment(id: $id) { id } }", json!({ "id": theirs })).await["segment"],
        Value::Null
    );
    for query in [
        "mutation($id: ID!) { updateSegment(id: $id, input: {name: \"Mine now\"}) { id } }",
        "mutation($id: ID!) { deleteSegment(id: $id) }",
    ] {
        let body = app.gql(query, json!({ "id": theirs })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "SEGMENT_NOT_FOUND");
    }
    // The same name is free in my workspace.
    app.ok("mutation { createSegment(input: {name: \"Theirs\", filter: {all: []}}) { id } }", json!({})).await;
}

#[tokio::test]
async fn agents_read_segments_but_do_not_manage_them() {
    let app = TestApp::spawn().await;
    let id = app.ok("mutation { createSegment(input: {name: \"All\", filter: {all: []}}) { id } }", json!({})).await["createSegment"]["id"].clone();
    let agent = app.token_for(Role::Agent).await;
    let body = app.gql_as(Some(&agent), "{ segments { name contactCount } }", json!({})).await;
    assert_eq!(body["data"]["segments"], json!([{ "name": "All", "contactCount": 0 }]));
    for (query, variables) in [
        ("mutation { createSegment(input: {name: \"Mine\", filter: {all: []}}) { id } }", json!({})),
        ("mutation($id: ID!) { updateSegment(id: $id, input: {name: \"X\"}) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { deleteSegment(id: $id) }", json!({ "id": id })),
    ] {
        let body = app.gql_as(Some(&agent), query, variables).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
    }
}
