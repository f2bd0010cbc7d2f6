//! Alerts an on-call engineer can trust: a Telegram alerter (feature `telegram`, on teloxide), a
//! Discord webhook alerter (feature `discord`, on serenity), and [`AlertLayer`], which wraps any
//! [`Alerter`] with reminders, recoveries that always arrive, rate limits, flood summaries,
//! routing by severity, and a bounded queue per channel so that sending never slows the engine.
//!
//! The engine raises each condition once and resolves it once (`oracle_core::engine`); the layer
//! decides when and where that reaches people:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use oracle_alerts::{AlertLayer, Alerter, Channel, LogAlerter, Severity};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), oracle_alerts::Error> {
//! // In the bot the channels are `TelegramAlerter` and `DiscordAlerter`; any alerter will do.
//! let pager: Arc<dyn Alerter> = Arc::new(LogAlerter);
//! let chat: Arc<dyn Alerter> = Arc::new(LogAlerter);
//! let layer = AlertLayer::builder()
//!     // Critical alerts (and their recoveries) page; everything goes to the chat.
//!     .channel(Channel::new(pager).min_severity(Severity::Critical))
//!     .channel(Channel::new(chat))
//!     // An open condition is repeated every hour until it clears.
//!     .reminder_interval(Some(Duration::from_secs(3600)))
//!     .build()?;
//! // Hand `layer` to the engine: `Engine::builder().alerter(Arc::new(layer))`.
//! # let _ = layer;
//! # Ok(()) }
//! ```
//!
//! With the `telegram` and `discord` features:
//!
//! ```ignore
//! let telegram = TelegramAlerter::builder(Secret::new(token), "-1001234567890".parse()?)
//!     .context(MessageContext::new("bot-1"))
//!     .build()?;
//! let discord = DiscordAlerter::builder(&Secret::new(webhook_url))?
//!     .context(MessageContext::new("bot-1"))
//!     .build()?;
//! ```
//!
//! Tokens and webhook URLs are held as [`Secret`]s: they never appear in logs, errors or
//! `Debug` output, and the library calls that carry them run with logging switched off, so a
//! library's own spans (which can record a request's URL) cannot leak them either.

mod error;
pub mod format;
mod layer;

#[cfg(feature = "discord")]
mod discord;
#[cfg(any(feature = "telegram", feature = "discord"))]
mod http;
#[cfg(feature = "telegram")]
mod telegram;

/// The workspace's one secret type, re-exported so a token can be wrapped without naming
/// `oracle_core`.
pub use oracle_core::secret::Secret;
pub use oracle_core::{Alert, AlertError, AlertKind, Alerter, LogAlerter, Severity};

#[cfg(feature = "discord")]
pub use self::discord::{DEFAULT_DISCORD_API_URL, DiscordAlerter, DiscordAlerterBuilder};
#[cfg(feature = "telegram")]
pub use self::telegram::{DEFAULT_TELEGRAM_API_URL, TelegramAlerter, TelegramAlerterBuilder, TelegramChat};
pub use self::{
    error::Error,
    format::MessageContext,
    layer::{
        AlertLayer, AlertLayerBuilder, Channel, ChannelStats, DEFAULT_EVENT_INTERVAL,
        DEFAULT_FLOOD_THRESHOLD, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RETRY_AFTER, DEFAULT_MESSAGES_PER_MINUTE,
        DEFAULT_MIN_BACKOFF, DEFAULT_QUEUE_CAPACITY, DEFAULT_REMINDER_INTERVAL, DEFAULT_RETRIES,
        DEFAULT_SEND_TIMEOUT, DROPPED_TOTAL, FAILURES_TOTAL, RateLimit, SENT_TOTAL, describe_metrics,
    },
};

/// Checks an API base URL (`TELEGRAM_API_URL`, `DISCORD_API_URL`): `http(s)://host[:port][/path]`,
/// without credentials, query or fragment. It is printed in `Debug` output and logs, so it must
/// not be able to carry a secret (the tokens travel separately).
pub fn parse_api_url(what: &'static str, text: &str) -> Result<url::Url, Error> {
    let invalid = |reason: &str| Error::InvalidApiUrl { what, reason: reason.to_owned() };
    let url = url::Url::parse(text.trim()).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid("no user, password, query or fragment allowed"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_carry_no_secrets() {
        assert!(parse_api_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(parse_api_url("x", "https://proxy.example/telegram/").is_ok());
        for bad in ["ftp://h", "http://user:pw@h", "http://h/?key=1", "nonsense"] {
            assert!(parse_api_url("x", bad).is_err(), "{bad}");
        }
    }
}
