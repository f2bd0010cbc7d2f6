//! Telegram: `sendMessage` to one chat through teloxide (send-only; no updates are read).

use std::{fmt, str::FromStr};

use async_trait::async_trait;
use oracle_core::{Alert, AlertError, Alerter};
use teloxide::{
    Bot, RequestError,
    payloads::SendMessageSetters,
    requests::{Request, Requester},
    types::{ChatId, LinkPreviewOptions, ParseMode, Recipient},
};

use crate::{
    Error, Secret,
    format::{MessageContext, telegram_html},
    http,
};

/// The Bot API's public address.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

const CHANNEL: &str = "telegram";

/// Where messages go: a chat id (`-1001234567890`) or a public channel (`@name`), as
/// `TELEGRAM_CHAT_ID` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelegramChat {
    /// A numeric chat id (groups and channels are negative).
    Id(i64),
    /// A public channel's `@username`.
    Channel(String),
}

impl FromStr for TelegramChat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if let Ok(id) = s.parse::<i64>() {
            return Ok(Self::Id(id));
        }
        match s.strip_prefix('@') {
            Some(name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Ok(Self::Channel(s.to_owned()))
            }
            _ => Err(Error::InvalidChatId),
        }
    }
}

impl fmt::Display for TelegramChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Channel(name) => f.write_str(name),
        }
    }
}

/// Builds a [`TelegramAlerter`].
#[derive(Debug)]
pub struct TelegramAlerterBuilder {
    token: Secret,
    chat: TelegramChat,
    api_url: Option<String>,
    context: MessageContext,
}

impl TelegramAlerterBuilder {
    /// The Bot API's base URL (default [`DEFAULT_TELEGRAM_API_URL`]): a self-hosted Bot API
    /// server, a gateway, or a test server.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The heading and bot id every message carries (default: the old heading, bot id `oracle-bot`).
    pub fn context(mut self, context: MessageContext) -> Self {
        self.context = context;
        self
    }

    /// Builds the alerter; nothing is contacted yet.
    pub fn build(self) -> Result<TelegramAlerter, Error> {
        let api_url = http::api_url(
            "the Telegram API URL",
            self.api_url.as_deref().unwrap_or(DEFAULT_TELEGRAM_API_URL),
        )?;
        let bot = Bot::with_client(self.token.expose(), http::client(CHANNEL)?).set_api_url(api_url.clone());
        let chat = match &self.chat {
            TelegramChat::Id(id) => Recipient::Id(ChatId(*id)),
            TelegramChat::Channel(name) => Recipient::ChannelUsername(name.clone()),
        };
        Ok(TelegramAlerter {
            bot,
            token: self.token,
            chat,
            chat_text: self.chat,
            api_url,
            context: self.context,
        })
    }
}

/// Sends each alert as one Telegram message (HTML parse mode, everything escaped).
#[derive(Clone)]
pub struct TelegramAlerter {
    bot: Bot,
    token: Secret,
    chat: Recipient,
    chat_text: TelegramChat,
    api_url: url::Url,
    context: MessageContext,
}

impl fmt::Debug for TelegramAlerter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramAlerter")
            .field("chat", &self.chat_text)
            .field("api_url", &self.api_url.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl TelegramAlerter {
    /// An alerter for `chat` with the bot `token`.
    pub fn builder(token: Secret, chat: TelegramChat) -> TelegramAlerterBuilder {
        TelegramAlerterBuilder { token, chat, api_url: None, context: MessageContext::new("oracle-bot") }
    }

    /// What went wrong, as an [`AlertError`] that says whether to retry, without the token.
    fn classify(&self, error: RequestError) -> AlertError {
        let scrub = |text: String| self.token.scrub(&text, &[]);
        match error {
            RequestError::RetryAfter(wait) => {
                AlertError::RateLimited { channel: CHANNEL, retry_after: Some(wait.duration()) }
            }
            RequestError::MigrateToChatId(id) => AlertError::Rejected {
                channel: CHANNEL,
                reason: format!("the group became a supergroup: set TELEGRAM_CHAT_ID to {id}"),
            },
            // teloxide strips the request URL (and with it the token) from network errors.
            RequestError::Network(e) if e.is_timeout() => {
                AlertError::Delivery { channel: CHANNEL, reason: "the request timed out".into() }
            }
            RequestError::Network(e) => {
                AlertError::Delivery { channel: CHANNEL, reason: scrub(e.to_string()) }
            }
            // A gateway's error page, not a Bot API answer: it may quote the URL, so it is not
            // repeated.
            RequestError::InvalidJson { .. } => AlertError::Delivery {
                channel: CHANNEL,
                reason:
                    "the API answered something that is not a Bot API response (a proxy or server error?)"
                        .into(),
            },
            RequestError::Io(e) => AlertError::Delivery { channel: CHANNEL, reason: scrub(e.to_string()) },
            RequestError::Api(api) => {
                let text = scrub(api.to_string());
                // Telegram's server errors come back as API errors whose code teloxide drops;
                // their descriptions say what they are.
                let lower = text.to_ascii_lowercase();
                if [
                    "internal server error",
                    "bad gateway",
                    "service unavailable",
                    "gateway timeout",
                    "too many requests",
                ]
                .iter()
                .any(|s| lower.contains(s))
                {
                    AlertError::Delivery { channel: CHANNEL, reason: text }
                } else {
                    AlertError::Rejected { channel: CHANNEL, reason: text }
                }
            }
        }
    }
}

#[async_trait]
impl Alerter for TelegramAlerter {
    fn name(&self) -> &str {
        CHANNEL
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let text = telegram_html(alert, &self.context);
        let request = self
            .bot
            .send_message(self.chat.clone(), text)
            .parse_mode(ParseMode::Html)
            // A link in a hostile string must not make Telegram fetch it.
            .link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            });
        match http::quiet(request.send()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.classify(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_ids_or_channel_names() {
        assert_eq!("-1001234567890".parse::<TelegramChat>(), Ok(TelegramChat::Id(-1_001_234_567_890)));
        assert_eq!("@oracle_ops".parse::<TelegramChat>(), Ok(TelegramChat::Channel("@oracle_ops".into())));
        for bad in ["", "@", "ops", "@a b", "12x"] {
            assert_eq!(bad.parse::<TelegramChat>(), Err(Error::InvalidChatId), "{bad}");
        }
    }

    #[test]
    fn debug_output_has_no_token() {
        let alerter =
            TelegramAlerter::builder(Secret::new("123456:SECRET-TOKEN-abcdef"), TelegramChat::Id(1))
                .api_url("http://127.0.0.1:9")
                .build()
                .unwrap();
        let text = format!("{alerter:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("127.0.0.1:9"), "{text}");
    }
}
