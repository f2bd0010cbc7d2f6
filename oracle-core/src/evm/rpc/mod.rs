//! Connecting to a chain's JSON-RPC endpoints, with timeouts and failover, without leaking keys
//! in URLs.

mod failover;

pub use self::failover::{EndpointStats, FailoverConfig, FailoverTransport};

use std::{fmt, time::Duration};

use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::client::RpcClient,
    transports::http::{Http, reqwest},
};

use super::EvmError;

/// An RPC URL that displays without its secrets.
///
/// Provider URLs carry API keys in the path, the query or the user info; `Display` and `Debug`
/// show only the scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcUrl(url::Url);

impl RpcUrl {
    /// Parses an `http`/`https` URL; the error never repeats the URL itself.
    pub fn parse(text: &str) -> Result<Self, EvmError> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| EvmError::Config(format!("not a valid RPC URL ({e})")))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(EvmError::Config(format!(
                    "RPC URL scheme {other:?} is not supported: use http:// or https://"
                )));
            }
        }
        if url.host_str().is_none() {
            return Err(EvmError::Config("RPC URL has no host".into()));
        }
        Ok(Self(url))
    }

    /// The full URL, secrets included: only for the transport.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.host_str().unwrap_or("?");
        match self.0.port() {
            Some(port) => write!(f, "{}://{host}:{port}", self.0.scheme()),
            None => write!(f, "{}://{host}", self.0.scheme()),
        }
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
        .map_err(|e| EvmError::Config(format!("cannot build the HTTP client: {e}")))?;
    let is_local = url.0.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127."));
    let rpc = RpcClient::new(Http::with_client(client, url.0.clone()), is_local);
    Ok(ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased())
}

/// Connects a read-only provider over `urls` (in preference order) through a
/// [`FailoverTransport`]; returns the transport too, for its counters.
pub fn connect_failover(
    urls: &[RpcUrl],
    config: FailoverConfig,
) -> Result<(DynProvider, FailoverTransport), EvmError> {
    let is_local =
        urls.iter().all(|u| u.0.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127.")));
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
}

/// Replaces every `http(s)://…` URL in `text` by its redacted form (scheme, host and port).
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
        match RpcUrl::parse(&tail[..end]) {
            Ok(url) => out.push_str(&url.to_string()),
            Err(_) => out.push_str("<url>"),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod redact_tests {
    use super::*;

    #[test]
    fn transport_messages_lose_their_keys() {
        let msg = "error sending request for url (https://base.example.com/v2/KEY123): connection refused";
        assert_eq!(
            redact_urls(msg),
            "error sending request for url (https://base.example.com): connection refused"
        );
        assert_eq!(redact_urls("a http://h:1/x?k=KEY b https://g/KEY"), "a http://h:1 b https://g");
        assert_eq!(redact_urls("no urls here"), "no urls here");
    }
}
