//! [`BootInstant`]: the clock lease deadlines are measured on.
//!
//! Why not [`std::time::Instant`]: on Linux it reads `CLOCK_MONOTONIC`, which stops while the
//! machine is suspended (a laptop lid, a paused or live-migrated VM). A leader whose VM was
//! suspended for a minute would wake up believing its lease still has the seconds it had before
//! the pause, while the coordination server expired it long ago and another bot took over.
//! `CLOCK_BOOTTIME` keeps counting through a suspend, so the resumed leader sees its deadline as
//! passed and stops before acting. Elsewhere (macOS, the BSDs) `Instant` is the best clock the
//! standard library offers and is used instead.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

/// `secs` seconds after the unix epoch, or `None` past what the platform's clock represents.
///
/// For timestamps from outside (block times, `updatedAt` of a price feed, lock files): plain
/// `UNIX_EPOCH + Duration::from_secs(secs)` panics on a hostile value such as `u64::MAX`.
///
/// ```
/// assert_eq!(oracle_core::unix_time(0), Some(std::time::UNIX_EPOCH));
/// assert!(oracle_core::unix_time(u64::MAX).is_none());
/// ```
pub fn unix_time(secs: u64) -> Option<SystemTime> {
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// An instant on the boot-time clock: monotonic, and counting while the machine is suspended.
///
/// Arithmetic never panics: [`checked_add`](Self::checked_add) says when a deadline would
/// overflow, and differences saturate at zero.
///
/// ```
/// use std::time::Duration;
/// use oracle_core::BootInstant;
///
/// let start = BootInstant::now();
/// let deadline = start.checked_add(Duration::from_secs(10)).expect("no overflow");
/// assert!(deadline > start);
/// assert_eq!(start.saturating_duration_since(deadline), Duration::ZERO);
/// assert!(BootInstant::now().checked_add(Duration::MAX).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BootInstant(Duration);

impl BootInstant {
    /// Now.
    pub fn now() -> Self {
        Self(since_origin())
    }

    /// `self + d`, or `None` when that is past what the clock can represent.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        self.0.checked_add(d).map(Self)
    }

    /// `self - d`, or `None` before the clock's origin.
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        self.0.checked_sub(d).map(Self)
    }

    /// `self + d`, or the furthest representable instant.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    /// How long after `earlier` this is; zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// How long from now until this instant; zero when it has passed.
    pub fn remaining(self) -> Duration {
        self.saturating_duration_since(Self::now())
    }

    /// Time since this instant; zero when it is in the future.
    pub fn elapsed(self) -> Duration {
        Self::now().saturating_duration_since(self)
    }
}

impl fmt::Debug for BootInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootInstant({:?})", self.0)
    }
}

#[cfg(target_os = "linux")]
fn since_origin() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    // The kernel never returns negative or out-of-range fields for this clock; clamp anyway.
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0).min(999_999_999);
    Duration::new(secs, nanos)
}

#[cfg(not(target_os = "linux"))]
fn since_origin() -> Duration {
    use std::{sync::LazyLock, time::Instant};
    static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);
    ORIGIN.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_and_never_panics() {
        let a = BootInstant::now();
        let b = BootInstant::now();
        assert!(b >= a);
        assert_eq!(a.saturating_add(Duration::MAX), BootInstant(Duration::MAX));
        assert!(a.checked_add(Duration::MAX).is_none());
        assert!(a.elapsed() < Duration::from_secs(3600));
        let far = a.saturating_add(Duration::from_secs(3600));
        assert!(far.remaining() > Duration::from_secs(3000));
        assert_eq!(far.elapsed(), Duration::ZERO);
    }
}
