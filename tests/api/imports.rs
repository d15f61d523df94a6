//! CSV import: modes, identifiers, rejected rows, file formats, uploads, the seed's resend
//! flow, atomicity and isolation.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{Role, TestApp, error_code, error_message};

const IMPORT: &str = "mutation($csv: String, $mode: ImportMode!, $id: ImportIdentifier!, $tags: [String!], $mapping: [ImportColumnInput!], $delimiter: String) {
  importContacts(csv: $csv, mode: $mode, identifier: $id, tags: $tags, mapping: $mapping, delimiter: $delimiter) {
    rowsRead created updated skipped rejected problemsTruncated
    columns { column field key }
    problems { line outcome column reason }
  }
}";

async fn import(app: &TestApp, csv: &str, mode: &str, identifier: &str, extra: Value) -> Value {
    let mut variables = json!({ "csv": csv, "mode": mode, "id": identifier });
    if let Value::Object(extra) = extra {
        variables.as_object_mut().unwrap().extend(extra);
    }
    app.ok(IMPORT, variables).await["importContacts"].clone()
}

fn counts(report: &Value) -> [u64; 5] {
    ["rowsRead", "created", "updated", "skipped", "rejected"].map(|k| report[k].as_u64().unwrap())
}

async fn contact_by_email(app: &TestApp, email: &str) -> Value {
    let data = app
        .ok(
            "query($s: String) { contacts(search: $s, first: 5) { nodes { id firstName lastName phone email tags { name } customFields } } }",
            json!({ "s": email }),
        )
        .await;
    let nodes = data["contacts"]["nodes"].as_array().unwrap().clone();
    nodes.into_iter().find(|n| n["email"] == email).unwrap_or(Value::Null)
}

async fn total(app: &TestApp) -> u64 {
    app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"].as_u64().unwrap()
}

#[tokio::test]
async fn every_mode_matches_by_every_identifier() {
    for identifier in ["CONTACT_ID", "PHONE", "EMAIL"] {
        for mode in ["ADD_ONLY", "UPDATE_ONLY", "ADD_AND_UPDATE"] {
            let app = TestApp::spawn().await;
            let existing =
                app.contact(json!({ "firstName": "Old", "phone": "+593991234567", "email": "old@x.io" })).await;
            // One row matches the existing contact, one does not.
            let (key_existing, key_new) = match identifier {
                "CONTACT_ID" => (existing.clone(), String::new()),
                "PHONE" => ("+593 99 123 4567".to_owned(), "+14155552671".to_owned()),
                _ => ("OLD@x.io".to_owned(), "new@x.io".to_owned()),
            };
            let (existing_phone, existing_email) = match identifier {
                "CONTACT_ID" => (String::new(), String::new()),
                "PHONE" => (key_existing.clone(), String::new()),
                _ => (String::new(), key_existing.clone()),
            };
            let csv = format!(
                "Contact ID,First name,Phone,Email\n{},Renamed,{},{}\n{},Fresh,{},{}\n",
                if identifier == "CONTACT_ID" { key_existing.as_str() } else { "" },
                existing_phone,
                existing_email,
                if identifier == "CONTACT_ID" { key_new.as_str() } else { "" },
                if identifier == "PHONE" { key_new.as_str() } else { "+12025550143" },
                if identifier == "EMAIL" { key_new.as_str() } else { "fresh@x.io" },
            );
            if mode == "ADD_ONLY" && identifier == "CONTACT_ID" {
                let body = app.gql(IMPORT, json!({ "csv": csv, "mode": mode, "id": identifier })).await;
                assert_eq!(error_code(&body), "BAD_USER_INPUT", "{mode} × {identifier}");
                continue;
            }
            let report = import(&app, &csv, mode, identifier, json!({ "tags": ["imported"] })).await;
            let old = app
                .ok("query($id: ID!) { contact(id: $id) { firstName tags { name } } }", json!({ "id": existing }))
                .await["contact"]
                .clone();
            let expected = match (mode, identifier) {
                ("ADD_ONLY", _) => [2, 1, 0, 1, 0],
                ("UPDATE_ONLY", _) => [2, 0, 1, 0, 1],
                // By contact ID, a row without an ID is a new contact.
                ("ADD_AND_UPDATE", _) => [2, 1, 1, 0, 0],
                _ => unreachable!(),
            };
            assert_eq!(counts(&report), expected, "{mode} × {identifier}: {report:#}");
            let updated = mode != "ADD_ONLY";
            assert_eq!(old["firstName"], if updated { "Renamed" } else { "Old" }, "{mode} × {identifier}");
            assert_eq!(
                old["tags"],
                if updated { json!([{ "name": "imported" }]) } else { json!([]) },
                "{mode} × {identifier}"
            );
            let created = mode != "UPDATE_ONLY";
            assert_eq!(total(&app).await, if created { 2 } else { 1 }, "{mode} × {identifier}");
            if mode == "ADD_ONLY" {
                assert!(
                    report["problems"][0]["reason"].as_str().unwrap().contains(&format!("contact {existing}")),
                    "{report:#}"
                );
            }
            if mode == "UPDATE_ONLY" {
                assert_eq!(report["problems"][0]["line"], 3);
                assert_eq!(report["problems"][0]["outcome"], "REJECTED");
            }
        }
    }
}

