//! Secrets and URL redaction: the one place every crate takes them from.
//!
//! - [`Secret`]: a string (a bot token, a webhook URL, a password) zeroed on drop that never
//!   prints: `Debug` and `Display` show [`REDACTED`]; [`Secret::expose`] is the one way in.
//! - [`SecretUrl`]: a URL that may carry credentials (an RPC provider's API key in the path or
//!   query, a Redis password in the user info); it shows as `scheme://host[:port]` and scrubs its
//!   own secret parts from text ([`SecretUrl::scrub`]).
//! - [`redact_urls`]: every `http(s)://` URL in a text reduced to `scheme://host[:port]`, for
//!   library errors (reqwest's among them) that quote the full request URL.
//!
//! Not gated behind the `evm` feature: alerters and electors hold secrets too.
//!
//! ```
//! use oracle_core::secret::{Secret, SecretUrl, redact_urls};
//!
//! let token = Secret::new("123456:ABCDEF-token");
//! assert_eq!(format!("{token} {token:?}"), "<redacted> Secret(<redacted>)");
//! assert_eq!(token.scrub("GET /bot123456:ABCDEF-token/send", &[]), "GET /bot<redacted>/send");
//!
//! let url = SecretUrl::parse("https://rpc.example.com/v2/KEY123").unwrap();
//! assert_eq!(url.to_string(), "https://rpc.example.com");
//! assert_eq!(url.scrub("Cannot POST /v2/KEY123"), "Cannot POST <redacted>");
//!
//! assert_eq!(redact_urls("error for url (https://h.example/v2/KEY): refused"), "error for url (https://h.example): refused");
//! ```

use std::fmt;

use zeroize::Zeroizing;

/// What a secret prints as, and what replaces it in scrubbed text.
pub const REDACTED: &str = "<redacted>";

/// Extra pieces shorter than this are not scrubbed: they would redact ordinary words (a
/// secret's own full value is always scrubbed, whatever its length).
const MIN_PIECE_CHARS: usize = 8;

/// A secret string: zeroed on drop, never printed (`Debug` and `Display` say [`REDACTED`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of the secret (and of its non-trivial `pieces`, such as a
    /// webhook token inside its URL) replaced by [`REDACTED`]: a last line of defence for text
    /// that came from a library's error.
    pub fn scrub(&self, text: &str, pieces: &[&str]) -> String {
        let mut out = if self.is_empty() { text.to_owned() } else { text.replace(self.expose(), REDACTED) };
        for piece in pieces.iter().filter(|p| p.len() >= MIN_PIECE_CHARS) {
            out = out.replace(piece, REDACTED);
        }
        out
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL that may carry credentials: shown as `scheme://host[:port]`, never whole.
///
/// Provider URLs carry API keys in the path, the query or the user info; servers echo the
/// request path in error pages (`Cannot POST /v2/KEY`) with no scheme or host for
/// [`redact_urls`] to recognise, so [`scrub`](Self::scrub) removes those parts too.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    full: Secret,
    /// The URL as `url` serialises it, when that differs from `full` (a trailing `/` added).
    normalized: Option<Secret>,
    shown: String,
    /// The URL's secret parts: path (when more than `/`), query, user name, password, and any
    /// added with [`with_secret`](Self::with_secret).
    pieces: Vec<Secret>,
}

impl SecretUrl {
    /// Parses `text` (trimmed). The error never repeats the URL.
    pub fn parse(text: &str) -> Result<Self, url::ParseError> {
        let text = text.trim();
        let mut url = Self::from_url(url::Url::parse(text)?);
        if url.full.expose() != text {
            url.normalized = Some(std::mem::replace(&mut url.full, Secret::new(text)));
        }
        Ok(url)
    }

    /// Wraps a parsed URL.
    pub fn from_url(url: url::Url) -> Self {
        let shown = redact_url(&url);
        let pieces = [
            Some(url.path()).filter(|p| p.len() > 1),
            url.query(),
            Some(url.username()).filter(|u| !u.is_empty()),
            url.password(),
        ]
        .into_iter()
        .flatten()
        .map(Secret::new)
        .collect();
        Self { full: Secret::new(String::from(url)), normalized: None, shown, pieces }
    }

