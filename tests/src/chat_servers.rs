//! Local HTTP servers that speak the Telegram Bot API (`sendMessage`) and Discord's webhook API
//! closely enough for the real teloxide and serenity clients. Each records every request and
//! answers as scripted: 200, 429 with `retry_after`, a server error, or never (hang).
//!
//! ```ignore
//! let telegram = ChatServer::telegram().await;
//! telegram.script([ChatReply::RateLimited { retry_after_secs: 1.0 }]); // then 200s
//! // ... point TELEGRAM_API_URL at telegram.url() ...
//! let message = telegram.await_message("Oracle updates failing").await;
//! ```

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::watch};

use crate::bot::HANG_GUARD;

/// A Telegram bot token of the real shape, for tests.
pub const TELEGRAM_TOKEN: &str = "7357246813:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
/// A Discord webhook id of the real shape.
pub const DISCORD_WEBHOOK_ID: &str = "1234567890123456789";
/// A Discord webhook token of the real shape.
pub const DISCORD_WEBHOOK_TOKEN: &str = "Xy9_kLmN0pQrStUvWxYz-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIj";

/// The webhook URL an operator would set (`DISCORD_WEBHOOK_URL`): Discord's host, the test id and
/// token. Requests go to the test server through the alerter's API URL (`DISCORD_API_URL`).
pub fn discord_webhook_url() -> String {
    format!("https://discord.com/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_WEBHOOK_TOKEN}")
}

/// The chat the test bots alert (`TELEGRAM_CHAT_ID`).
pub const TELEGRAM_CHAT_ID: &str = "-1001234567890";

/// Turns an `oracle-bot`'s Telegram and Discord alerts on, through the old variables, at the
/// local servers `telegram` and `discord` (their API URLs).
pub fn with_chat_alerts(
    env: &mut std::collections::HashMap<String, String>,
    telegram: &ChatServer,
    discord: &ChatServer,
) {
    env.extend(
        [
            ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN.to_owned()),
            ("TELEGRAM_CHAT_ID", TELEGRAM_CHAT_ID.to_owned()),
            ("DISCORD_WEBHOOK_URL", discord_webhook_url()),
            ("TELEGRAM_API_URL", telegram.url().to_owned()),
            ("DISCORD_API_URL", discord.url().to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
}

/// Which API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// The Telegram Bot API.
    Telegram,
    /// Discord's webhook API.
    Discord,
}

/// How the server answers one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChatReply {
    /// 200 with the platform's success body.
    Ok,
    /// 429 with `retry_after` (Telegram: whole seconds in `parameters`; Discord: fractional
    /// seconds in the body and the `Retry-After` header).
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: f64,
    },
    /// A server error (Telegram 500, Discord 502) with the platform's error body.
    ServerError,
    /// 401/404 with the platform's error body: a wrong token or a deleted webhook.
    Refused,
    /// Accept the request and never answer.
    Hang,
}

/// One request the server got.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The API it came to.
    pub platform: Platform,
    /// The request path (with the token in it, as the platforms want).
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
    /// How it was answered.
    pub reply: ChatReply,
    /// When it arrived.
    pub at: Instant,
}

impl ChatRequest {
    /// The message text as sent: Telegram's `text` (HTML), Discord's `content` (markdown).
    pub fn text(&self) -> &str {
        self.body.get("text").or_else(|| self.body.get("content")).and_then(Value::as_str).unwrap_or_default()
    }

    /// The text as a person sees it: Telegram's tags dropped and entities decoded, Discord's
    /// bold markers dropped and backslash escapes undone.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        let mut chars = self.text().chars().peekable();
        match self.platform {
            Platform::Telegram => {
                while let Some(c) = chars.next() {
                    if c == '<' {
                        // Every literal `<` is escaped, so this is one of the message's own tags.
                        for t in chars.by_ref() {
                            if t == '>' {
                                break;
                            }
                        }
                    } else {
                        out.push(c);
                    }
                }
                out = out
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&amp;", "&");
            }
            Platform::Discord => {
                while let Some(c) = chars.next() {
                    match (c, chars.peek().copied()) {
                        ('\\', Some(next)) if next.is_ascii_punctuation() => {
                            out.push(next);
                            chars.next();
                        }
                        ('*', Some('*')) => {
                            chars.next();
                        }
                        _ => out.push(c),
                    }
                }
            }
        }
        out
    }
}

struct ServerState {
    platform: Platform,
    script: Mutex<VecDeque<ChatReply>>,
    requests: watch::Sender<Vec<ChatRequest>>,
}

/// A fake chat API on a free loopback port, serving until the test's runtime ends.
#[derive(Clone)]
pub struct ChatServer {
    url: String,
    state: Arc<ServerState>,
}

impl ChatServer {
    /// A Telegram Bot API server.
    pub async fn telegram() -> Self {
        Self::start(Platform::Telegram).await
    }

    /// A Discord webhook API server.
    pub async fn discord() -> Self {
        Self::start(Platform::Discord).await
    }

