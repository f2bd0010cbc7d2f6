//! One JSON-RPC endpoint over HTTP, and how its answers are judged.
//!
//! Why not alloy's `Http` transport: when an endpoint answers something that is not JSON-RPC (a
//! web server's HTML page, a proxy's error page), it puts the whole body into the error, which
//! then ends up, dozens of lines long, in the log and in the bot's exit message. Here such an
//! answer becomes a [`NotJsonRpc`] error: the endpoint (redacted), the HTTP status, the content
//! type and a one-line excerpt.
//!
//! [`endpoint_refusal`] tells apart JSON-RPC errors that mean "this endpoint cannot serve you now"
//! (rate limited, not synced, method missing) from real answers about the request (a revert, a
//! refused transaction), so the failover transport can move reads to the next endpoint.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use alloy::{
    rpc::json_rpc::{ErrorPayload, RequestPacket, ResponsePacket},
    transports::{TransportError, TransportErrorKind, TransportFut, http::reqwest},
};
use tower::Service;

use super::{
    RpcUrl,
    answer::{ChainPin, Memory, check},
};
use crate::SubmitError;

/// The most characters of a body quoted in an error.
const EXCERPT_CHARS: usize = 80;

/// The largest answer body read, in bytes. The calls this project makes answer a few kilobytes
/// (a block without its transactions, a receipt, a batch of reads); an endpoint that sends more
/// is refused before the rest is read, so memory stays bounded whatever it sends.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// The most characters of a content type quoted in an error (a header is outside input too).
const CONTENT_TYPE_CHARS: usize = 60;

/// Collapses every run of whitespace (newlines included) into one space, drops other control
/// characters, and keeps at most `max` characters, marking a cut with `…`.
///
/// Error messages and log lines stay one short line whatever a server sends.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut taken = 0usize;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if taken.saturating_add(needed) > max {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        taken = taken.saturating_add(needed);
    }
    out
}

/// An endpoint answered something that is not a JSON-RPC response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJsonRpc {
    /// The endpoint, redacted (scheme, host and port).
    pub endpoint: String,
    /// The HTTP status.
    pub status: u16,
    /// The content type it declared, if any (one line, shortened).
    pub content_type: Option<String>,
    /// The body's first characters on one line, with the URL's secret parts removed.
    pub excerpt: String,
}

impl fmt::Display for NotJsonRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered HTTP {}", self.endpoint, self.status)?;
        if let Some(ct) = &self.content_type {
            write!(f, " ({ct})")?;
        }
        if self.excerpt.is_empty() {
            write!(f, " with an empty body instead of a JSON-RPC response")
        } else {
            // Plain quotes: the excerpt is one line already, and HTML is full of `"` that
            // escaping would clutter.
            write!(f, " instead of a JSON-RPC response: \"{}\"", self.excerpt)
        }
    }
}

impl std::error::Error for NotJsonRpc {}

/// Why a JSON-RPC error answer means the endpoint cannot serve the request, rather than being
/// the node's real answer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Rate limited or over a quota.
    RateLimited,
    /// The node does not have the block or state asked for (behind, or pruned).
    NotSynced,
    /// The node does not offer the method.
    MethodMissing,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RateLimited => "rate limited",
            Self::NotSynced => "missing the block or state",
            Self::MethodMissing => "method not available",
        })
    }
}

