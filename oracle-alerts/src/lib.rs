//! Alerters for oracle-updater: Telegram (teloxide) and Discord (serenity) implementations of
//! [`oracle_core::Alerter`], and the deduplicating, rate-limiting layer that wraps any alerter.
//!
//! This release has no channel yet: alerts go to the log through [`oracle_core::LogAlerter`],
//! re-exported here. The engine already raises each condition once and sends a recovery message
//! when it clears.
//!
//! ```
//! use oracle_alerts::{Alerter, LogAlerter};
//! assert_eq!(LogAlerter.name(), "log");
//! ```

pub use oracle_core::{Alert, AlertError, Alerter, LogAlerter, Severity};
