//! Discord: one webhook (`DISCORD_WEBHOOK_URL`), through serenity's webhook route, request
//! builder and message builder.
//!
//! Serenity's own `Http::execute_webhook` is not used to send: its rate limiter ignores a
//! configured API base URL, turns a server's `retry_after` into a `Duration` that panics on a
//! negative or huge value, and its error for a 429 drops `retry_after`. Instead serenity builds
//! the request (route, headers, base URL) and this module sends it and reads the answer itself,
//! so a 429's `retry_after` is honoured by the layer.

use std::fmt;

use async_trait::async_trait;
use oracle_core::{Alert, AlertError, Alerter};
use serenity::{
    builder::{CreateAllowedMentions, ExecuteWebhook},
    http::{Http, HttpBuilder, LightMethod, Request, Route},
    model::id::WebhookId,
};

use crate::{
    Error, Secret,
    format::{MessageContext, discord_markdown},
    http,
};

/// Discord's public address, which serenity's routes start with.
pub const DEFAULT_DISCORD_API_URL: &str = "https://discord.com";

const CHANNEL: &str = "discord";

/// The most of an error answer that is read (a hostile server could send gigabytes).
const MAX_ANSWER: usize = 16 * 1024;

/// Builds a [`DiscordAlerter`].
pub struct DiscordAlerterBuilder {
    webhook_id: WebhookId,
    token: Secret,
    url: Secret,
    api_url: Option<String>,
    context: MessageContext,
}

