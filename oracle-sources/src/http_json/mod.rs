//! A price from an HTTP JSON API: `GET url`, take the value at a JSON pointer, parse it exactly.

mod pointer;
#[cfg(test)]
mod props;

use std::{
    fmt::{self, Write as _},
    time::{Duration, SystemTime},
};

use alloy::transports::http::reqwest::{self, Url};
use async_trait::async_trait;
use oracle_core::{
    FeedId, MAX_DECIMALS, Observation, Price, PriceError, PriceSource, SourceError, secret::redact_urls,
};

use crate::Error;

/// The default time one request may take, connection included.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default decimals a value is parsed into.
pub const DEFAULT_HTTP_DECIMALS: u8 = 8;
/// Bodies larger than this are refused: a price API answers a few hundred bytes.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Reads one feed from an HTTP JSON API.
///
/// The value at the [RFC 6901](https://www.rfc-editor.org/rfc/rfc6901) pointer may be a JSON
/// string (`"3245.67"`) or number (`3245.67`); either way its exact text is parsed with
/// `Price::parse` (never through `f64`) and must have at most `decimals` fractional digits
/// (exponents such as `1e3` are refused). The observation time is when the answer arrived: the
/// API's own timestamp, if any, is not read.
///
/// Refusals: a transport error, a timeout, a non-2xx status or a body that is not JSON are
/// `Unreachable`; a missing pointer is `Invalid { check: "json pointer" }`; a value that is not a
/// number is `Invalid { check: "json value" }`; zero or negative is `NonPositive`. Messages show
/// the URL as `scheme://host[:port]` only: API keys live in credentials, the query, and the path
/// too (`/v2/<key>/price`).
///
/// ```no_run
/// use std::time::Duration;
/// use oracle_core::FeedId;
/// use oracle_sources::HttpJsonSource;
/// # fn demo() -> Result<(), oracle_sources::Error> {
/// let source = HttpJsonSource::builder(FeedId::ETH_USD, "https://api.example.com/v1/price?ids=eth&key=SECRET")
///     .pointer("/ethereum/usd")
///     .decimals(8)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// # Ok(()) }
/// ```
// Debug by hand: the URL may carry an API key.
#[derive(Clone)]
pub struct HttpJsonSource {
    feed: FeedId,
    url: Url,
    shown_url: String,
    pointer: String,
    decimals: u8,
    client: reqwest::Client,
    name: String,
}

/// Builds an [`HttpJsonSource`]; see [`HttpJsonSource::builder`].
#[derive(Clone)]
#[must_use]
pub struct HttpJsonSourceBuilder {
    feed: FeedId,
    url: String,
    pointer: String,
    decimals: u8,
    timeout: Duration,
}