#[tokio::test]
async fn each_rejected_row_has_its_line_and_a_reason_and_good_rows_are_kept() {
    let app = TestApp::spawn().await;
    app.ok(
        "mutation { createContactField(input: {key: \"points\", name: \"Points\", type: NUMBER}) { id } }",
        json!({}),
    )
    .await;
    let existing = app.contact(json!({ "firstName": "Kept", "email": "kept@x.io" })).await;
    let mut csv = String::from("Contact ID,First name,Phone,Email,Points\n");
    csv.push_str(",Ana,+593991234567,ana@x.io,10\n"); // line 2: good
    csv.push_str(",Bad phone,12345,bp@x.io,\n"); // 3: invalid phone
    csv.push_str(",Bad email,,not-an-email,\n"); // 4: invalid email
    csv.push_str(",Dup,,ana@x.io,\n"); // 5: same email as line 2
    csv.push_str(",Too,many,fields,here,extra\n"); // 6: malformed
    csv.push_str(",Points,,pts@x.io,lots\n"); // 7: not a number
    csv.push_str("abc,Bad id,,bid@x.io,\n"); // 8: not an ID
    csv.push_str(",,,,\n"); // 9: nothing to create from
    csv.push_str(",Bea,,bea@x.io,2.5\n"); // 10: good
    let report = import(&app, &csv, "ADD_AND_UPDATE", "EMAIL", json!({})).await;
    assert_eq!(counts(&report), [9, 2, 0, 0, 7], "{report:#}");
    let problems: Vec<(u64, Option<String>, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["column"].as_str().map(str::to_owned),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [
        (3, Some("Phone"), "'12345' has no country code"),
        (4, Some("Email"), "not a valid email address"),
        (5, None, "Duplicate in the file: line 2 has the same email"),
        (6, None, "Malformed line: 6 fields, but the header has 5"),
        (7, Some("Points"), "is a number"),
        (8, Some("Contact ID"), "'abc' is not a contact ID"),
        (9, None, "Nothing to create a contact from"),
    ];
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    for ((line, column, reason), (want_line, want_column, want_reason)) in problems.iter().zip(expect) {
        assert_eq!(*line, want_line);
        assert_eq!(column.as_deref(), want_column, "line {line}");
        assert!(reason.contains(want_reason), "line {line}: {reason:?} should say {want_reason:?}");
    }
    assert_eq!(contact_by_email(&app, "ana@x.io").await["customFields"], json!({ "points": 10.0 }));
    assert_eq!(contact_by_email(&app, "bea@x.io").await["firstName"], "Bea");
    assert_eq!(total(&app).await, 3);

    // UPDATE_ONLY: an unknown contact ID is rejected with the ID.
    let csv = format!("Contact ID,First name\n{existing},Renamed\n999999,Ghost\n");
    let report = import(&app, &csv, "UPDATE_ONLY", "CONTACT_ID", json!({})).await;
    assert_eq!(counts(&report), [2, 0, 1, 0, 1]);
    assert_eq!(report["problems"][0]["reason"], "No contact with contact ID 999999 in this workspace.");
    assert_eq!(report["problems"][0]["line"], 3);
}

#[tokio::test]
async fn bom_crlf_semicolons_quotes_tags_and_custom_columns_are_read() {
    let app = TestApp::spawn().await;
    app.ok("mutation { createContactField(input: {key: \"city\", name: \"Ciudad\", type: TEXT}) { id } }", json!({}))
        .await;
    let csv = "\u{feff}Nombre;Apellido;Teléfono;Correo;Etiquetas;Ciudad;Notas\r\n\
               \"Pérez; Ana\";\"O\"\"Brien\";+593 99 123 4567;ana@x.io;\"vip, clientes\";Quito;\"line one\r\nline two\"\r\n\
               Bea;;;bea@x.io;vip;\"Guayaquil\";\r\n";
    let report = import(&app, csv, "ADD_ONLY", "EMAIL", json!({})).await;
    assert_eq!(counts(&report), [2, 2, 0, 0, 0], "{report:#}");
    assert_eq!(
        report["columns"],
        json!([
            { "column": "Nombre", "field": "FIRST_NAME", "key": null },
            { "column": "Apellido", "field": "LAST_NAME", "key": null },
            { "column": "Teléfono", "field": "PHONE", "key": null },
            { "column": "Correo", "field": "EMAIL", "key": null },
            { "column": "Etiquetas", "field": "TAGS", "key": null },
            { "column": "Ciudad", "field": "CUSTOM_FIELD", "key": "city" },
            { "column": "Notas", "field": "IGNORE", "key": null },
        ])
    );
    let ana = contact_by_email(&app, "ana@x.io").await;
    assert_eq!(ana["firstName"], "Pérez; Ana");
    assert_eq!(ana["lastName"], "O\"Brien", "a doubled quote inside quotes is one quote");
    assert_eq!(ana["phone"], "+593991234567");
    assert_eq!(ana["tags"], json!([{ "name": "clientes" }, { "name": "vip" }]));
    assert_eq!(ana["customFields"], json!({ "city": "Quito" }));

    // An explicit mapping, with a delimiter given.
    let csv = "who,where,mail\nCarl,Cuenca,carl@x.io\n";
    let mapping = json!([
        { "column": "WHO", "field": "FIRST_NAME" },
        { "column": "where", "field": "CUSTOM_FIELD", "key": "city" },
        { "column": "mail", "field": "EMAIL" },
    ]);
    let report = import(&app, csv, "ADD_ONLY", "EMAIL", json!({ "mapping": mapping, "delimiter": "," })).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 0]);
    assert_eq!(contact_by_email(&app, "carl@x.io").await["customFields"], json!({ "city": "Cuenca" }));

    for (csv, mapping, expected) in [
        ("name,phone\nAna,+593991234567\n", Value::Null, "No column holds the email"),
        ("a,b\n1,2\n", json!([{ "column": "nope", "field": "EMAIL" }]), "No column named 'nope'"),
        (
            "a,b\n1,2\n",
            json!([{ "column": "a", "field": "CUSTOM_FIELD", "key": "ghost" }]),
            "'ghost' is not a contact field",
        ),
        ("", Value::Null, "The file is empty"),
    ] {
        let body = app.gql(IMPORT, json!({ "csv": csv, "mode": "ADD_ONLY", "id": "EMAIL", "mapping": mapping })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{csv:?}");
        assert!(error_message(&body).contains(expected), "{csv:?}: {body:#}");
    }
}