    /// Shows the URL as `shown` instead (say, with a scheme's default port a client adds).
    pub fn with_shown(mut self, shown: impl Into<String>) -> Self {
        self.shown = shown.into();
        self
    }

    /// Scrubs `secret` too (say, a password as a client decoded it from the URL).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        let secret = Secret::new(secret);
        if !secret.is_empty() {
            self.pieces.push(secret);
        }
        self
    }

    /// The full URL as given, secrets included: only for the client that connects.
    pub fn expose(&self) -> &str {
        self.full.expose()
    }

    /// `scheme://host[:port]`, safe to log.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` without this URL's secrets: the URL itself becomes its shown form, its path,
    /// query and user info become [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(self.expose(), &self.shown);
        if let Some(normalized) = &self.normalized {
            out = out.replace(normalized.expose(), &self.shown);
        }
        for piece in &self.pieces {
            out = out.replace(piece.expose(), REDACTED);
        }
        out
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.shown)
    }
}

/// `scheme://host[:port]` of `url`: what is safe to show of it.
pub fn redact_url(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Replaces every `http(s)://…` URL in `text` by its redacted form (scheme, host and port);
/// one that does not parse becomes `<url>`.
///
/// Transport errors (reqwest's among them) quote the full request URL, key included.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("http://").into_iter().chain(rest.find("https://")).min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | ',' | '>'))
            .unwrap_or(tail.len());
        match url::Url::parse(&tail[..end]) {
            Ok(url) if url.host_str().is_some() => out.push_str(&redact_url(&url)),
            _ => out.push_str("<url>"),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("123456:ABCDEF-token");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.scrub("url /bot123456:ABCDEF-token/sendMessage", &[]), "url /bot<redacted>/sendMessage");
        assert_eq!(s.scrub("a b", &["b"]), "a b", "short pieces are left alone");
        assert_eq!(Secret::new("pw").scrub("the pw", &[]), "the <redacted>", "the secret itself always goes");
        assert_eq!(Secret::new("").scrub("text", &[]), "text");
    }

    #[test]
    fn urls_display_without_secrets() {
        let url =
            SecretUrl::parse("https://user:pass@base-mainnet.example.com/v2/SECRETKEY?key=abc").unwrap();
        assert_eq!(url.to_string(), "https://base-mainnet.example.com");
        assert!(!format!("{url:?}").contains("SECRET"));
        assert_eq!(SecretUrl::parse("http://127.0.0.1:8545").unwrap().to_string(), "http://127.0.0.1:8545");
    }

    #[test]
    fn echoed_paths_and_queries_are_scrubbed() {
        let url = SecretUrl::parse("https://u:PASS@rpc.example.com/v2/SECRETKEY?key=QUERYKEY").unwrap();
        let page = "Cannot POST /v2/SECRETKEY (key=QUERYKEY) at https://u:PASS@rpc.example.com/v2/SECRETKEY?key=QUERYKEY";
        let scrubbed = url.scrub(page);
        for secret in ["SECRETKEY", "QUERYKEY", "PASS"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(scrubbed.contains("https://rpc.example.com"), "{scrubbed}");
        // A bare root path is not a secret: slashes in the text are left alone.
        assert_eq!(SecretUrl::parse("http://127.0.0.1:8545").unwrap().scrub("a/b"), "a/b");
        let decoded = SecretUrl::parse("redis://:p%40ss@h:1").unwrap().with_secret("p@ss");
        assert_eq!(decoded.scrub("auth p@ss failed"), "auth <redacted> failed");
    }

    #[test]
    fn transport_messages_lose_their_keys() {
        let msg = "error sending request for url (https://base.example.com/v2/KEY123): connection refused";
        assert_eq!(
            redact_urls(msg),
            "error sending request for url (https://base.example.com): connection refused"
        );
        assert_eq!(redact_urls("a http://h:1/x?k=KEY b https://g/KEY"), "a http://h:1 b https://g");
        assert_eq!(redact_urls("no urls here"), "no urls here");
        assert_eq!(redact_urls("bad http://"), "bad <url>");
    }
}
