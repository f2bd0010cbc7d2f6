//! The [`Alerter`] trait and a logging alerter.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record: a recovery, a leadership change.
    Info,
    /// Needs a look soon: a large move flagged for review, a low balance.
    Warning,
    /// Needs action: updates failing, prices going stale.
    Error,
    /// Needs action now: no more updates can be paid for.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        })
    }
}

/// What an alert says about its condition: that it holds, that it cleared, or neither.
///
/// Layers that remind, rate-limit and route (`oracle-alerts`) read this instead of guessing from
/// titles: a condition stays open until its recovery, a recovery is always delivered, an event is
/// sent once and forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertKind {
    /// A condition that now holds and stays open until an alert with the same key and
    /// [`AlertKind::Resolved`] arrives.
    Raised,
    /// The condition with this key cleared.
    Resolved {
        /// The severity the condition was raised with, so a recovery goes where its alert went.
        was: Severity,
        /// How long the condition lasted, when known.
        lasted: Option<Duration>,
    },
    /// A one-off event with no recovery (a large move, an RPC failover, a leadership change).
    Event,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// How urgent.
    pub severity: Severity,
    /// Whether it raises a condition, resolves one, or reports an event.
    pub kind: AlertKind,
    /// A stable key for the condition (`update-failed`, `balance-low`): alerts with the same key
    /// describe the same condition, which is what deduplication and recovery messages use.
    pub key: String,
    /// One line.
    pub title: String,
    /// The details, with numbers.
    pub body: String,
    /// When the condition was seen.
    pub at: SystemTime,
}

impl Alert {
    /// A condition raised now ([`AlertKind::Raised`]).
    pub fn new(
        severity: Severity,
        key: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            kind: AlertKind::Raised,
            key: key.into(),
            title: title.into(),
            body: body.into(),
            at: SystemTime::now(),
        }
    }

    /// A one-off event now ([`AlertKind::Event`]): no recovery follows.
    pub fn event(
        severity: Severity,
        key: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self { kind: AlertKind::Event, ..Self::new(severity, key, title, body) }
    }

    /// The recovery of the condition `key`, raised with severity `was`, which lasted `lasted`
    /// (severity [`Severity::Info`]).
    pub fn resolved(
        key: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
        was: Severity,
        lasted: Option<Duration>,
    ) -> Self {
        Self { kind: AlertKind::Resolved { was, lasted }, ..Self::new(Severity::Info, key, title, body) }
    }

    /// Whether this is a recovery.
    pub fn is_recovery(&self) -> bool {
        matches!(self.kind, AlertKind::Resolved { .. })
    }

    /// The severity that decides where the alert goes and how hard it is kept: a recovery counts
    /// as the condition it resolves (a critical condition's recovery goes where the critical
    /// alert went).
    pub fn routing_severity(&self) -> Severity {
        match self.kind {
            AlertKind::Resolved { was, .. } => was.max(self.severity),
            AlertKind::Raised | AlertKind::Event => self.severity,
        }
    }
}

/// `3725 s` as `1h 2m 5s`; `0 s` as `0s`. For "how long it lasted" in messages.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// Why an alert could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The channel could not be reached or refused the message; it may work later.
    #[error("{channel}: delivery failed: {reason}")]
    Delivery {
        /// The channel (`telegram`, `discord`).
        channel: &'static str,
        /// What went wrong, without tokens or webhook URLs.
        reason: String,
    },
    /// The channel is misconfigured.
    #[error("{channel}: configuration: {reason}")]
    Config {
        /// The channel.
        channel: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The platform asked to slow down (Telegram's `retry_after`, Discord's 429).
    #[error("{channel}: rate limited{}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited {
        /// The channel.
        channel: &'static str,
        /// How long the platform asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The platform refused the message for good (a wrong chat, a deleted webhook, a malformed
    /// message): sending it again would fail the same way.
    #[error("{channel}: refused: {reason}")]
    Rejected {
        /// The channel.
        channel: &'static str,
        /// What the platform said, without tokens or webhook URLs.
        reason: String,
    },
    /// One delivery attempt ran past its limit.
    #[error("{channel}: no answer within {after:?}")]
    TimedOut {
        /// The channel.
        channel: &'static str,
        /// The limit.
        after: Duration,
    },
}

impl AlertError {
    /// Whether a later attempt may succeed: unreachable, rate limited, timed out.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Delivery { .. } | Self::RateLimited { .. } | Self::TimedOut { .. })
    }

    /// How long the platform asked to wait before the next attempt, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Delivers alerts to a channel. Deduplication and rate limits wrap an alerter rather than living
/// inside each one.
#[async_trait]
pub trait Alerter: Send + Sync {
    /// The channel's name, for logs.
    fn name(&self) -> &str;

    /// Sends one alert.
    async fn send(&self, alert: &Alert) -> Result<(), AlertError>;
}

/// Writes alerts to the log (`tracing`), at a level matching their severity.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAlerter;

#[async_trait]
impl Alerter for LogAlerter {
    fn name(&self) -> &str {
        "log"
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let Alert { severity, key, title, body, kind, .. } = alert;
        if let AlertKind::Resolved { lasted: Some(lasted), .. } = kind {
            let lasted = format_duration(*lasted);
            tracing::info!(%key, %body, %lasted, "ALERT {title}");
            return Ok(());
        }
        match severity {
            Severity::Info => tracing::info!(%key, %body, "ALERT {title}"),
            Severity::Warning => tracing::warn!(%key, %body, "ALERT {title}"),
            Severity::Error | Severity::Critical => {
                tracing::error!(%severity, %key, %body, "ALERT {title}")
            }
        }
        Ok(())
    }
}
