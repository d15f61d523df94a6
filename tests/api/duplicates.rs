//! Duplicate suggestions and merging.

use chrono::{Duration, Utc};
use entity::{BroadcastStatus, DeliveryStatus, MessageDirection, MessageSource, MessageType, broadcast, message};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Role, TestApp, error_code};

#[tokio::test]
async fn contacts_sharing_a_phone_or_an_email_are_suggested_as_pairs() {
    let app = TestApp::spawn().await;
    let a = app.contact(json!({ "firstName": "Ana", "phone": "+593991234567", "email": "ana@x.io" })).await;
    let b = app.contact(json!({ "firstName": "Ana P", "phone": "+593 99 123 4567" })).await;
    let c = app.contact(json!({ "firstName": "A.", "email": "ANA@x.io", "phone": "+593991234567" })).await;
    app.contact(json!({ "firstName": "Someone else", "phone": "+14155552671" })).await;
    let (_, other) = app.other_workspace().await;
    app.gql_as(
        Some(&other),
        "mutation { createContact(input: {phone: \"+593991234567\", email: \"ana@x.io\"}) { id } }",
        json!({}),
    )
    .await;

    let query = "query($after: String) { duplicateContacts(first: 2, after: $after) { edges { cursor node { primary { id } duplicate { id } reasons } } pageInfo { hasNextPage endCursor } } }";
    let mut pairs: Vec<Value> = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.ok(query, json!({ "after": after })).await;
        let page = &data["duplicateContacts"];
        pairs.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        pairs,
        vec![
            json!({ "primary": { "id": a }, "duplicate": { "id": b }, "reasons": ["SAME_PHONE"] }),
            json!({ "primary": { "id": a }, "duplicate": { "id": c }, "reasons": ["SAME_PHONE", "SAME_EMAIL"] }),
            json!({ "primary": { "id": b }, "duplicate": { "id": c }, "reasons": ["SAME_PHONE"] }),
        ],
        "pairs within the workspace only, each once"
    );
}

