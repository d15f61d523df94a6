//! Contacts: fields, normalisation, custom fields, tags, identifiers, search and pages.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_message};

const CONTACT_FIELDS: &str = "id firstName lastName displayName phone email language customFields tags { name } \
    identifiers { identifier channel { id kind } lastIncomingAt messagingWindowEndsAt unreachable }";

async fn telegram(app: &TestApp) -> String {
    app.channel(
        json!({ "name": "Bot", "kind": "TELEGRAM", "credentials": { "botToken": "123:abc", "secretToken": "s" } }),
    )
    .await
}

#[tokio::test]
async fn a_contact_is_created_with_normalised_fields() {
    let app = TestApp::spawn().await;
    let bot = telegram(&app).await;
    let data = app
        .ok(
            &format!("mutation($input: CreateContactInput!) {{ createContact(input: $input) {{ {CONTACT_FIELDS} }} }}"),
            json!({ "input": {
                "firstName": "  Ana   María ", "lastName": "Pérez", "phone": "+593 99 123 4567",
                "email": " Ana@Example.COM ", "language": "pt_br", "tags": ["VIP", "vip", "Clientes 2024"],
                "identifiers": [{ "channelId": bot, "identifier": " 123456 " }]
            }}),
        )
        .await;
    let contact = &data["createContact"];
    assert_eq!(contact["firstName"], "Ana María");
    assert_eq!(contact["displayName"], "Ana María Pérez");
    assert_eq!(contact["phone"], "+593991234567");
    assert_eq!(contact["email"], "ana@example.com");
    assert_eq!(contact["language"], "pt-BR");
    assert_eq!(contact["tags"], json!([{ "name": "Clientes 2024" }, { "name": "VIP" }]), "tags dedupe without case");
    assert_eq!(
        contact["identifiers"],
        json!([{
            "identifier": "123456", "channel": { "id": bot, "kind": "TELEGRAM" },
            "lastIncomingAt": null, "messagingWindowEndsAt": null, "unreachable": false
        }])
    );
}