/// Classifies a JSON-RPC error answer: `Some` when it says the endpoint cannot serve the request
/// now (another endpoint may), `None` when it is a real answer about the request itself.
///
/// A revert (code 3, "execution reverted") and a refused transaction (nonce, fee, funds: what
/// [`SubmitError::from_node_message`] recognises) are real answers: another endpoint would say
/// the same, and for a broadcast, asking again could send it twice.
pub(crate) fn endpoint_refusal<E>(err: &ErrorPayload<E>) -> Option<Refusal> {
    let m = err.message.to_ascii_lowercase();
    if err.code == 3 || m.contains("revert") {
        return None;
    }
    if !matches!(SubmitError::from_node_message(&err.message), SubmitError::Refused { .. }) {
        return None;
    }
    // -32005 is EIP-1474's "limit exceeded"; -32029 and 429 are providers' rate-limit codes.
    let rate_limited = matches!(err.code, -32005 | -32029 | 429)
        || ["rate limit", "rate-limit", "ratelimit", "too many requests", "quota"].iter().any(|s| m.contains(s))
        // "exceeded" is how providers word quotas ("daily request count exceeded", "compute units
        // per second capacity exceeded"); gas messages ("gas required exceeds ...") are answers.
        || (m.contains("exceeded") && !m.contains("gas"));
    if rate_limited {
        return Some(Refusal::RateLimited);
    }
    if ["header not found", "unknown block", "missing trie node"].iter().any(|s| m.contains(s)) {
        return Some(Refusal::NotSynced);
    }
    if err.code == -32601 || m.contains("method not found") || m.contains("does not exist/is not available") {
        return Some(Refusal::MethodMissing);
    }
    None
}

/// The first error of `packet` that makes the endpoint unusable for it, described on one line.
pub(crate) fn packet_refusal(packet: &ResponsePacket) -> Option<String> {
    packet.iter_errors().find_map(|e| {
        endpoint_refusal(e).map(|why| {
            format!("{why}: JSON-RPC error {}: \"{}\"", e.code, one_line(&e.message, EXCERPT_CHARS))
        })
    })
}

/// One HTTP endpoint: posts JSON-RPC packets and turns whatever comes back into a response or
/// a short, secret-free error.
#[derive(Clone)]
pub(crate) struct HttpEndpoint {
    url: RpcUrl,
    client: reqwest::Client,
    /// What this endpoint answered before.
    memory: Arc<Memory>,
    /// The chain id its answers must carry (shared by the endpoints of one transport).
    chain: Arc<ChainPin>,
}

impl fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEndpoint").field("url", &self.url).finish_non_exhaustive()
    }
}

impl HttpEndpoint {
    pub(crate) fn new(url: RpcUrl, client: reqwest::Client) -> Self {
        Self::with_chain(url, client, Arc::new(ChainPin::new(None)))
    }

    /// An endpoint whose chain id answers must agree with `chain`.
    pub(crate) fn with_chain(url: RpcUrl, client: reqwest::Client, chain: Arc<ChainPin>) -> Self {
        Self { url, client, memory: Arc::default(), chain }
    }

    /// An error naming this endpoint (redacted) and what is wrong with its answer.
    fn bad_answer(&self, what: &str) -> TransportError {
        TransportErrorKind::custom_str(&format!("{} {}", self.url, self.url.scrub(what)))
    }

