//! The real providers, each against a loopback mock that speaks its documented wire format:
//! sends (request bodies checked field by field), answers (accepted, retried, failed), signed
//! status webhooks and inbound messages, and forged webhooks refused.

mod line;
mod messenger;
mod telegram;
mod twilio;
mod viber;
mod whatsapp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// One request a provider mock received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }

    /// A form-encoded body's fields.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// What a provider mock answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer { status, headers: vec![("content-type".into(), "application/json".into())], body: body.to_string() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Script = Box<dyn Fn(&Request, usize) -> Answer + Send + Sync>;

struct MockState {
    requests: Mutex<Vec<Request>>,
    script: Mutex<Script>,
}

/// A loopback HTTP server standing for a provider's API: it records every request and answers
/// as the script says (the script also gets how many requests came before).
#[derive(Clone)]
pub struct ProviderMock {
    /// The base URL to give the channel.
    pub url: String,
    state: Arc<MockState>,
}

impl ProviderMock {
    pub async fn start(script: impl Fn(&Request, usize) -> Answer + Send + Sync + 'static) -> ProviderMock {
        let state = Arc::new(MockState { requests: Mutex::default(), script: Mutex::new(Box::new(script)) });
        let shared = state.clone();
        let router = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { answer(&state, method, uri, headers, body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("mock binds");
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        ProviderMock { url, state }
    }

    pub fn set_script(&self, script: impl Fn(&Request, usize) -> Answer + Send + Sync + 'static) {
        *self.state.script.lock().unwrap() = Box::new(script);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn answer(state: &MockState, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let request = Request { method, path: uri.path().to_owned(), headers, body };
    let answer = {
        let mut requests = state.requests.lock().unwrap();
        let answer = (state.script.lock().unwrap())(&request, requests.len());
        requests.push(request);
        answer
    };
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    for (name, value) in answer.headers {
        response
            .headers_mut()
            .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    response
}

/// Posts `body` to the channel's webhook with `headers`; answers the status and the body.
pub async fn post_webhook(app: &TestApp, channel: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut request = app.client.post(format!("{}/webhooks/{channel}", app.address)).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub fn hmac_sha256_hex(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

pub fn hmac_sha256_base64(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn hmac_sha1_base64(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Sends one message with `sendMessage`; answers its id.
pub async fn send_message(app: &TestApp, contact: &str, channel: &str, content: Value) -> String {
    let sent = app
        .ok(
            "mutation($contact: ID!, $channel: ID!, $content: MessageContentInput!) { sendMessage(contactId: $contact, channelId: $channel, content: $content) { id status } }",
            json!({ "contact": contact, "channel": channel, "content": content }),
        )
        .await;
    sent["sendMessage"]["id"].as_str().unwrap().to_owned()
}

/// The contact's messages (newest first), as the API shows them.
pub async fn messages_of_contact(app: &TestApp, contact: &str) -> Vec<Value> {
    let data = app
        .ok(
            "query($contact: ID!) { messages(contactId: $contact, first: 100) { nodes { id status direction errorCode errorText address attempts providerMessageId sentAt deliveredAt readAt content { text } } } }",
            json!({ "contact": contact }),
        )
        .await;
    data["messages"]["nodes"].as_array().unwrap().clone()
}

/// Polls until message `id` of `contact` satisfies `done`; answers it.
pub async fn wait_message(app: &TestApp, contact: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let messages = messages_of_contact(app, contact).await;
        if let Some(message) = messages.iter().find(|m| m["id"] == id)
            && done(message)
        {
            return message.clone();
        }
        assert!(std::time::Instant::now() < deadline, "message {id} never got there: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The contact's messaging window on a channel: when it last wrote there, and whether the
/// provider reported it unreachable (straight from the database).
pub async fn contact_channel_state(app: &TestApp, contact: &str, channel: &str) -> (Option<String>, bool) {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .app
        .db
        .query_one_raw(Statement::from_string(
            app.app.db.get_database_backend(),
            format!(
                "SELECT CAST(last_incoming_at AS TEXT) AS last, CASE WHEN unreachable_at IS NULL THEN 0 ELSE 1 END AS unreachable \
                 FROM contact_channels WHERE contact_id = {contact} AND channel_id = {channel}"
            ),
        ))
        .await
        .unwrap()
        .expect("the contact has an identifier on the channel");
    let last: Option<String> = row.try_get("", "last").unwrap();
    let unreachable: i32 = row.try_get("", "unreachable").unwrap();
    (last, unreachable == 1)
}
