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

pub(crate) use crate::parse_api_url as api_url;

/// Runs a chat library's request with no `tracing` subscriber (which also silences `log`
/// records bridged into `tracing`). The libraries record their requests in spans (serenity's
/// `#[instrument]` spans hold the webhook route with its token); whatever they would log inside
/// is dropped, and the outcome comes back as a value that this crate reports without secrets.
pub(crate) async fn quiet<F: Future>(request: F) -> F::Output {
    request.with_subscriber(tracing::subscriber::NoSubscriber::default()).await
}
