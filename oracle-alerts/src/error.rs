//! The crate's error: what can be wrong when an alerter or the layer is built. Delivery failures
//! are [`oracle_core::AlertError`]s, counted and logged by the layer, never raised to the engine.

/// Why an alerter or the alert layer could not be built. Never contains a token or a webhook
/// URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Telegram chat id is neither a number nor an `@channel` name.
    #[error("the Telegram chat id must be a number (e.g. -1001234567890) or an @channel name")]
    InvalidChatId,
    /// The Discord webhook URL does not have the form `https://discord.com/api/webhooks/<id>/<token>`.
    /// The URL itself is not repeated: it carries the webhook's token.
    #[error("the Discord webhook URL must look like https://discord.com/api/webhooks/<id>/<token>")]
    InvalidWebhookUrl,
    /// An API base URL is not an `http(s)://` URL.
    #[error("{what} must be an http:// or https:// URL without a path: {reason}")]
    InvalidApiUrl {
        /// Which one (`the Telegram API URL`, `the Discord API URL`).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid alert setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS roots, for example).
    #[error("cannot build the {channel} HTTP client: {reason}")]
    HttpClient {
        /// The channel.
        channel: &'static str,
        /// Why.
        reason: String,
    },
    /// The layer's delivery tasks need a tokio runtime and none is running.
    #[error("the alert layer must be built inside a tokio runtime")]
    NoRuntime,
}