#[tokio::test]
async fn a_file_uploaded_as_graphql_multipart_is_imported_beyond_the_json_body_limit() {
    let app = TestApp::spawn().await;
    // About 3 MB: more than the 2 MB JSON body limit, within the upload limit.
    let mut csv = String::from("First name,Email,Notes\n");
    let filler = "x".repeat(200);
    for i in 0..12_000 {
        csv.push_str(&format!("Person {i},p{i}@x.io,{filler}\n"));
    }
    assert!(csv.len() > 2 * 1024 * 1024);
    let operations = json!({
        "query": "mutation($file: Upload!) { importContacts(file: $file, mode: ADD_ONLY, identifier: EMAIL) { rowsRead created } }",
        "variables": { "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("contacts.csv").mime_str("text/csv").unwrap(),
        );
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["importContacts"], json!({ "rowsRead": 12000, "created": 12000 }), "{body:#}");
    assert_eq!(total(&app).await, 12_000);
}

#[tokio::test]
async fn the_seed_s_resend_flow_tags_exactly_the_contacts_of_a_failed_messages_export() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.contact(json!({ "firstName": format!("C{i}"), "email": format!("c{i}@x.io") })).await);
    }
    // The failed-messages export's columns (seed 000): contact 1 failed twice.
    let mut csv = String::from(
        "Date and time,Sender ID,Sender type,Contact ID,Message ID,Content type,Content,Channel ID,Type,Subtype,Error\n",
    );
    for (n, id) in [&ids[0], &ids[1], &ids[1], &ids[3]].iter().enumerate() {
        csv.push_str(&format!(
            "2022-01-11 10:0{n}:00,7,BROADCAST,{id},{},text,\"Hola, {{nombre}}\",3,WHATSAPP_TEMPLATE,promo,\"131047: Re-engagement message\"\n",
            100 + n
        ));
    }
    let report = import(&app, &csv, "UPDATE_ONLY", "CONTACT_ID", json!({ "tags": ["difusión fallida 110122"] })).await;
    assert_eq!(report["updated"], 3, "{report:#}");
    assert_eq!(report["created"], 0);
    let data = app
        .ok(
            "{ previewSegment(filter: {condition: {field: TAGS, operator: HAS_ANY_OF, values: [\"difusión fallida 110122\"]}}) { contacts { nodes { id } } } }",
            json!({}),
        )
        .await;
    let mut tagged: Vec<String> = data["previewSegment"]["contacts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    tagged.sort();
    let mut expected = vec![ids[0].clone(), ids[1].clone(), ids[3].clone()];
    expected.sort();
    assert_eq!(tagged, expected);
    // Nothing else about them changed.
    assert_eq!(contact_by_email(&app, "c1@x.io").await["firstName"], "C1");
}