    async fn start(platform: Platform) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ServerState {
            platform,
            script: Mutex::new(VecDeque::new()),
            requests: watch::channel(Vec::new()).0,
        });
        let app = Router::new().fallback(answer).with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state }
    }

    /// The base URL (`TELEGRAM_API_URL` / `DISCORD_API_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next answers, in order; after them every request gets [`ChatReply::Ok`].
    pub fn script(&self, replies: impl IntoIterator<Item = ChatReply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.state.requests.borrow().clone()
    }

    /// The plain texts of the messages answered with 200 (the ones a person saw).
    pub fn delivered(&self) -> Vec<String> {
        self.requests().iter().filter(|r| r.reply == ChatReply::Ok).map(ChatRequest::plain_text).collect()
    }

    /// Waits until `n` requests arrived (failing after [`HANG_GUARD`]); returns them all.
    pub async fn await_requests(&self, n: usize) -> Vec<ChatRequest> {
        self.await_until(|r| r.len() >= n, &format!("{n} requests")).await
    }

    /// Waits for a delivered message whose plain text contains `needle`; returns its request.
    pub async fn await_message(&self, needle: &str) -> ChatRequest {
        let hit = |r: &ChatRequest| r.reply == ChatReply::Ok && r.plain_text().contains(needle);
        let all = self.await_until(|r| r.iter().any(hit), &format!("a message with {needle:?}")).await;
        all.into_iter().find(hit).unwrap()
    }

    async fn await_until(&self, done: impl Fn(&[ChatRequest]) -> bool, what: &str) -> Vec<ChatRequest> {
        let mut rx = self.state.requests.subscribe();
        let waited = tokio::time::timeout(HANG_GUARD, rx.wait_for(|r| done(r))).await;
        let platform = self.state.platform;
        match waited {
            Ok(Ok(r)) => r.clone(),
            _ => panic!(
                "the {platform:?} server did not get {what} within {HANG_GUARD:?}: {:#?}",
                self.requests()
            ),
        }
    }
}

async fn answer(State(state): State<Arc<ServerState>>, uri: Uri, body: Bytes) -> Response {
    let reply = state.script.lock().unwrap().pop_front().unwrap_or(ChatReply::Ok);
    let request = ChatRequest {
        platform: state.platform,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        reply,
        at: Instant::now(),
    };
    let text = request.text().to_owned();
    let chat_id = request.body.get("chat_id").cloned().unwrap_or(json!(-1_001_234_567_890i64));
    state.requests.send_modify(|r| r.push(request));
    let json_response = |status: StatusCode, body: Value| (status, axum::Json(body)).into_response();
    match (state.platform, reply) {
        (_, ChatReply::Hang) => std::future::pending().await,
        (Platform::Telegram, ChatReply::Ok) => json_response(
            StatusCode::OK,
            json!({
                "ok": true,
                "result": {
                    "message_id": 42,
                    "from": {"id": 7357246813u64, "is_bot": true, "first_name": "Jeju Oracle", "username": "jeju_oracle_bot"},
                    "chat": chat_json(&chat_id),
                    "date": 1_700_000_000,
                    "text": text,
                }
            }),
        ),
        (Platform::Telegram, ChatReply::RateLimited { retry_after_secs }) => {
            let secs = retry_after_secs.ceil() as u64;
            json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {secs}"),
                    "parameters": {"retry_after": secs},
                }),
            )
        }
        (Platform::Telegram, ChatReply::ServerError) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        ),
        (Platform::Telegram, ChatReply::Refused) => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        ),
        (Platform::Discord, ChatReply::Ok) => json_response(
            StatusCode::OK,
            json!({"id": "1300000000000000000", "type": 0, "content": text, "channel_id": "1200000000000000000", "webhook_id": DISCORD_WEBHOOK_ID}),
        ),
        (Platform::Discord, ChatReply::RateLimited { retry_after_secs }) => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "You are being rate limited.", "retry_after": retry_after_secs, "global": false}),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        (Platform::Discord, ChatReply::ServerError) => {
            json_response(StatusCode::BAD_GATEWAY, json!({"message": "502: Bad Gateway", "code": 0}))
        }
        (Platform::Discord, ChatReply::Refused) => {
            json_response(StatusCode::NOT_FOUND, json!({"message": "Unknown Webhook", "code": 10015}))
        }
    }
}

/// A Telegram chat object for `chat_id` (a number, or an `@channel` name).
fn chat_json(chat_id: &Value) -> Value {
    match chat_id.as_i64() {
        Some(id) if id < 0 => json!({"id": id, "type": "supergroup", "title": "Oracle on-call"}),
        Some(id) => json!({"id": id, "type": "private", "first_name": "On-call"}),
        None => json!({
            "id": -1_001_234_567_890i64,
            "type": "channel",
            "title": "Oracle alerts",
            "username": chat_id.as_str().unwrap_or("@oracle").trim_start_matches('@'),
        }),
    }
}
