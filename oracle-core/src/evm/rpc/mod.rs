//! Connecting to a chain's JSON-RPC endpoints, with timeouts and failover, without leaking keys
//! in URLs.

mod answer;
mod coalesce;
mod failover;
mod http;

pub(crate) use self::http::{endpoint_refusal, one_line};
pub use self::{
    coalesce::{DEFAULT_COALESCE_WINDOW, DEFAULT_MAX_BATCH},
    failover::{EndpointStats, FailoverConfig, FailoverTransport, describe_metrics},
    http::{MAX_ANSWER_BYTES, NotJsonRpc},
};

use std::{fmt, time::Duration};

use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::client::RpcClient,
    transports::http::reqwest,
};

use super::EvmError;
use crate::secret::SecretUrl;

/// An RPC URL that displays without its secrets.
///
/// Provider URLs carry API keys in the path, the query or the user info; `Display` and `Debug`
/// show only the scheme, host and port (the redaction is [`crate::secret::SecretUrl`]'s).
#[derive(Clone, PartialEq, Eq)]
pub struct RpcUrl {
    url: url::Url,
    secret: SecretUrl,
}

impl RpcUrl {
    /// Parses an `http`/`https` URL; the error never repeats the URL itself.
    pub fn parse(text: &str) -> Result<Self, EvmError> {
        let url = url::Url::parse(text.trim()).map_err(EvmError::RpcUrlSyntax)?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(EvmError::RpcUrlScheme { scheme: other.to_owned() }),
        }
        if url.host_str().is_none() {
            return Err(EvmError::RpcUrlNoHost);
        }
        Ok(Self { secret: SecretUrl::from_url(url.clone()), url })
    }

    /// The full URL, secrets included: only for the transport.
    pub fn expose(&self) -> &url::Url {
        &self.url
    }

    /// `text` without this URL's secret parts: the URL itself, its path, query and user info.
    ///
    /// Servers echo the request path in error pages (`Cannot POST /v2/KEY`), with no scheme
    /// or host for [`redact_urls`](crate::secret::redact_urls) to recognise.
    pub fn scrub(&self, text: &str) -> String {
        self.secret.scrub(text)
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.secret, f)
    }
}

impl fmt::Debug for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpcUrl({self})")
    }
}

/// Connects a read-only provider to `url` with a per-request `timeout`.
///
/// No fillers and no wallet: the submitter sets every transaction field itself and signs
/// explicitly, so nothing is filled or sent behind its back.
pub fn connect(url: &RpcUrl, timeout: Duration) -> Result<DynProvider, EvmError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| EvmError::HttpClient { reason: e.to_string() })?;
    let is_local = url.url.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127."));
    let rpc = RpcClient::new(http::EndpointTransport(http::HttpEndpoint::new(url.clone(), client)), is_local);
    Ok(ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased())
}

/// Connects a read-only provider over `urls` (in preference order) through a
/// [`FailoverTransport`]; returns the transport too, for its counters.
pub fn connect_failover(
    urls: &[RpcUrl],
    config: FailoverConfig,
) -> Result<(DynProvider, FailoverTransport), EvmError> {
    let is_local =
        urls.iter().all(|u| u.url.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127.")));
    let transport = FailoverTransport::new(urls, config)?;
    let rpc = RpcClient::new(transport.clone(), is_local);
    Ok((ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased(), transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_display_without_secrets() {
        let url = RpcUrl::parse("https://user:pass@base-mainnet.example.com/v2/SECRETKEY?key=abc").unwrap();
        assert_eq!(url.to_string(), "https://base-mainnet.example.com");
        assert!(!format!("{url:?}").contains("SECRET"));
        assert_eq!(RpcUrl::parse("http://127.0.0.1:8545").unwrap().to_string(), "http://127.0.0.1:8545");
        let err = RpcUrl::parse("ws://x/SECRET").unwrap_err().to_string();
        assert!(err.contains("scheme") && !err.contains("SECRET"), "{err}");
        assert!(RpcUrl::parse("not a url SECRET").unwrap_err().to_string().contains("not a valid RPC URL"));
    }

    #[test]
    fn echoed_paths_and_queries_are_scrubbed() {
        // The redaction itself is tested with `crate::secret`; this checks RpcUrl uses it.
        let url = RpcUrl::parse("https://u:PASS@rpc.example.com/v2/SECRETKEY?key=QUERYKEY").unwrap();
        let scrubbed = url
            .scrub("Cannot POST /v2/SECRETKEY at https://u:PASS@rpc.example.com/v2/SECRETKEY?key=QUERYKEY");
        assert_eq!(scrubbed, "Cannot POST <redacted> at https://rpc.example.com");
    }
}