#[tokio::test]
async fn a_failure_halfway_leaves_nothing_half_applied() {
    let app = TestApp::spawn().await;
    let existing = app.contact(json!({ "firstName": "Before", "email": "before@x.io" })).await;
    // The contacts are written, then linking tags fails: the database lost a table.
    app.app.db.execute_unprepared("DROP TABLE contact_tags").await.unwrap();
    let csv = format!("Contact ID,First name,Email\n{existing},After,before@x.io\n,New,new@x.io\n");
    let body = app.gql(IMPORT, json!({ "csv": csv, "mode": "ADD_AND_UPDATE", "id": "EMAIL", "tags": ["t"] })).await;
    assert_eq!(error_code(&body), "INTERNAL", "{body:#}");
    assert_eq!(error_message(&body), "Internal error");
    assert_eq!(total(&app).await, 1, "no contact created");
    let contact = app.ok("query($id: ID!) { contact(id: $id) { firstName } }", json!({ "id": existing })).await;
    assert_eq!(contact["contact"]["firstName"], "Before", "no contact updated");
}

#[tokio::test]
async fn an_import_reaches_only_the_caller_s_workspace() {
    let app = TestApp::spawn().await;
    let (_, other) = app.other_workspace().await;
    let theirs = app
        .gql_as(
            Some(&other),
            "mutation { createContact(input: {firstName: \"Theirs\", email: \"same@x.io\"}) { id } }",
            json!({}),
        )
        .await["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report =
        import(&app, &format!("Contact ID,First name\n{theirs},Hacked\n"), "UPDATE_ONLY", "CONTACT_ID", json!({}))
            .await;
    assert_eq!(counts(&report), [1, 0, 0, 0, 1]);
    let report = import(&app, "First name,Email\nMine,same@x.io\n", "ADD_AND_UPDATE", "EMAIL", json!({})).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 0], "their contact with the same email is not matched");
    let body =
        app.gql_as(Some(&other), "query($id: ID!) { contact(id: $id) { firstName } }", json!({ "id": theirs })).await;
    assert_eq!(body["data"]["contact"]["firstName"], "Theirs");

    let agent = app.token_for(Role::Agent).await;
    let body =
        app.gql_as(Some(&agent), IMPORT, json!({ "csv": "Email\na@x.io\n", "mode": "ADD_ONLY", "id": "EMAIL" })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}
