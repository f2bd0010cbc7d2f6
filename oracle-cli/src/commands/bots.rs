//! What each bot says about itself: `/health`, `/ready` (where it exists) and `/metrics`.

use std::time::Duration;

use serde_json::{Value, json};

/// One bot's view.
#[derive(Debug, Clone, Default)]
pub(crate) struct BotView {
    pub(crate) url: String,
    /// `/health`'s status code and JSON.
    pub(crate) health_status: Option<u16>,
    pub(crate) health: Option<Value>,
    /// `/ready`'s status code; `None` when the bot has no `/ready` (404) or did not answer.
    pub(crate) ready_status: Option<u16>,
    /// `oracle_is_leader` from `/metrics`.
    pub(crate) metrics_leader: Option<bool>,
    /// Why the bot could not be read.
    pub(crate) error: Option<String>,
}

impl BotView {
    pub(crate) fn bot_id(&self) -> Option<String> {
        self.health.as_ref()?.get("botId")?.as_str().map(str::to_owned)
    }

    pub(crate) fn is_leader(&self) -> Option<bool> {
        self.health.as_ref().and_then(|h| h.get("isLeader")).and_then(Value::as_bool).or(self.metrics_leader)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "botId": self.bot_id(),
            "healthStatus": self.health_status,
            "health": self.health,
            "readyStatus": self.ready_status,
            "isLeader": self.is_leader(),
            "metricsIsLeader": self.metrics_leader,
            "error": self.error,
        })
    }

    /// A table row: url, bot id, health, ready, leader.
    pub(crate) fn row(&self) -> Vec<String> {
        let health = match (self.health_status, &self.error) {
            (Some(200), _) => "healthy (200)".to_owned(),
            (Some(code), _) => format!("UNHEALTHY ({code})"),
            (None, Some(e)) => format!("unreachable: {e}"),
            (None, None) => "unreachable".to_owned(),
        };
        let ready = match self.ready_status {
            Some(200) => "ready".to_owned(),
            Some(code) => format!("not ready ({code})"),
            None => "n/a".to_owned(),
        };
        let leader = match self.is_leader() {
            Some(true) => "LEADER".to_owned(),
            Some(false) => "follower".to_owned(),
            None => "?".to_owned(),
        };
        vec![self.url.clone(), self.bot_id().unwrap_or_else(|| "?".into()), health, ready, leader]
    }
}

/// The table's headers for [`BotView::row`].
pub(crate) const HEADERS: [&str; 5] = ["bot", "id", "health", "ready", "leads"];

fn client(timeout: Duration) -> Option<reqwest::Client> {
    reqwest::Client::builder().timeout(timeout).build().ok()
}

/// Reads one bot.
pub(crate) async fn probe(url: &str, timeout: Duration) -> BotView {
    let mut view = BotView { url: url.to_owned(), ..BotView::default() };
    let Some(client) = client(timeout) else {
        view.error = Some("cannot build an HTTP client".into());
        return view;
    };
    match client.get(format!("{url}/health")).send().await {
        Ok(resp) => {
            view.health_status = Some(resp.status().as_u16());
            view.health = resp.json::<Value>().await.ok();
        }
        Err(e) => {
            view.error = Some(oracle_core::secret::redact_urls(&without_url(e)));
            return view;
        }
    }
    if let Ok(resp) = client.get(format!("{url}/ready")).send().await
        && resp.status().as_u16() != 404
    {
        view.ready_status = Some(resp.status().as_u16());
    }
    if let Ok(resp) = client.get(format!("{url}/metrics")).send().await
        && let Ok(text) = resp.text().await
    {
        view.metrics_leader = metric(&text, "oracle_is_leader").map(|v| v >= 1.0);
    }
    view
}

/// Reads every bot, in order.
pub(crate) async fn probe_all(urls: &[String], timeout: Duration) -> Vec<BotView> {
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        out.push(probe(url, timeout).await);
    }
    out
}

fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// The first sample of `name` in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        line.rsplit_once(' ')?.1.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_are_read_by_name() {
        let text = "# HELP x\noracle_is_leader_changes 3\noracle_is_leader{bot_id=\"a\"} 1\n";
        assert_eq!(super::metric(text, "oracle_is_leader"), Some(1.0));
        assert_eq!(super::metric(text, "oracle_missing"), None);
    }
}