impl fmt::Debug for HttpJsonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJsonSource")
            .field("feed", &self.feed)
            .field("url", &self.shown_url)
            .field("pointer", &self.pointer)
            .field("decimals", &self.decimals)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HttpJsonSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJsonSourceBuilder")
            .field("feed", &self.feed)
            .field("url", &shown_text(&self.url))
            .field("pointer", &self.pointer)
            .field("decimals", &self.decimals)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpJsonSourceBuilder {
    /// The RFC 6901 pointer to the price (default `""`: the whole body is the value).
    pub fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = pointer.into();
        self
    }

    /// Decimals the value is parsed into (default [`DEFAULT_HTTP_DECIMALS`]).
    pub fn decimals(mut self, decimals: u8) -> Self {
        self.decimals = decimals;
        self
    }

    /// Time allowed for one request (default [`DEFAULT_HTTP_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and builds the source; errors never repeat the URL's secrets.
    pub fn build(self) -> Result<HttpJsonSource, Error> {
        let feed = self.feed;
        let config = |setting: &'static str, msg: String| Error::invalid("http_json", &feed, setting, msg);
        // The URL may hold a key: the parse error must not quote it.
        let url = Url::parse(self.url.trim()).map_err(|e| config("url", format!("not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(config("url", format!("{} is not an http(s) URL with a host", shown(&url))));
        }
        pointer::validate(&self.pointer).map_err(|e| config("pointer", e.to_string()))?;
        if self.decimals > MAX_DECIMALS {
            return Err(config("decimals", format!("{} decimals, at most {MAX_DECIMALS}", self.decimals)));
        }
        if self.timeout.is_zero() {
            return Err(config("timeout_s", "the timeout must be positive".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("oracle-updater/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::HttpClient {
                kind: "http_json",
                feed: feed.clone(),
                reason: e.to_string(),
            })?;
        let name = format!("http:{feed}");
        let shown_url = shown(&url);
        Ok(HttpJsonSource {
            feed,
            url,
            shown_url,
            pointer: self.pointer,
            decimals: self.decimals,
            client,
            name,
        })
    }
}

/// `text` as [`shown`] shows a URL, or `<not a URL>`: a key pasted alone where the URL goes must
/// not be printed either.
pub(crate) fn shown_text(text: &str) -> String {
    Url::parse(text.trim()).map_or_else(|_| "<not a URL>".to_owned(), |url| shown(&url))
}

/// `scheme://host[:port]`: no user info, path, query or fragment (a key can sit in any of them).
fn shown(url: &Url) -> String {
    oracle_core::secret::redact_url(url)
}

/// An error and its causes on one line (reqwest's top-level message alone says little).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    redact_urls(&text)
}

impl HttpJsonSource {
    /// Starts configuring a source for `feed` that reads `url`.
    pub fn builder(feed: FeedId, url: impl Into<String>) -> HttpJsonSourceBuilder {
        HttpJsonSourceBuilder {
            feed,
            url: url.into(),
            pointer: String::new(),
            decimals: DEFAULT_HTTP_DECIMALS,
            timeout: DEFAULT_HTTP_TIMEOUT,
        }
    }

    fn unreachable(&self, reason: String) -> SourceError {
        SourceError::Unreachable {
            source_name: self.name.clone(),
            reason: format!("GET {}: {reason}", self.shown_url),
        }
    }

    fn invalid(&self, check: &'static str, detail: String) -> SourceError {
        SourceError::Invalid {
            source_name: self.name.clone(),
            feed: self.feed.clone(),
            check,
            detail: format!("{detail} (GET {})", self.shown_url),
        }
    }

    /// The body, at most [`MAX_BODY_BYTES`].
    async fn body(&self) -> Result<String, SourceError> {
        let transport = |e: reqwest::Error| {
            let timed_out = e.is_timeout();
            let e = e.without_url();
            if timed_out {
                self.unreachable(format!("timed out ({})", chain(&e)))
            } else {
                self.unreachable(chain(&e))
            }
        };
        let mut response = self.client.get(self.url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.unreachable(format!("answered HTTP {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(self.unreachable(format!("the body is larger than {MAX_BODY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| self.unreachable("the body is not UTF-8 text".into()))
    }

    /// The price in the JSON text of the value found.
    fn parse_value(&self, raw: &str) -> Result<Price, SourceError> {
        let text = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).map_err(|e| {
                self.invalid("json value", format!("the string at {:?} is malformed: {e}", self.pointer))
            })?
        } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            raw.to_owned()
        } else {
            return Err(self.invalid(
                "json value",
                format!(
                    "the value at {:?} is {}, not a number or a numeric string",
                    self.pointer,
                    pointer::short(raw)
                ),
            ));
        };
        let non_positive = |answer: String| SourceError::NonPositive {
            source_name: self.name.clone(),
            feed: self.feed.clone(),
            answer,
        };
        if text.trim_start().starts_with('-') {
            return Err(non_positive(text));
        }
        let price = Price::parse(&text, self.decimals).map_err(|e| match e {
            PriceError::Parse { reason, .. } => self.invalid(
                "json value",
                format!(
                    "{} at {:?} is not a price with {} decimals: {reason}",
                    pointer::short(&text),
                    self.pointer,
                    self.decimals
                ),
            ),
            other => self.invalid("json value", other.to_string()),
        })?;
        if price.is_zero() {
            return Err(non_positive(text));
        }
        Ok(price)
    }
}

#[async_trait]
impl PriceSource for HttpJsonSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        let body = self.body().await?;
        let raw = pointer::resolve(&body, &self.pointer).map_err(|e| match e {
            pointer::PointerError::Missing { .. } => self.invalid("json pointer", e.to_string()),
            other => self.unreachable(format!("{other} (body starts {:?})", pointer::short(body.trim()))),
        })?;
        let price = self.parse_value(raw)?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), &self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_secrets() {
        let url = Url::parse("https://user:pw@api.example.com:8443/v1/price?key=SECRET#frag").unwrap();
        assert_eq!(shown(&url), "https://api.example.com:8443");
        let keyed = Url::parse("https://eth-mainnet.example.com/v2/SECRETKEY").unwrap();
        assert_eq!(shown(&keyed), "https://eth-mainnet.example.com");
        let err = HttpJsonSource::builder(FeedId::ETH_USD, "ftp://user:SECRET@host/x?k=SECRET")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        let err = HttpJsonSource::builder(FeedId::ETH_USD, "not a url SECRET").build().unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        let err = HttpJsonSource::builder(FeedId::ETH_USD, "http://h/").pointer("price").build().unwrap_err();
        assert!(err.to_string().contains("JSON pointer"), "{err}");
        let builder = HttpJsonSource::builder(FeedId::ETH_USD, "https://u:PW@api.example.com/p?key=SECRET");
        assert!(!format!("{builder:?}").contains("SECRET") && !format!("{builder:?}").contains("PW"));
        let source = builder.build().unwrap();
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("PW") && shown.contains("https://api.example.com"),
            "{shown}"
        );
    }
}