async fn message_for(app: &TestApp, contact: &str, broadcast: Option<i64>) -> i64 {
    let now = Utc::now();
    message::ActiveModel {
        workspace_id: Set(app.workspace_id),
        broadcast_id: Set(broadcast),
        contact_id: Set(Some(contact.parse().unwrap())),
        channel_id: Set(None),
        direction: Set(MessageDirection::Outgoing),
        source: Set(Some(if broadcast.is_some() { MessageSource::Broadcast } else { MessageSource::User })),
        message_type: Set(Some(MessageType::Session)),
        subtype: Set(None),
        content: Set(json!({ "text": "hola" })),
        address: Set(None),
        status: Set(DeliveryStatus::Sent),
        queued_at: Set(Some(now)),
        sending_at: Set(None),
        sent_at: Set(Some(now)),
        delivered_at: Set(None),
        read_at: Set(None),
        failed_at: Set(None),
        provider_message_id: Set(None),
        error_code: Set(None),
        error_text: Set(None),
        attempts: Set(1),
        next_attempt_at: Set(None),
        sent_by_user_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.app.db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn merging_moves_tags_fields_identifiers_and_history_to_the_primary() {
    let app = TestApp::spawn().await;
    app.ok("mutation { createContactField(input: {key: \"tier\", name: \"Tier\", type: TEXT}) { id } }", json!({}))
        .await;
    app.ok("mutation { createContactField(input: {key: \"city\", name: \"City\", type: TEXT}) { id } }", json!({}))
        .await;
    let bot = app
        .channel(json!({ "name": "Bot", "kind": "TELEGRAM", "credentials": { "botToken": "1:a", "secretToken": "s" } }))
        .await;
    let viber = app.channel(json!({ "name": "Viber", "kind": "VIBER", "credentials": { "authToken": "v" } })).await;
    let primary = app
        .contact(
            json!({ "firstName": "Ana", "phone": "+593991234567", "tags": ["vip"], "customFields": { "tier": "gold" },
            "identifiers": [{ "channelId": bot, "identifier": "1" }] }),
        )
        .await;
    let duplicate = app
        .contact(json!({ "firstName": "Ana María", "lastName": "Pérez", "email": "ana@x.io", "language": "es", "tags": ["clientes", "VIP"],
            "customFields": { "tier": "silver", "city": "Quito" },
            "identifiers": [{ "channelId": bot, "identifier": "2" }, { "channelId": viber, "identifier": "vb1" }] }))
        .await;
    // The duplicate wrote more recently; its history: a direct message and a broadcast both got.
    let later = Utc::now() + Duration::minutes(5);
    entity::contact::Entity::update(entity::contact::ActiveModel {
        id: Set(duplicate.parse().unwrap()),
        last_interaction_at: Set(Some(later)),
        ..Default::default()
    })
    .exec(&app.app.db)
    .await
    .unwrap();
    let now = Utc::now();
    let shared_broadcast = broadcast::ActiveModel {
        workspace_id: Set(app.workspace_id),
        name: Set("Promo".into()),
        label: Set(None),
        channel_id: Set(None),
        use_last_interacted_channel: Set(false),
        segment_id: Set(None),
        content: Set(json!({ "text": "promo" })),
        send_rate_count: Set(None),
        send_rate_period_secs: Set(None),
        status: Set(BroadcastStatus::Completed),
        failure_reason: Set(None),
        scheduled_at: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        created_by_user_id: Set(None),
        sent_by_user_id: Set(None),
        resend_of_id: Set(None),
        target_recipients: Set(None),
        completed_recipients: Set(2),
        excluded_recipients: Set(0),
        total_messages: Set(2),
        sent_count: Set(2),
        delivered_count: Set(0),
        read_count: Set(0),
        failed_count: Set(0),
        replied_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.app.db)
    .await
    .unwrap()
    .id;
    message_for(&app, &primary, Some(shared_broadcast)).await;
    let shared_copy = message_for(&app, &duplicate, Some(shared_broadcast)).await;
    let direct = message_for(&app, &duplicate, None).await;

    let merged = app
        .ok(
            "mutation($p: ID!, $d: ID!) { mergeContacts(primaryId: $p, duplicateId: $d) { id firstName lastName phone email language \
             customFields tags { name } identifiers { identifier channel { id } } lastInteractionAt } }",
            json!({ "p": primary, "d": duplicate }),
        )
        .await["mergeContacts"]
        .clone();
    assert_eq!(merged["id"], json!(primary));
    assert_eq!(merged["firstName"], "Ana", "the primary's values win");
    assert_eq!(merged["lastName"], "Pérez", "empty fields take the duplicate's");
    assert_eq!(merged["phone"], "+593991234567");
    assert_eq!(merged["email"], "ana@x.io");
    assert_eq!(merged["language"], "es");
    assert_eq!(merged["customFields"], json!({ "tier": "gold", "city": "Quito" }));
    assert_eq!(merged["tags"], json!([{ "name": "clientes" }, { "name": "vip" }]));
    let mut identifiers: Vec<(String, String)> = merged["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["channel"]["id"].as_str().unwrap().to_owned(), i["identifier"].as_str().unwrap().to_owned()))
        .collect();
    identifiers.sort();
    let mut expected = vec![(bot.clone(), "1".to_owned()), (viber.clone(), "vb1".to_owned())];
    expected.sort();
    assert_eq!(identifiers, expected, "the duplicate's Viber id moved; on Telegram the primary's stays");
    assert!(merged["lastInteractionAt"].as_str().is_some());

    // The duplicate is gone; its direct message now belongs to the primary; its copy of the
    // broadcast both received stays in the history without a contact.
    assert_eq!(
        app.ok("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": duplicate })).await["contact"],
        Value::Null
    );
    let direct = message::Entity::find_by_id(direct).one(&app.app.db).await.unwrap().unwrap();
    assert_eq!(direct.contact_id, Some(primary.parse().unwrap()));
    let copy = message::Entity::find_by_id(shared_copy).one(&app.app.db).await.unwrap().unwrap();
    assert_eq!(copy.contact_id, None);
    let on_primary = message::Entity::find()
        .filter(message::Column::ContactId.eq(primary.parse::<i64>().unwrap()))
        .all(&app.app.db)
        .await
        .unwrap();
    assert_eq!(on_primary.len(), 2);
    // The freed Telegram identifier "2" can be given to someone else now.
    app.contact(json!({ "firstName": "New", "identifiers": [{ "channelId": bot, "identifier": "2" }] })).await;
}

#[tokio::test]
async fn merging_is_refused_across_workspaces_into_itself_and_to_agents() {
    let app = TestApp::spawn().await;
    let mine = app.contact(json!({ "firstName": "Ana" })).await;
    let also_mine = app.contact(json!({ "firstName": "Ana 2" })).await;
    let (_, other) = app.other_workspace().await;
    let theirs = app
        .gql_as(Some(&other), "mutation { createContact(input: {firstName: \"B\"}) { id } }", json!({}))
        .await["data"]["createContact"]["id"]
        .clone();
    let merge = "mutation($p: ID!, $d: ID!) { mergeContacts(primaryId: $p, duplicateId: $d) { id } }";
    for (p, d) in [(json!(mine), theirs.clone()), (theirs.clone(), json!(mine))] {
        let body = app.gql(merge, json!({ "p": p, "d": d })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body:#}");
    }
    let body = app.gql(merge, json!({ "p": mine, "d": mine })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let agent = app.token_for(Role::Agent).await;
    let body = app.gql_as(Some(&agent), merge, json!({ "p": mine, "d": also_mine })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Nothing moved or vanished.
    let body =
        app.gql_as(Some(&other), "query($id: ID!) { contact(id: $id) { firstName } }", json!({ "id": theirs })).await;
    assert_eq!(body["data"]["contact"]["firstName"], "B");
    assert_eq!(app.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"], 2);
}