impl fmt::Debug for DiscordAlerterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordAlerterBuilder")
            .field("webhook_id", &self.webhook_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl DiscordAlerterBuilder {
    /// The API's base URL, replacing `https://discord.com` (default [`DEFAULT_DISCORD_API_URL`]):
    /// a gateway, a proxy, or a test server. The webhook's id and token still come from the
    /// webhook URL.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The heading and bot id every message carries.
    pub fn context(mut self, context: MessageContext) -> Self {
        self.context = context;
        self
    }

    /// Builds the alerter; nothing is contacted yet.
    pub fn build(self) -> Result<DiscordAlerter, Error> {
        let base =
            http::api_url("the Discord API URL", self.api_url.as_deref().unwrap_or(DEFAULT_DISCORD_API_URL))?;
        let client = http::client(CHANNEL)?;
        let mut builder = HttpBuilder::new("").client(client.clone()).ratelimiter_disabled(true);
        // Serenity swaps the `https://discord.com` prefix of every route for this.
        if base.as_str().trim_end_matches('/') != DEFAULT_DISCORD_API_URL {
            builder = builder.proxy(base.as_str().trim_end_matches('/'));
        }
        Ok(DiscordAlerter {
            http: builder.build(),
            client,
            webhook_id: self.webhook_id,
            token: self.token,
            url: self.url,
            api_url: base,
            context: self.context,
        })
    }
}

/// Sends each alert as one message to a Discord webhook (markdown escaped, no mentions).
pub struct DiscordAlerter {
    http: Http,
    client: reqwest::Client,
    webhook_id: WebhookId,
    token: Secret,
    url: Secret,
    api_url: url::Url,
    context: MessageContext,
}

impl fmt::Debug for DiscordAlerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordAlerter")
            .field("webhook_id", &self.webhook_id)
            .field("api_url", &self.api_url.as_str())
            .field("webhook_url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A webhook URL's id and token: serenity's parser for Discord's hosts, or any host with the
/// same path (`/api[/v10]/webhooks/<id>/<token>`), for gateways that mirror it.
fn parse_webhook(text: &str) -> Option<(WebhookId, String)> {
    let url = url::Url::parse(text.trim()).ok()?;
    if let Some((id, token)) = serenity::utils::parse_webhook(&url) {
        return Some((id, token.to_owned()));
    }
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", "webhooks", rest @ ..] => rest,
        ["api", version, "webhooks", rest @ ..] if version.starts_with('v') => rest,
        _ => return None,
    };
    let [id, token] = rest else { return None };
    // `WebhookId::new` panics on zero.
    let id = id.parse::<u64>().ok().filter(|id| *id != 0)?;
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    Some((WebhookId::new(id), (*token).to_owned()))
}

impl DiscordAlerter {
    /// An alerter for the webhook at `webhook_url` (`https://discord.com/api/webhooks/<id>/<token>`).
    pub fn builder(webhook_url: &Secret) -> Result<DiscordAlerterBuilder, Error> {
        let (webhook_id, token) = parse_webhook(webhook_url.expose()).ok_or(Error::InvalidWebhookUrl)?;
        Ok(DiscordAlerterBuilder {
            webhook_id,
            token: Secret::new(token),
            url: webhook_url.clone(),
            api_url: None,
            context: MessageContext::new("oracle-bot"),
        })
    }

    fn scrub(&self, text: &str) -> String {
        self.url.scrub(text, &[self.token.expose()])
    }

    /// Sends `body` to the webhook; the status, `retry_after` and a short reason on failure.
    async fn post(&self, body: Vec<u8>) -> Result<(), AlertError> {
        let request = Request::new(
            Route::WebhookWithToken { webhook_id: self.webhook_id, token: self.token.expose() },
            LightMethod::Post,
        )
        .body(Some(body))
        .params(Some(vec![("wait", "true".to_owned())]));
        let built = request
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .and_then(|r| r.build().map_err(Into::into))
            .map_err(|_| AlertError::Config {
                channel: CHANNEL,
                reason: "cannot build the webhook request".into(),
            })?;
        let mut response = self.client.execute(built).await.map_err(|e| {
            let e = e.without_url();
            let reason =
                if e.is_timeout() { "the request timed out".to_owned() } else { self.scrub(&e.to_string()) };
            AlertError::Delivery { channel: CHANNEL, reason }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let mut answer = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            answer.extend_from_slice(&chunk);
            if answer.len() >= MAX_ANSWER {
                break;
            }
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&answer).ok();
        if status.as_u16() == 429 {
            // The body's `retry_after` (seconds, fractional) is Discord's own; the header is the
            // HTTP standard's. Either may be missing, negative or absurd: only sane ones count.
            let asked = json
                .as_ref()
                .and_then(|j| j.get("retry_after"))
                .and_then(serde_json::Value::as_f64)
                .or(header_wait);
            let retry_after = asked.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
            return Err(AlertError::RateLimited { channel: CHANNEL, retry_after });
        }
        let message = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(serde_json::Value::as_str)
            .map(|m| format!(": {}", self.scrub(&m.chars().take(200).collect::<String>())))
            .unwrap_or_default();
        let reason = format!("HTTP {}{message}", status.as_u16());
        if status.is_server_error() {
            Err(AlertError::Delivery { channel: CHANNEL, reason })
        } else {
            Err(AlertError::Rejected { channel: CHANNEL, reason })
        }
    }
}

#[async_trait]
impl Alerter for DiscordAlerter {
    fn name(&self) -> &str {
        CHANNEL
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let payload = ExecuteWebhook::new()
            .content(discord_markdown(alert, &self.context))
            // Nobody is pinged by text in an alert, whatever it contains.
            .allowed_mentions(CreateAllowedMentions::new());
        let body = serde_json::to_vec(&payload).map_err(|e| AlertError::Config {
            channel: CHANNEL,
            reason: format!("cannot encode the message: {e}"),
        })?;
        http::quiet(self.post(body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "112233445566778899";
    const TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz01";

    #[test]
    fn webhook_urls_are_parsed_without_repeating_them() {
        let (id, token) = parse_webhook(&format!("https://discord.com/api/webhooks/{ID}/{TOKEN}")).unwrap();
        assert_eq!((id.get().to_string(), token.as_str()), (ID.to_owned(), TOKEN));
        assert!(parse_webhook(&format!("https://gateway.example/api/v10/webhooks/{ID}/tok")).is_some());
        for bad in ["https://discord.com/api/webhooks/0/tok", "https://discord.com/x", "not a url"] {
            assert!(parse_webhook(bad).is_none(), "{bad}");
        }
        let err =
            DiscordAlerter::builder(&Secret::new("https://discord.com/api/webhooks/SECRET")).unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
    }

    #[test]
    fn debug_output_has_no_token() {
        let url = Secret::new(format!("https://discord.com/api/webhooks/{ID}/{TOKEN}"));
        let alerter = DiscordAlerter::builder(&url).unwrap().api_url("http://127.0.0.1:9").build().unwrap();
        let text = format!("{alerter:?}");
        assert!(!text.contains(TOKEN), "{text}");
    }
}
