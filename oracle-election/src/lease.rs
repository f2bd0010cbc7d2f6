//! [`LeaseConfig`]: how long a lease lasts, how often the leader renews it, and how long the leader
//! keeps acting without a successful renewal.

use std::time::Duration;

use oracle_core::ElectionError;

/// The timing of leadership, after Kubernetes' leader election.
///
/// - `duration`: how long a lease lasts on the backend after its last renewal. Other bots take
///   over only after that.
/// - `renew_interval`: how often the leader renews (and how often it retries a failed renewal).
/// - `renew_deadline`: how long after the *start* of its last successful renewal the leader still
///   acts. It is shorter than `duration`, so a leader that cannot renew stops acting before
///   anyone else can take over.
///
/// Valid when `0 < renew_interval < renew_deadline < duration`.
///
/// ```
/// use std::time::Duration;
/// use oracle_election::LeaseConfig;
///
/// let lease = LeaseConfig::builder()
///     .duration(Duration::from_millis(1500))
///     .renew_interval(Duration::from_millis(200))
///     .renew_deadline(Duration::from_secs(1))
///     .build()?;
/// assert_eq!(lease.duration(), Duration::from_millis(1500));
///
/// let err = LeaseConfig::new(Duration::from_secs(5), Duration::from_secs(2), Duration::from_secs(10));
/// assert!(err.unwrap_err().to_string().contains("renew deadline"));
/// # Ok::<(), oracle_election::ElectionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    duration: Duration,
    renew_interval: Duration,
    renew_deadline: Duration,
}

impl LeaseConfig {
    /// The default lease duration: 15 s.
    pub const DEFAULT_DURATION: Duration = Duration::from_secs(15);
    /// The default renew interval: 2 s.
    pub const DEFAULT_RENEW_INTERVAL: Duration = Duration::from_secs(2);
    /// The default renew deadline: 10 s.
    pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);

    /// A validated configuration.
    pub fn new(
        duration: Duration,
        renew_interval: Duration,
        renew_deadline: Duration,
    ) -> Result<Self, ElectionError> {
        let config = Self { duration, renew_interval, renew_deadline };
        config.validate()?;
        Ok(config)
    }

    /// A builder starting from the defaults (15 s, 2 s, 10 s).
    pub fn builder() -> LeaseConfigBuilder {
        LeaseConfigBuilder { config: Self::default() }
    }

    /// How long a lease lasts on the backend after its last renewal.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How often the leader renews.
    pub fn renew_interval(&self) -> Duration {
        self.renew_interval
    }

    /// How long after the start of its last successful renewal the leader still acts.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    fn validate(&self) -> Result<(), ElectionError> {
        let fail = |msg: String| Err(ElectionError::Config(msg));
        for (name, value) in [
            ("lease duration", self.duration),
            ("renew interval", self.renew_interval),
            ("renew deadline", self.renew_deadline),
        ] {
            if value.is_zero() {
                return fail(format!("the {name} must be above zero"));
            }
        }
        if self.renew_interval >= self.renew_deadline {
            return fail(format!(
                "the renew interval ({:?}) must be shorter than the renew deadline ({:?})",
                self.renew_interval, self.renew_deadline
            ));
        }
        if self.renew_deadline >= self.duration {
            return fail(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?}), so a leader \
                 stops acting before anyone else can take over",
                self.renew_deadline, self.duration
            ));
        }
        if self.duration.as_millis() > u128::from(u32::MAX) {
            return fail(format!("the lease duration ({:?}) is too long", self.duration));
        }
        Ok(())
    }

    /// How much validity an engine should require of the term before each step that acts
    /// ([`oracle_core::EngineBuilder::lease_margin`]): half of what remains of the renew deadline
    /// after one renew interval, and at most 2 s. With the defaults (15 s, 2 s, 10 s): 2 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use oracle_election::LeaseConfig;
    /// assert_eq!(LeaseConfig::default().action_margin(), Duration::from_secs(2));
    /// let short = LeaseConfig::new(Duration::from_millis(1500), Duration::from_millis(200), Duration::from_secs(1))?;
    /// assert_eq!(short.action_margin(), Duration::from_millis(400));
    /// # Ok::<(), oracle_election::ElectionError>(())
    /// ```
    pub fn action_margin(&self) -> Duration {
        let room = self.renew_deadline.saturating_sub(self.renew_interval) / 2;
        room.min(Duration::from_secs(2))
    }

    /// The lease duration in whole milliseconds (validated to fit).
    pub(crate) fn duration_ms(&self) -> u64 {
        u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            duration: Self::DEFAULT_DURATION,
            renew_interval: Self::DEFAULT_RENEW_INTERVAL,
            renew_deadline: Self::DEFAULT_RENEW_DEADLINE,
        }
    }
}

/// Builds a [`LeaseConfig`]; [`build`](LeaseConfigBuilder::build) validates it.
#[derive(Debug, Clone)]
pub struct LeaseConfigBuilder {
    config: LeaseConfig,
}

impl LeaseConfigBuilder {
    /// The lease duration (default 15 s).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.config.duration = duration;
        self
    }

    /// The renew interval (default 2 s).
    pub fn renew_interval(mut self, interval: Duration) -> Self {
        self.config.renew_interval = interval;
        self
    }

    /// The renew deadline (default 10 s).
    pub fn renew_deadline(mut self, deadline: Duration) -> Self {
        self.config.renew_deadline = deadline;
        self
    }

    /// Validates: every value above zero and `renew_interval < renew_deadline < duration`.
    pub fn build(self) -> Result<LeaseConfig, ElectionError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn defaults_are_valid() {
        let d = LeaseConfig::default();
        assert_eq!(LeaseConfig::builder().build().unwrap(), d);
        assert_eq!(
            (d.duration(), d.renew_interval(), d.renew_deadline()),
            (ms(15_000), ms(2_000), ms(10_000))
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            ((0, 1, 2), "lease duration must be above zero"),
            ((3, 0, 2), "renew interval must be above zero"),
            ((3, 1, 0), "renew deadline must be above zero"),
            ((3, 2, 2), "renew interval (2ms) must be shorter than the renew deadline (2ms)"),
            ((3, 1, 3), "renew deadline (3ms) must be shorter than the lease duration (3ms)"),
        ];
        for ((d, i, dl), msg) in cases {
            let err = LeaseConfig::new(ms(d), ms(i), ms(dl)).unwrap_err();
            assert!(err.to_string().contains(msg), "{err} should contain {msg}");
            assert!(matches!(err, ElectionError::Config(_)));
        }
        assert!(LeaseConfig::new(ms(3), ms(1), ms(2)).is_ok());
    }
}