    /// The body, refused past [`MAX_ANSWER_BYTES`] (by its declared length or as it arrives).
    async fn body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, TransportError> {
        if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
            return Err(self.bad_answer(&format!(
                "declared an answer of {} bytes, more than the {MAX_ANSWER_BYTES} accepted",
                response.content_length().unwrap_or_default()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(TransportErrorKind::custom)? {
            if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                return Err(self.bad_answer(&format!("sent an answer of more than {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Posts `request` and reads the answer.
    ///
    /// A JSON-RPC error object is an answer even under an HTTP error status (rate limiters
    /// answer 429 with one), as alloy's own transport treats it. Anything else that is not
    /// JSON-RPC is a [`NotJsonRpc`] error.
    pub(crate) async fn send(&self, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        // The reqwest error names the full URL; callers redact it before it is shown
        // (`redact_urls`), and `is_connect` needs the reqwest error itself as the source.
        let mark = self.memory.mark();
        let response = self
            .client
            .post(self.url.expose().clone())
            .json(&request)
            .headers(request.headers())
            .send()
            .await
            .map_err(TransportErrorKind::custom)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| one_line(v, CONTENT_TYPE_CHARS));
        let body = self.body(response).await?;
        match serde_json::from_slice::<ResponsePacket>(&body) {
            Ok(packet) if status.is_success() || packet.is_error() => {
                check(&request, &packet, &self.memory, mark, &self.chain).map_err(|e| self.bad_answer(&e))?;
                Ok(packet)
            }
            _ => {
                let text = String::from_utf8_lossy(&body);
                Err(TransportErrorKind::custom(NotJsonRpc {
                    endpoint: self.url.to_string(),
                    status: status.as_u16(),
                    content_type,
                    excerpt: one_line(&self.url.scrub(&text), EXCERPT_CHARS),
                }))
            }
        }
    }
}

/// A transport to one endpoint (what [`connect`](super::connect) uses), with the same short
/// errors as the failover transport.
#[derive(Clone, Debug)]
pub(crate) struct EndpointTransport(pub(crate) HttpEndpoint);

impl Service<RequestPacket> for EndpointTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let endpoint = self.0.clone();
        Box::pin(async move { endpoint.send(request).await })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn err(code: i64, message: &'static str) -> ErrorPayload {
        ErrorPayload { code, message: Cow::Borrowed(message), data: None }
    }

    #[test]
    fn pages_become_one_short_line() {
        let page = "<!DOCTYPE html>\n<html>\n  <head>\n\t<title>Welcome   to nginx!</title>\r\n</head>\n";
        assert_eq!(
            one_line(page, 80),
            "<!DOCTYPE html> <html> <head> <title>Welcome to nginx!</title> </head>"
        );
        let cut = one_line(&"x".repeat(200), 80);
        assert_eq!(cut.chars().count(), 81, "80 characters and the mark: {cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("  \n ", 80), "");
        assert_eq!(one_line("a\u{7}b", 80), "ab", "control characters are dropped");
        assert_eq!(one_line("ééé", 2), "éé…", "cut on characters, not bytes");
    }

    #[test]
    fn not_json_rpc_names_the_endpoint_status_and_type() {
        let e = NotJsonRpc {
            endpoint: "http://127.0.0.1:1".into(),
            status: 200,
            content_type: Some("text/html".into()),
            excerpt: "<html>".into(),
        };
        assert_eq!(
            e.to_string(),
            "http://127.0.0.1:1 answered HTTP 200 (text/html) instead of a JSON-RPC response: \"<html>\""
        );
        let e = NotJsonRpc { content_type: None, excerpt: String::new(), ..e };
        assert_eq!(
            e.to_string(),
            "http://127.0.0.1:1 answered HTTP 200 with an empty body instead of a JSON-RPC response"
        );
    }

    /// Messages as providers and nodes send them (Infura, Alchemy, QuickNode, geth, anvil).
    #[test]
    fn unusable_endpoints_are_told_from_real_answers() {
        let cases: &[(i64, &str, Option<Refusal>)] = &[
            (-32005, "limit exceeded", Some(Refusal::RateLimited)),
            (-32029, "rate limited", Some(Refusal::RateLimited)),
            (429, "Too Many Requests", Some(Refusal::RateLimited)),
            (-32000, "daily request count exceeded, request rate limited", Some(Refusal::RateLimited)),
            (
                -32000,
                "Your app has exceeded its compute units per second capacity",
                Some(Refusal::RateLimited),
            ),
            (-32000, "header not found", Some(Refusal::NotSynced)),
            (-32000, "unknown block", Some(Refusal::NotSynced)),
            (
                -32601,
                "the method eth_maxPriorityFeePerGas does not exist/is not available",
                Some(Refusal::MethodMissing),
            ),
            (-32601, "Method not found", Some(Refusal::MethodMissing)),
            (3, "execution reverted: NotAuthorized", None),
            (-32000, "execution reverted", None),
            (-32000, "nonce too low", None),
            (-32000, "replacement transaction underpriced", None),
            (-32000, "insufficient funds for gas * price + value", None),
            (-32000, "max fee per gas less than block base fee", None),
            (-32000, "gas required exceeds allowance (30000000)", None),
            (-32000, "intrinsic gas too low", None),
            (-32602, "invalid argument 0: hex string has length 3", None),
        ];
        for (code, message, expected) in cases {
            assert_eq!(endpoint_refusal(&err(*code, message)), *expected, "{code} {message:?}");
        }
    }
}
