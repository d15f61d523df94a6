//! Channels: the capability table, credential rules, overrides and deletion.

use serde_json::json;

use crate::helpers::{TestApp, error_code, error_message};

#[tokio::test]
async fn the_capability_table_follows_seed_003() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            "{ channelKinds { kind canBroadcast broadcastRequirement messagingWindowHours reportedStatuses defaultRateLimit { count periodSeconds } identifierKind } }",
            json!({}),
        )
        .await;
    let kinds = data["channelKinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 14);
    let kind = |name: &str| kinds.iter().find(|k| k["kind"] == name).unwrap().clone();
    assert_eq!(kind("MESSENGER")["defaultRateLimit"], json!({ "count": 200, "periodSeconds": 3600 }));
    assert_eq!(kind("MESSENGER")["messagingWindowHours"], 168);
    assert_eq!(kind("MESSENGER")["broadcastRequirement"], "MESSAGE_TAG");
    assert_eq!(kind("WHATSAPP_360DIALOG")["defaultRateLimit"], json!({ "count": 10, "periodSeconds": 1 }));
    assert_eq!(kind("WHATSAPP_360DIALOG")["messagingWindowHours"], 24);
    assert_eq!(kind("WHATSAPP_CLOUD")["broadcastRequirement"], "WHATSAPP_TEMPLATE");
    assert_eq!(kind("WHATSAPP_CLOUD")["defaultRateLimit"], json!({ "count": 80, "periodSeconds": 1 }));
    assert_eq!(kind("TELEGRAM")["defaultRateLimit"], json!({ "count": 30, "periodSeconds": 1 }));
    assert_eq!(kind("TELEGRAM")["reportedStatuses"], json!(["SENT"]));
    assert_eq!(kind("VIBER")["defaultRateLimit"], json!({ "count": 500, "periodSeconds": 10 }));
    assert_eq!(kind("CUSTOM")["defaultRateLimit"], json!({ "count": 20, "periodSeconds": 1 }));
    assert_eq!(kind("TWILIO_SMS")["reportedStatuses"], json!(["SENT", "DELIVERED", "FAILED"]));
    for name in ["INSTAGRAM", "WEBCHAT", "WECHAT", "EMAIL"] {
        assert_eq!(kind(name)["canBroadcast"], false, "{name}");
    }
    assert_eq!(kind("TELEGRAM")["identifierKind"], "TELEGRAM_CHAT_ID");
}

