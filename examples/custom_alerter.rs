//! A custom `Alerter`: the engine's alerts posted to a Slack-style incoming webhook.
//!
//! `cargo run -p oracle-examples --example custom_alerter`
//!
//! The webhook is a small axum server inside the example that records every message it
//! receives (in real life: `https://hooks.slack.com/services/...`). The engine raises a real
//! alert: the only price source fails three ticks in a row, so the engine raises
//! `update-failed` (threshold set to 3); the source recovers, so the engine sends the resolved
//! message. The example checks that the webhook received both, in that order, and exits
//! non-zero otherwise.
//!
//! The alerter delivers one message and classifies failures into `AlertError`s (rate limited,
//! refused for good, transient). Reminders, per-channel queues, rate limits and retries are not
//! the alerter's job: wrap it in `oracle_alerts::AlertLayer` for those, as the bot does.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use axum::{Json, Router, extract::State, routing::post};
use oracle_core::{
    Alert, AlertError, AlertKind, Alerter, AlwaysLeader, Engine, FeedId, Observation, Price, PriceSource,
    SourceError, engine::AlertRules, test_utils::MemoryTarget,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Posts each alert as `{"text": ...}`, the payload Slack's incoming webhooks take.
struct SlackWebhook {
    url: String,
    client: reqwest::Client,
    timeout: Duration,
}

impl SlackWebhook {
    const CHANNEL: &'static str = "slack";

    fn new(url: String, timeout: Duration) -> Result<Self, Error> {
        Ok(Self { url, client: reqwest::Client::builder().timeout(timeout).build()?, timeout })
    }

    fn text(alert: &Alert) -> String {
        match alert.kind {
            // The engine's recovery says so in its title and how long it lasted in its body.
            AlertKind::Resolved { .. } => {
                format!(":white_check_mark: *{}* (`{}`)\n{}", alert.title, alert.key, alert.body)
            }
            _ => format!(
                ":rotating_light: *[{}] {}* (`{}`)\n{}",
                alert.severity.to_string().to_uppercase(),
                alert.title,
                alert.key,
                alert.body
            ),
        }
    }
}

#[async_trait]
impl Alerter for SlackWebhook {
    fn name(&self) -> &str {
        Self::CHANNEL
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let body = json!({ "text": Self::text(alert) }).to_string();
        let sent =
            self.client.post(&self.url).header("content-type", "application/json").body(body).send().await;
        // The webhook URL is the secret: errors never quote it (reqwest's errors would).
        let response = sent.map_err(|e| {
            if e.is_timeout() {
                AlertError::TimedOut { channel: Self::CHANNEL, after: self.timeout }
            } else {
                AlertError::Delivery { channel: Self::CHANNEL, reason: "cannot reach the webhook".into() }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .map(Duration::from_secs);
        let said = response.text().await.unwrap_or_default();
        let reason = format!("HTTP {status}: {}", said.chars().take(200).collect::<String>());
        Err(match status.as_u16() {
            429 => AlertError::RateLimited { channel: Self::CHANNEL, retry_after },
            // A deleted webhook or a malformed payload: sending again fails the same way.
            400..=499 => AlertError::Rejected { channel: Self::CHANNEL, reason },
            _ => AlertError::Delivery { channel: Self::CHANNEL, reason },
        })
    }
}

/// A price source the example turns off and on.
struct Flaky {
    down: AtomicBool,
}

#[async_trait]
impl PriceSource for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(SourceError::Unreachable {
                source_name: "flaky".into(),
                reason: "connection refused".into(),
            });
        }
        let price = Price::parse("3000", 8).map_err(|e| SourceError::Invalid {
            source_name: "flaky".into(),
            feed: feed.clone(),
            check: "parse",
            detail: e.to_string(),
        })?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), "flaky"))
    }
}

/// The fake Slack: records each payload's text and answers `ok`, as Slack does.
async fn webhook(
    State(received): State<mpsc::UnboundedSender<String>>,
    Json(payload): Json<Value>,
) -> &'static str {
    let text = payload["text"].as_str().unwrap_or("<no text>").to_owned();
    let _ = received.send(text);
    "ok"
}

/// The next message the webhook received, within a bound.
async fn next_message(rx: &mut mpsc::UnboundedReceiver<String>) -> Result<String, Error> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .map_err(|_| "the webhook received nothing within 10 s")?
        .ok_or_else(|| "the webhook server stopped".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (tx, mut received) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/services/T000/B000/XXXX", listener.local_addr()?);
    let app = Router::new().route("/services/T000/B000/XXXX", post(webhook)).with_state(tx);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let source = Arc::new(Flaky { down: AtomicBool::new(true) });
    let engine = Engine::builder()
        .source(FeedId::ETH_USD, source.clone())
        .elector(Arc::new(AlwaysLeader::new("alerting-example")))
        // A target that already holds the source's price, written just now: every healthy tick
        // skips, so the only alerts are the source's.
        .submitter(Arc::new(MemoryTarget::holding(
            FeedId::ETH_USD,
            Price::parse("3000", 8)?,
            SystemTime::now(),
        )))
        .alerter(Arc::new(SlackWebhook::new(url, Duration::from_secs(5))?))
        .alert_rules(AlertRules::default().failure_threshold(3))
        // No retries inside a tick: each tick with the source down is one failed tick.
        .retries(0, Duration::ZERO)
        .build()?;

    for n in 1..=3 {
        let report = engine.tick().await;
        println!("tick {n}, source down: {}", report.outcome.label());
    }
    let raised = next_message(&mut received).await?;
    println!("webhook received:\n{raised}\n");
    if !raised.contains("update-failed") || !raised.contains("[CRITICAL]") {
        return Err(format!("expected the raised update-failed alert, got: {raised}").into());
    }

    source.down.store(false, Ordering::Relaxed);
    let report = engine.tick().await;
    println!("tick 4, source back: {}", report.outcome.label());
    let resolved = next_message(&mut received).await?;
    println!("webhook received:\n{resolved}\n");
    if !resolved.starts_with(":white_check_mark:") || !resolved.contains("update-failed") {
        return Err(format!("expected the resolved update-failed message, got: {resolved}").into());
    }
    if let Ok(extra) = received.try_recv() {
        return Err(format!("one alert and one recovery expected; also received: {extra}").into());
    }
    println!("the webhook received the alert and its recovery");
    Ok(())
}
