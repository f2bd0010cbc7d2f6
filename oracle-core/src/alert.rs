//! The [`Alerter`] trait and a logging alerter.

use std::{fmt, time::SystemTime};

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

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// How urgent.
    pub severity: Severity,
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
    /// An alert raised now.
    pub fn new(
        severity: Severity,
        key: impl Into<String>,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self { severity, key: key.into(), title: title.into(), body: body.into(), at: SystemTime::now() }
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
        let Alert { severity, key, title, body, .. } = alert;
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