#[tokio::test]
async fn credentials_are_checked_and_never_returned() {
    let app = TestApp::spawn().await;
    let body = app.gql("mutation { createChannel(input: {name: \"WA\", kind: WHATSAPP_CLOUD, credentials: {accessToken: \"t\"}}) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(error_message(&body).contains("missing: phoneNumberId, appSecret"), "{body:#}");
    let body = app
        .gql("mutation { createChannel(input: {name: \"T\", kind: TELEGRAM, credentials: {botToken: \"1:a\", bot_token: \"x\"}}) { id } }", json!({}))
        .await;
    assert!(error_message(&body).contains("'bot_token' is not a credential"), "{body:#}");
    let body = app
        .gql(
            "mutation { createChannel(input: {name: \"T\", kind: TELEGRAM, credentials: {botToken: 5}}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let secret = "super-secret-bot-token-123";
    let data = app
        .ok(
            "mutation($c: JSONObject) { createChannel(input: {name: \"Bot\", kind: TELEGRAM, credentials: $c}) { id credentialKeys baseUrl baseUrlOverridden } }",
            json!({ "c": { "botToken": secret, "secretToken": "s1" } }),
        )
        .await;
    assert_eq!(data["createChannel"]["credentialKeys"], json!(["botToken", "secretToken"]));
    assert_eq!(data["createChannel"]["baseUrl"], "https://api.telegram.org");
    assert_eq!(data["createChannel"]["baseUrlOverridden"], false);
    let id = data["createChannel"]["id"].clone();

    // Credentials merge on update; a key set to null is removed.
    let data = app
        .ok(
            "mutation($id: ID!) { updateChannel(id: $id, input: {credentials: {secretToken: \"s2\"}}) { credentialKeys } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["updateChannel"]["credentialKeys"], json!(["botToken", "secretToken"]));
    let body = app
        .gql(
            "mutation($id: ID!) { updateChannel(id: $id, input: {credentials: {botToken: null}}) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "a required credential cannot be removed");

    // No query returns a credential value, whatever is selected.
    let everything = app
        .ok(
            "{ channels { id name kind baseUrl credentialKeys rateLimit { count } capabilities { label } } }",
            json!({}),
        )
        .await;
    assert!(!everything.to_string().contains(secret));
}

#[tokio::test]
async fn base_url_and_rate_overrides_are_validated() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(
            "mutation { createChannel(input: {name: \"C\", kind: CUSTOM, credentials: {secret: \"s\"}}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "baseUrl");
    for url in ["not a url", "ftp://x.io", "https://user:pw@x.io", "https://x.io/?token=1"] {
        let body = app
            .gql("mutation($u: String) { createChannel(input: {name: \"C\", kind: CUSTOM, credentials: {secret: \"s\"}, baseUrl: $u}) { id } }", json!({ "u": url }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{url}");
    }
    let body = app
        .gql(
            "mutation { createChannel(input: {name: \"S\", kind: SANDBOX, baseUrl: \"http://127.0.0.1:9\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let data = app
        .ok(
            "mutation { createChannel(input: {name: \"C\", kind: CUSTOM, credentials: {secret: \"s\"}, baseUrl: \"http://127.0.0.1:9/hook/\", \
             rateLimit: {count: 5}, dailyLimit: 1000}) { id baseUrl baseUrlOverridden rateLimit { count periodSeconds perSecond } rateLimitOverridden dailyLimit } }",
            json!({}),
        )
        .await;
    let channel = &data["createChannel"];
    assert_eq!(channel["baseUrl"], "http://127.0.0.1:9/hook");
    assert_eq!(channel["baseUrlOverridden"], true);
    assert_eq!(channel["rateLimit"], json!({ "count": 5, "periodSeconds": 1, "perSecond": 5.0 }));
    assert_eq!(channel["dailyLimit"], 1000);

    for rate in [json!({ "count": 0 }), json!({ "count": 5, "periodSeconds": 0 }), json!({ "count": -1 })] {
        let body = app
            .gql(
                "mutation($id: ID!, $r: RateLimitInput) { updateChannel(id: $id, input: {rateLimit: $r}) { id } }",
                json!({ "id": channel["id"], "r": rate }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{rate}");
    }
    let data = app
        .ok(
            "mutation($id: ID!) { updateChannel(id: $id, input: {rateLimit: null, dailyLimit: null}) { rateLimit { count } rateLimitOverridden dailyLimit } }",
            json!({ "id": channel["id"] }),
        )
        .await;
    assert_eq!(
        data["updateChannel"],
        json!({ "rateLimit": { "count": 20 }, "rateLimitOverridden": false, "dailyLimit": null })
    );
}

#[tokio::test]
async fn deleting_a_channel_keeps_contacts_but_drops_their_identifiers_on_it() {
    let app = TestApp::spawn().await;
    let bot = app
        .channel(json!({ "name": "Bot", "kind": "TELEGRAM", "credentials": { "botToken": "1:a", "secretToken": "s" } }))
        .await;
    let contact =
        app.contact(json!({ "firstName": "Ana", "identifiers": [{ "channelId": bot, "identifier": "77" }] })).await;
    assert_eq!(
        app.ok("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": bot })).await["deleteChannel"],
        json!(bot)
    );
    let data = app.ok("query($c: ID!, $ch: ID!) { contact(id: $c) { identifiers { identifier } } channel(id: $ch) { id } channels { id } }", json!({ "c": contact, "ch": bot })).await;
    assert_eq!(data["contact"]["identifiers"], json!([]));
    assert_eq!(data["channel"], serde_json::Value::Null);
    assert!(!data["channels"].to_string().contains(&format!("\"{bot}\"")));
    let body = app
        .gql("mutation($id: ID!) { updateChannel(id: $id, input: {name: \"back\"}) { id } }", json!({ "id": bot }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}
