//! GraphQL subscriptions over WebSocket: graphql-transport-ws and legacy graphql-ws, with
//! the token in `connection_init`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(app: &TestApp, protocol: &str) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

/// Connects with `protocol` and authenticates with `token`; asserts the acknowledgement.
pub(crate) async fn connect_as(app: &TestApp, protocol: &str, token: &str) -> Socket {
    let mut socket = connect(app, protocol).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next_json(&mut socket).await.unwrap()["type"], "connection_ack");
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next JSON text message, skipping pings/keep-alives; `None` when the socket closes.
pub(crate) async fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a message within 10 s")?;
        match message.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                    continue;
                }
                return Some(value);
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Creates contacts until the subscriber sees one (the subscription may not be registered
/// the instant `subscribe` is sent); returns the event's payload.
async fn create_until_seen(app: &TestApp, socket: &mut Socket, data_type: &str) -> Value {
    for attempt in 0..20 {
        app.contact(json!({ "firstName": format!("Live {attempt}") })).await;
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), next_json(socket)).await {
            assert_eq!(message["type"], data_type, "{message:#}");
            return message["payload"].clone();
        }
    }
    panic!("no subscription event after 20 contacts");
}

#[tokio::test]
async fn a_subscription_over_graphql_transport_ws_authenticates_in_connection_init() {
    let app = TestApp::spawn().await;
    let mut socket = connect_as(&app, "graphql-transport-ws", &app.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { contactChanged { action contactId contact { firstName } } }" } }),
    )
    .await;
    let payload = create_until_seen(&app, &mut socket, "next").await;
    let event = &payload["data"]["contactChanged"];
    assert_eq!(event["action"], "CREATED", "{payload:#}");
    assert!(event["contact"]["firstName"].as_str().unwrap().starts_with("Live "));

    // Queries work on the same authenticated connection.
    send(&mut socket, json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ viewer { role } }" } })).await;
    loop {
        let message = next_json(&mut socket).await.unwrap();
        if message["id"] == "2" {
            assert_eq!(message["payload"]["data"]["viewer"]["role"], "OWNER");
            break;
        }
    }
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = TestApp::spawn().await;
    let mut socket = connect_as(&app, "graphql-ws", &app.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "start", "payload": { "query": "subscription { contactChanged { action } }" } }),
    )
    .await;
    let payload = create_until_seen(&app, &mut socket, "data").await;
    assert_eq!(payload["data"]["contactChanged"]["action"], "CREATED");
}

#[tokio::test]
async fn a_connection_without_a_valid_token_is_refused() {
    let app = TestApp::spawn().await;
    for payload in [json!({}), json!({ "authorization": "Bearer pgn_forged" })] {
        let mut socket = connect(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
        assert_eq!(next_json(&mut socket).await, None, "closed without connection_ack for {payload}");
    }
}

#[tokio::test]
async fn a_subscriber_sees_only_its_own_workspace() {
    let app = TestApp::spawn().await;
    let (_, other) = app.other_workspace().await;
    let mut socket = connect_as(&app, "graphql-transport-ws", &other).await;
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { contactChanged { contactId } }" } })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        app.contact(json!({ "firstName": format!("Private {i}") })).await;
    }
    let seen = tokio::time::timeout(Duration::from_millis(1000), next_json(&mut socket)).await;
    assert!(seen.is_err(), "another workspace's subscriber saw {seen:?}");
    // Its own changes do arrive.
    let body =
        app.gql_as(Some(&other), "mutation { createContact(input: {firstName: \"Mine\"}) { id } }", json!({})).await;
    let id = body["data"]["createContact"]["id"].clone();
    let message = next_json(&mut socket).await.unwrap();
    assert_eq!(message["payload"]["data"]["contactChanged"]["contactId"], id);
}

#[tokio::test]
async fn an_import_is_one_imported_event_with_its_count() {
    let app = TestApp::spawn().await;
    let mut socket = connect_as(&app, "graphql-transport-ws", &app.token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { contactChanged { action contactId count } }" } }),
    )
    .await;
    // Once a single contact's event arrives, the subscription is live.
    create_until_seen(&app, &mut socket, "next").await;
    let csv = "First name,Email\nA,a@x.io\nB,b@x.io\nC,c@x.io\n";
    let body = app
        .gql(
            "mutation($csv: String) { importContacts(csv: $csv, mode: ADD_ONLY, identifier: EMAIL) { created } }",
            json!({ "csv": csv }),
        )
        .await;
    assert_eq!(body["data"]["importContacts"]["created"], 3, "{body:#}");
    let message = next_json(&mut socket).await.unwrap();
    assert_eq!(
        message["payload"]["data"]["contactChanged"],
        json!({ "action": "IMPORTED", "contactId": null, "count": 3 })
    );
}
