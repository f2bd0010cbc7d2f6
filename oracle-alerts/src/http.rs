//! What both network channels share: an HTTP client that never follows redirects, API base URLs,
//! and running a library call with logging switched off.

use std::{future::Future, time::Duration};

use tracing::instrument::WithSubscriber;

use crate::Error;

/// Connecting may take this long; the layer bounds the whole attempt separately.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP client for a chat API. Redirects are refused: the request URL carries the bot token
/// or the webhook token, and a redirect would hand it to another host (and make the HTTP
/// library log it).
pub(crate) fn client(channel: &'static str) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| Error::HttpClient { channel, reason: e.without_url().to_string() })
}

/// An API base URL: `http(s)://host[:port][/path]`, without credentials, query or fragment (it
/// is printed in `Debug` output and logs, so it must not be able to carry a secret).
pub(crate) fn api_url(what: &'static str, text: &str) -> Result<url::Url, Error> {
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

/// Runs a chat library's request with no `tracing` subscriber (which also silences `log`
/// records bridged into `tracing`). The libraries record their requests in spans (serenity's
/// `#[instrument]` spans hold the webhook route with its token); whatever they would log inside
/// is dropped, and the outcome comes back as a value that this crate reports without secrets.
pub(crate) async fn quiet<F: Future>(request: F) -> F::Output {
    request.with_subscriber(tracing::subscriber::NoSubscriber::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_carry_no_secrets() {
        assert!(api_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(api_url("x", "https://proxy.example/telegram/").is_ok());
        for bad in ["ftp://h", "http://user:pw@h", "http://h/?key=1", "nonsense"] {
            assert!(api_url("x", bad).is_err(), "{bad}");
        }
    }
}