#[tokio::test]
async fn an_invalid_phone_number_is_rejected_with_a_reason_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    for (phone, reason) in [
        ("0991234567", "no country code"),
        ("+593 12", "not a valid phone number"),
        ("+1 555 0000 1111 2222", "not a valid phone number"),
        ("call me", "not a valid phone number"),
    ] {
        let body = app
            .gql(
                "mutation($p: String) { createContact(input: {firstName: \"Ana\", phone: $p}) { id } }",
                json!({ "p": phone }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{phone}: {body:#}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "phone");
        assert!(error_message(&body).contains(reason), "{phone}: {body:#}");
        assert!(error_message(&body).contains("+593991234567"), "the message shows the expected format");
    }
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);
}

#[tokio::test]
async fn a_national_number_is_read_in_the_workspace_s_default_country() {
    let app = TestApp::spawn().await;
    let body =
        app.gql("mutation { updateWorkspace(input: {defaultCountry: \"XX\"}) { defaultCountry } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    app.ok("mutation { updateWorkspace(input: {defaultCountry: \"ec\"}) { defaultCountry } }", json!({})).await;
    let data = app.ok("mutation { createContact(input: {phone: \"099 123 4567\"}) { phone } }", json!({})).await;
    assert_eq!(data["createContact"]["phone"], "+593991234567");
    // Searching the national form finds it.
    let found = app.ok("{ contacts(search: \"0991234567\") { totalCount } }", json!({})).await;
    assert_eq!(found["contacts"]["totalCount"], 1);
}

#[tokio::test]
async fn bad_email_language_and_empty_contacts_are_rejected() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({ "email": "ana@" }), "email"),
        (json!({ "firstName": "Ana", "language": "spanish!" }), "language"),
        (json!({ "firstName": "x".repeat(101) }), "firstName"),
    ];
    for (input, field) in cases {
        let body = app
            .gql("mutation($i: CreateContactInput!) { createContact(input: $i) { id } }", json!({ "i": input }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body:#}");
    }
    let body = app.gql("mutation { createContact(input: {firstName: \"   \"}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(error_message(&body).contains("at least a name"), "{body:#}");
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 0);
}

#[tokio::test]
async fn custom_fields_are_typed_by_their_definition() {
    let app = TestApp::spawn().await;
    for (key, kind) in [("tier", "TEXT"), ("points", "NUMBER"), ("birthday", "DATE"), ("optin", "BOOLEAN")] {
        app.ok(
            "mutation($k: String!, $t: ContactFieldType!) { createContactField(input: {key: $k, name: $k, type: $t}) { id } }",
            json!({ "k": key, "t": kind }),
        )
        .await;
    }
    let body = app
        .gql("mutation { createContactField(input: {key: \"tier\", name: \"Again\", type: TEXT}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    let body = app
        .gql("mutation { createContactField(input: {key: \"phone\", name: \"P\", type: TEXT}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "reserved key");
    let body = app
        .gql("mutation { createContactField(input: {key: \"Bad Key\", name: \"P\", type: TEXT}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let data = app
        .ok(
            "mutation { createContact(input: {firstName: \"Ana\", customFields: {tier: \"gold\", points: \"12.5\", birthday: \"1990-02-01\", optin: \"yes\"}}) { id customFields } }",
            json!({}),
        )
        .await;
    let id = data["createContact"]["id"].clone();
    assert_eq!(
        data["createContact"]["customFields"],
        json!({ "tier": "gold", "points": 12.5, "birthday": "1990-02-01", "optin": true })
    );

    for (fields, reason) in [
        (json!({ "points": "many" }), "a number"),
        (json!({ "birthday": "01/02/1990" }), "YYYY-MM-DD"),
        (json!({ "optin": "maybe" }), "true or false"),
        (json!({ "unknown": "x" }), "createContactField"),
    ] {
        let body = app
            .gql(
                "mutation($id: ID!, $f: JSONObject) { updateContact(id: $id, input: {customFields: $f}) { id } }",
                json!({ "id": id, "f": fields }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
        assert!(error_message(&body).contains(reason), "{body:#}");
    }
    let data = app
        .ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {tier: null, points: 3}}) { customFields } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data["updateContact"]["customFields"],
        json!({ "points": 3.0, "birthday": "1990-02-01", "optin": true })
    );

    // Deleting a definition removes its values from every contact.
    let fields = app.ok("{ contactFields { id key } }", json!({})).await;
    let points =
        fields["contactFields"].as_array().unwrap().iter().find(|f| f["key"] == "points").unwrap()["id"].clone();
    app.ok("mutation($id: ID!) { deleteContactField(id: $id) }", json!({ "id": points })).await;
    let data = app.ok("query($id: ID!) { contact(id: $id) { customFields } }", json!({ "id": id })).await;
    assert_eq!(data["contact"]["customFields"], json!({ "birthday": "1990-02-01", "optin": true }));
}

#[tokio::test]
async fn update_changes_only_what_is_given_and_null_clears() {
    let app = TestApp::spawn().await;
    let id = app.contact(json!({ "firstName": "Ana", "lastName": "Pérez", "email": "ana@x.io" })).await;
    let data = app
        .ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {lastName: null, phone: \"+14155552671\"}) { firstName lastName email phone } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data["updateContact"],
        json!({ "firstName": "Ana", "lastName": null, "email": "ana@x.io", "phone": "+14155552671" })
    );
    let body = app.gql("mutation { updateContact(id: \"999999\", input: {firstName: \"X\"}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app.gql("mutation { updateContact(id: \"abc\", input: {firstName: \"X\"}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_channel_identifier_belongs_to_one_contact_per_channel() {
    let app = TestApp::spawn().await;
    let bot = telegram(&app).await;
    let first =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": bot, "identifier": "555" }] })).await;

    // A second contact with the same identifier: CONFLICT, and the contact is not created.
    let body = app
        .gql(
            "mutation($ch: ID!) { createContact(input: {firstName: \"Bea\", identifiers: [{channelId: $ch, identifier: \"555\"}]}) { id } }",
            json!({ "ch": bot }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body:#}");
    assert!(error_message(&body).contains(&format!("contact {first}")), "{body:#}");
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 1);

    let second = app.contact(json!({ "firstName": "Bea" })).await;
    let body = app
        .gql(
            "mutation($c: ID!, $ch: ID!) { setContactIdentifier(contactId: $c, input: {channelId: $ch, identifier: \"555\"}) { id } }",
            json!({ "c": second, "ch": bot }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");

    // The same identifier on another channel is fine; a malformed one is not.
    let other_bot = telegram(&app).await;
    let data = app
        .ok(
            "mutation($c: ID!, $ch: ID!) { setContactIdentifier(contactId: $c, input: {channelId: $ch, identifier: \"555\"}) { identifiers { identifier } } }",
            json!({ "c": second, "ch": other_bot }),
        )
        .await;
    assert_eq!(data["setContactIdentifier"]["identifiers"], json!([{ "identifier": "555" }]));
    let body = app
        .gql(
            "mutation($c: ID!, $ch: ID!) { setContactIdentifier(contactId: $c, input: {channelId: $ch, identifier: \"@bea\"}) { id } }",
            json!({ "c": second, "ch": bot }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(error_message(&body).contains("Telegram chat id"), "{body:#}");

    // Removing it frees it for the other contact.
    app.ok(
        "mutation($c: ID!, $ch: ID!) { removeContactIdentifier(contactId: $c, channelId: $ch) { id } }",
        json!({ "c": first, "ch": bot }),
    )
    .await;
    app.ok(
        "mutation($c: ID!, $ch: ID!) { setContactIdentifier(contactId: $c, input: {channelId: $ch, identifier: \"555\"}) { id } }",
        json!({ "c": second, "ch": bot }),
    )
    .await;
}

#[tokio::test]
async fn whatsapp_identifiers_are_phone_numbers() {
    let app = TestApp::spawn().await;
    let wa = app
        .channel(json!({ "name": "WA", "kind": "WHATSAPP_CLOUD", "credentials": { "accessToken": "t", "phoneNumberId": "1", "appSecret": "s" } }))
        .await;
    let data = app
        .ok(
            "mutation($ch: ID!) { createContact(input: {identifiers: [{channelId: $ch, identifier: \"+593 99 123 4567\"}]}) { identifiers { identifier } } }",
            json!({ "ch": wa }),
        )
        .await;
    assert_eq!(data["createContact"]["identifiers"][0]["identifier"], "+593991234567");
    let body = app
        .gql("mutation($ch: ID!) { createContact(input: {identifiers: [{channelId: $ch, identifier: \"12345\"}]}) { id } }", json!({ "ch": wa }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn tags_are_added_and_removed_in_bulk_without_regard_to_case() {
    let app = TestApp::spawn().await;
    let a = app.contact(json!({ "firstName": "Ana", "tags": ["VIP"] })).await;
    let b = app.contact(json!({ "firstName": "Bea" })).await;
    app.ok(
        "mutation($ids: [ID!]!) { tagContacts(contactIds: $ids, tags: [\"vip\", \"difusión fallida 110122\"]) { id } }",
        json!({ "ids": [a, b] }),
    )
    .await;
    let data = app.ok("{ contacts(tag: \"VIP\") { totalCount } tags { name } }", json!({})).await;
    assert_eq!(data["contacts"]["totalCount"], 2);
    assert_eq!(data["tags"], json!([{ "name": "difusión fallida 110122" }, { "name": "VIP" }]));

    app.ok(
        "mutation($ids: [ID!]!) { untagContacts(contactIds: $ids, tags: [\"Vip\", \"never-existed\"]) { id } }",
        json!({ "ids": [a] }),
    )
    .await;
    let data = app
        .ok(
            "query($a: ID!) { contact(id: $a) { tags { name } } contacts(tag: \"vip\") { nodes { id } } }",
            json!({ "a": a }),
        )
        .await;
    assert_eq!(data["contact"]["tags"], json!([{ "name": "difusión fallida 110122" }]));
    assert_eq!(data["contacts"]["nodes"], json!([{ "id": b }]));

    let body = app
        .gql(
            "mutation($ids: [ID!]!) { tagContacts(contactIds: $ids, tags: [\"x\"]) { id } }",
            json!({ "ids": [a, "999999"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert!(error_message(&body).contains("999999"));
    let data = app.ok("query($b: ID!) { contact(id: $b) { tags { name } } }", json!({ "b": b })).await;
    assert!(!data.to_string().contains("\"x\""), "a failed bulk call tags nobody");
}

#[tokio::test]
async fn contacts_are_paged_newest_first_with_cursors_and_a_total() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.contact(json!({ "firstName": format!("Person {i}"), "email": format!("p{i}@shop.io") })).await);
    }
    ids.reverse();
    let mut seen: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .ok(
                "query($after: String) { contacts(first: 3, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["contacts"];
        assert_eq!(page["totalCount"], 7);
        seen.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ids.iter().map(|id| json!(id)).collect::<Vec<_>>());

    let body = app.gql("{ contacts(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app.gql("{ contacts(after: \"bm9wZQ\") { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn search_matches_name_email_and_phone_in_any_case() {
    let app = TestApp::spawn().await;
    app.contact(json!({ "firstName": "Ana", "lastName": "Pérez", "email": "ana@shop.io" })).await;
    app.contact(json!({ "firstName": "Bea", "phone": "+14155552671" })).await;
    app.contact(json!({ "firstName": "100%_real", "email": "real@x.io" })).await;
    for (search, expected) in [
        ("ana pérez", 1),
        ("SHOP.IO", 1),
        ("4155552", 1),
        ("+1 415 555 2671", 1),
        ("%", 1),
        ("_", 1),
        ("nobody", 0),
        ("a", 3),
    ] {
        let data = app.ok("query($s: String) { contacts(search: $s) { totalCount } }", json!({ "s": search })).await;
        assert_eq!(data["contacts"]["totalCount"], expected, "search {search:?}");
    }
}

#[tokio::test]
async fn a_deleted_contact_is_gone() {
    let app = TestApp::spawn().await;
    let id = app.contact(json!({ "firstName": "Ana", "tags": ["x"] })).await;
    assert_eq!(
        app.ok("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await["deleteContact"],
        json!(id)
    );
    assert_eq!(
        app.ok("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await["contact"],
        Value::Null
    );
    let body = app.gql("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}
