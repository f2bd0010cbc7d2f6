//! The delivery layer around any [`Alerter`]: reminders for open conditions, recoveries always
//! delivered, per-key event throttling, routing by severity, and per channel a bounded queue
//! drained by its own task (rate limit, flood summary, timeout per attempt, retries with backoff,
//! the platform's `retry_after` honoured). [`AlertLayer::send`] only enqueues: the engine's tick
//! never waits on a network.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use oracle_core::{Alert, AlertError, AlertKind, Alerter, Severity, format_duration};
use tokio::{sync::Notify, time::Instant};

use crate::{Error, format::format_time};

/// Counter of alerts a channel delivered (label `channel`).
pub const SENT_TOTAL: &str = "oracle_alerts_sent_total";
/// Counter of alerts a channel could not deliver after its retries (label `channel`).
pub const FAILURES_TOTAL: &str = "oracle_alert_failures_total";
/// Counter of alerts dropped from a full queue, lowest severity and oldest first (label
/// `channel`).
pub const DROPPED_TOTAL: &str = "oracle_alerts_dropped_total";

/// Gives the alert layer's series their `# HELP` text (call once after installing the recorder).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter};
    describe_counter!(SENT_TOTAL, Unit::Count, "Alerts a channel delivered.");
    describe_counter!(FAILURES_TOTAL, Unit::Count, "Alerts a channel could not deliver after its retries.");
    describe_counter!(DROPPED_TOTAL, Unit::Count, "Alerts dropped from a channel's full queue.");
}

/// How often an open condition is repeated, by default: once an hour until it clears.
pub const DEFAULT_REMINDER_INTERVAL: Duration = Duration::from_secs(3600);
/// Events with the same key (an RPC failover, a review flag) are sent at most this often, by
/// default; the ones in between are counted in the next message.
pub const DEFAULT_EVENT_INTERVAL: Duration = Duration::from_secs(300);
/// Alerts a channel holds while it cannot send, by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 100;
/// Messages per minute a channel sends at most, by default (below Telegram's 20 per minute in a
/// group and Discord's 30 per minute per webhook).
pub const DEFAULT_MESSAGES_PER_MINUTE: u32 = 18;
/// The limit of one delivery attempt, by default.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a transient failure, by default.
pub const DEFAULT_RETRIES: usize = 3;
/// The first pause between retries, by default (it doubles, with jitter).
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between retries, by default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest a platform's `retry_after` is waited for, by default; a longer ask is waited for
/// this long, then the message counts as failed.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// More alerts than this waiting at once in a channel are sent as one summary, by default.
pub const DEFAULT_FLOOD_THRESHOLD: usize = 5;

/// At most `messages` per `per`, per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages allowed in any window of `per`.
    pub messages: u32,
    /// The window.
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { messages: DEFAULT_MESSAGES_PER_MINUTE, per: Duration::from_secs(60) }
    }
}

/// One channel of the layer: an alerter and how alerts reach it.
///
/// ```
/// # use std::sync::Arc;
/// use oracle_alerts::{Channel, LogAlerter, Severity};
/// // Only critical alerts (and their recoveries) go to this channel.
/// let pager = Channel::new(Arc::new(LogAlerter)).min_severity(Severity::Critical);
/// ```
#[derive(Clone)]
pub struct Channel {
    alerter: Arc<dyn Alerter>,
    min_severity: Severity,
    capacity: usize,
    rate_limit: RateLimit,
    send_timeout: Duration,
    retries: usize,
    min_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    flood_threshold: usize,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("alerter", &self.alerter.name())
            .field("min_severity", &self.min_severity)
            .field("capacity", &self.capacity)
            .field("rate_limit", &self.rate_limit)
            .field("send_timeout", &self.send_timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// `alerter` with every default: all severities, [`DEFAULT_QUEUE_CAPACITY`],
    /// [`DEFAULT_MESSAGES_PER_MINUTE`], [`DEFAULT_SEND_TIMEOUT`], [`DEFAULT_RETRIES`] from
    /// [`DEFAULT_MIN_BACKOFF`] to [`DEFAULT_MAX_BACKOFF`], [`DEFAULT_MAX_RETRY_AFTER`],
    /// [`DEFAULT_FLOOD_THRESHOLD`].
    pub fn new(alerter: Arc<dyn Alerter>) -> Self {
        Self {
            alerter,
            min_severity: Severity::Info,
            capacity: DEFAULT_QUEUE_CAPACITY,
            rate_limit: RateLimit::default(),
            send_timeout: DEFAULT_SEND_TIMEOUT,
            retries: DEFAULT_RETRIES,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            flood_threshold: DEFAULT_FLOOD_THRESHOLD,
        }
    }

    /// Only alerts at least this severe go here; a recovery goes where its condition went.
    pub fn min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = severity;
        self
    }

    /// How many alerts wait at most (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The channel's rate limit.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The limit of one delivery attempt.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Retries of a transient failure and the pauses between them (doubling, with jitter).
    pub fn retries(mut self, times: usize, min_backoff: Duration, max_backoff: Duration) -> Self {
        self.retries = times;
        self.min_backoff = min_backoff;
        self.max_backoff = max_backoff;
        self
    }

    /// The longest a platform's `retry_after` is honoured.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// More alerts than this waiting at once are sent as one summary.
    pub fn flood_threshold(mut self, threshold: usize) -> Self {
        self.flood_threshold = threshold;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |setting, reason: &str| Err(Error::InvalidSetting { setting, reason: reason.into() });
        if self.capacity == 0 {
            return invalid("queue capacity", "must be at least 1");
        }
        if self.rate_limit.messages == 0 || self.rate_limit.per.is_zero() {
            return invalid("rate limit", "needs at least 1 message per non-zero window");
        }
        if self.send_timeout.is_zero() {
            return invalid("send timeout", "must be above 0");
        }
        if self.min_backoff > self.max_backoff {
            return invalid("retry backoff", "the first pause must not exceed the longest");
        }
        Ok(())
    }
}

/// Counters of one channel, for tests and status pages (the same as the metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// The channel's name.
    pub channel: String,
    /// Messages delivered.
    pub sent: u64,
    /// Messages not delivered after their retries.
    pub failed: u64,
    /// Alerts dropped from a full queue.
    pub dropped: u64,
    /// Alerts waiting now.
    pub queued: usize,
}

/// Builds an [`AlertLayer`].
#[derive(Debug, Default)]
pub struct AlertLayerBuilder {
    channels: Vec<Channel>,
    reminder_interval: Option<Option<Duration>>,
    event_interval: Option<Duration>,
}

impl AlertLayerBuilder {
    /// Adds a channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }

    /// How often an open condition is repeated until it clears; `None` never repeats (default
    /// [`DEFAULT_REMINDER_INTERVAL`]).
    pub fn reminder_interval(mut self, interval: Option<Duration>) -> Self {
        self.reminder_interval = Some(interval.filter(|d| !d.is_zero()));
        self
    }

    /// Events with the same key are sent at most this often (default [`DEFAULT_EVENT_INTERVAL`];
    /// zero sends every one).
    pub fn event_interval(mut self, interval: Duration) -> Self {
        self.event_interval = Some(interval);
        self
    }

    /// Validates the channels and starts their delivery tasks (and the reminder task) on the
    /// current tokio runtime. The tasks end when the layer is dropped.
    pub fn build(self) -> Result<AlertLayer, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        for channel in &self.channels {
            channel.validate()?;
        }
        let channels: Vec<Arc<ChannelState>> = self
            .channels
            .into_iter()
            .map(|config| {
                Arc::new(ChannelState {
                    name: config.alerter.name().to_owned(),
                    min_severity: std::sync::RwLock::new(config.min_severity),
                    config,
                    queue: Mutex::new(Queue::default()),
                    wake: Arc::new(Notify::new()),
                    sent: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            channels,
            book: Mutex::new(Book::default()),
            reminder_interval: self.reminder_interval.unwrap_or(Some(DEFAULT_REMINDER_INTERVAL)),
            event_interval: self.event_interval.unwrap_or(DEFAULT_EVENT_INTERVAL),
            wake_reminders: Arc::new(Notify::new()),
        });
        for channel in &shared.channels {
            runtime.spawn(deliver_loop(Arc::downgrade(channel), Arc::clone(&channel.wake)));
        }
        if shared.reminder_interval.is_some() {
            runtime.spawn(remind_loop(Arc::downgrade(&shared), Arc::clone(&shared.wake_reminders)));
        }
        Ok(AlertLayer { shared })
    }
}

/// Wraps any number of alerters ("layers, not forks"): see the module's documentation.
///
/// ```
/// # use std::sync::Arc;
/// use oracle_alerts::{AlertLayer, Channel, LogAlerter, Severity};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), oracle_alerts::Error> {
/// let layer = AlertLayer::builder()
///     .channel(Channel::new(Arc::new(LogAlerter)).min_severity(Severity::Warning))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct AlertLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AlertLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertLayer")
            .field("channels", &self.shared.channels.iter().map(|c| &c.config).collect::<Vec<_>>())
            .field("reminder_interval", &self.shared.reminder_interval)
            .finish()
    }
}

impl AlertLayer {
    /// A builder.
    pub fn builder() -> AlertLayerBuilder {
        AlertLayerBuilder::default()
    }

    /// Each channel's counters.
    pub fn stats(&self) -> Vec<ChannelStats> {
        self.shared
            .channels
            .iter()
            .map(|c| ChannelStats {
                channel: c.name.clone(),
                sent: c.sent.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                queued: lock(&c.queue).items.len(),
            })
            .collect()
    }

    /// The channels' names, for labels and logs.
    pub fn channel_names(&self) -> Vec<String> {
        self.shared.channels.iter().map(|c| c.name.clone()).collect()
    }

    /// Changes the least severe alert routed to the channel `name` from now on (a configuration
    /// reload); `false` when there is no such channel. Alerts already queued stay queued.
    pub fn set_min_severity(&self, name: &str, severity: Severity) -> bool {
        let Some(channel) = self.shared.channels.iter().find(|c| c.name == name) else { return false };
        *channel.min_severity.write().unwrap_or_else(|p| p.into_inner()) = severity;
        true
    }
}

#[async_trait]
impl Alerter for AlertLayer {
    fn name(&self) -> &str {
        "alert-layer"
    }

    /// Enqueues `alert` on every channel its severity routes it to and returns at once; it never
    /// fails (a full queue drops and counts, a channel's failures are logged and counted).
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let admitted =
            lock(&self.shared.book).admit(alert.clone(), Instant::now(), self.shared.event_interval);
        if let Some(alert) = admitted {
            if alert.kind == AlertKind::Raised {
                self.shared.wake_reminders.notify_one();
            }
            self.shared.route(&alert);
        }
        Ok(())
    }
}

/// Poison-tolerant lock: a panicked holder leaves data that is still usable here (queues and
/// bookkeeping), and the layer must never take the engine down.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared {
    channels: Vec<Arc<ChannelState>>,
    book: Mutex<Book>,
    reminder_interval: Option<Duration>,
    event_interval: Duration,
    wake_reminders: Arc<Notify>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The reminder task holds only a weak reference: wake it so it sees the layer is gone.
        self.wake_reminders.notify_one();
    }
}

impl Shared {
    fn route(&self, alert: &Alert) {
        let severity = alert.routing_severity();
        for channel in self
            .channels
            .iter()
            .filter(|c| severity >= *c.min_severity.read().unwrap_or_else(|p| p.into_inner()))
        {
            channel.push(alert.clone());
        }
    }

    /// Sends the reminders due at `now`; returns when the next one is due.
    fn remind(&self, now: Instant) -> Option<Instant> {
        let interval = self.reminder_interval?;
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        {
            let mut book = lock(&self.book);
            for open in book.open.values_mut() {
                // An interval too long for the clock never comes due.
                let Some(at) = open.last_sent.checked_add(interval) else { continue };
                if at <= now {
                    open.last_sent = now;
                    due.push(reminder(&open.alert, now.saturating_duration_since(open.since)));
                    next = open.last_sent.checked_add(interval).into_iter().chain(next).min();
                } else {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        for alert in &due {
            self.route(alert);
        }
        next
    }
}

/// The reminder of an open condition, `open_for` after it was raised.
fn reminder(alert: &Alert, open_for: Duration) -> Alert {
    let mut r = alert.clone();
    r.title = format!("Reminder: {}", alert.title);
    r.body = format!(
        "{}\n\nStill open after {} (raised {}).",
        alert.body,
        format_duration(open_for),
        format_time(alert.at)
    );
    r.at = SystemTime::now();
    r
}

/// What the layer remembers: open conditions (to remind and to deduplicate) and recent events
/// (to throttle).
#[derive(Default)]
struct Book {
    open: HashMap<String, Open>,
    events: HashMap<String, (Instant, u32)>,
}

struct Open {
    alert: Alert,
    since: Instant,
    last_sent: Instant,
}

impl Book {
    /// Whether (and as what) `alert` goes out now.
    fn admit(&mut self, mut alert: Alert, now: Instant, event_interval: Duration) -> Option<Alert> {
        match alert.kind {
            AlertKind::Raised => {
                let since = match self.open.get(&alert.key) {
                    // Already open and reminded on schedule: a repeat adds nothing.
                    Some(open) if alert.severity <= open.alert.severity => return None,
                    Some(open) => open.since,
                    None => now,
                };
                self.open.insert(alert.key.clone(), Open { alert: alert.clone(), since, last_sent: now });
                Some(alert)
            }
            // Always delivered, whether or not this layer saw the condition open.
            AlertKind::Resolved { .. } => {
                self.open.remove(&alert.key);
                Some(alert)
            }
            _ => {
                if let Some((last, skipped)) = self.events.get_mut(&alert.key)
                    && last.checked_add(event_interval).is_some_and(|until| now < until)
                {
                    *skipped = skipped.saturating_add(1);
                    return None;
                }
                let skipped = self.events.insert(alert.key.clone(), (now, 0)).map_or(0, |(_, n)| n);
                if skipped > 0 {
                    alert.body.push_str(&format!(
                        "\n\n({skipped} more like this since the last message were not sent one by one.)"
                    ));
                }
                Some(alert)
            }
        }
    }
}

async fn remind_loop(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = match shared.upgrade() {
            None => return,
            Some(shared) => shared.remind(Instant::now()),
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = notified => {}
                }
            }
            None => notified.await,
        }
    }
}

struct ChannelState {
    name: String,
    /// The routing threshold in force: the channel's, until [`AlertLayer::set_min_severity`].
    min_severity: std::sync::RwLock<Severity>,
    config: Channel,
    queue: Mutex<Queue>,
    wake: Arc<Notify>,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Drop for ChannelState {
    fn drop(&mut self) {
        // The delivery task holds only a weak reference: wake it so it sees the layer is gone.
        self.wake.notify_one();
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Alert>,
    /// Dropped since the last summary, reported in the next one.
    dropped: u64,
    /// When recent messages went out, for the rate limit.
    sent_at: VecDeque<Instant>,
    /// The platform asked to wait until then.
    paused_until: Option<Instant>,
}

/// How hard an alert is kept when the queue is full: info first to go, then warnings, errors,
/// critical; a recovery counts as its condition.
fn rank(alert: &Alert) -> u8 {
    match alert.routing_severity() {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
        Severity::Critical => 3,
    }
}

impl ChannelState {
    fn push(&self, alert: Alert) {
        let mut q = lock(&self.queue);
        if q.items.len() >= self.config.capacity {
            // The oldest of the least important goes, unless the newcomer is less important.
            let victim = q
                .items
                .iter()
                .enumerate()
                .min_by_key(|(i, a)| (rank(a), *i))
                .filter(|(_, a)| rank(a) <= rank(&alert))
                .map(|(i, _)| i);
            let evicted = victim.and_then(|i| q.items.remove(i));
            q.dropped = q.dropped.saturating_add(1);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(DROPPED_TOTAL, "channel" => self.name.clone()).increment(1);
            let gone = evicted.as_ref().unwrap_or(&alert);
            tracing::debug!(channel = %self.name, key = %gone.key, severity = %gone.severity, "alert queue full: dropped an alert");
            if evicted.is_none() {
                return;
            }
        }
        q.items.push_back(alert);
        drop(q);
        self.wake.notify_one();
    }

    /// When the next message may go out, if not now (rate limit, or the platform's pause).
    fn blocked_until(&self, now: Instant) -> Option<Instant> {
        let mut q = lock(&self.queue);
        let per = self.config.rate_limit.per;
        while q.sent_at.front().is_some_and(|t| t.checked_add(per).is_none_or(|end| end <= now)) {
            q.sent_at.pop_front();
        }
        let by_rate = if q.sent_at.len() >= self.config.rate_limit.messages as usize {
            q.sent_at.front().and_then(|t| t.checked_add(per))
        } else {
            None
        };
        let paused = q.paused_until.filter(|t| *t > now);
        by_rate.into_iter().chain(paused).max()
    }

    /// The next message: the first waiting alert, or one summary of all of them in a flood.
    fn take(&self, now: Instant) -> Option<Alert> {
        let mut q = lock(&self.queue);
        if q.items.is_empty() {
            return None;
        }
        let message = if q.items.len() > self.config.flood_threshold {
            let items: Vec<Alert> = q.items.drain(..).collect();
            let dropped = std::mem::take(&mut q.dropped);
            summary(items, dropped)
        } else {
            q.items.pop_front()?
        };
        q.sent_at.push_back(now);
        Some(message)
    }

    async fn deliver(&self, alert: Alert) {
        let cfg = &self.config;
        let channel = self.name.as_str();
        let attempt = || async {
            let result = match tokio::time::timeout(cfg.send_timeout, cfg.alerter.send(&alert)).await {
                Ok(result) => result,
                Err(_) => Err(AlertError::TimedOut { channel: "alert channel", after: cfg.send_timeout }),
            };
            if let Err(AlertError::RateLimited { retry_after: Some(wait), .. }) = &result {
                // Honoured for every message, not only this one's retry.
                let until = Instant::now().checked_add((*wait).min(cfg.max_retry_after));
                lock(&self.queue).paused_until = until;
            }
            result
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(cfg.min_backoff)
            .with_max_delay(cfg.max_backoff)
            .with_max_times(cfg.retries)
            .with_jitter();
        let result = attempt
            .retry(backoff)
            .when(AlertError::is_transient)
            // The platform's own wait wins over ours (capped), but never extends the retries.
            .adjust(|e, ours| ours.map(|d| e.retry_after().map_or(d, |asked| asked.min(cfg.max_retry_after))))
            .notify(|e, after| {
                tracing::warn!(channel, key = %alert.key, error = %e, retry_in = ?after, "alert delivery failed, retrying")
            })
            .await;
        match result {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(SENT_TOTAL, "channel" => self.name.clone()).increment(1);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(FAILURES_TOTAL, "channel" => self.name.clone()).increment(1);
                tracing::warn!(channel, key = %alert.key, severity = %alert.severity, error = %e, "alert not delivered");
            }
        }
    }
}

/// One message for a burst of alerts: the counts, the most severe titles first.
fn summary(mut items: Vec<Alert>, dropped: u64) -> Alert {
    const LISTED: usize = 10;
    let total = items.len();
    let severity = items.iter().map(Alert::routing_severity).max().unwrap_or(Severity::Info);
    let count = |s: Severity| items.iter().filter(|a| !a.is_recovery() && a.severity == s).count();
    let recoveries = items.iter().filter(|a| a.is_recovery()).count();
    let mut body = format!(
        "{total} alerts arrived at once: {} critical, {} error, {} warning, {} info, {recoveries} resolved.",
        count(Severity::Critical),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    // Most severe first; the sort is stable, so each severity keeps its order of arrival.
    items.sort_by_key(|a| std::cmp::Reverse(a.routing_severity()));
    for a in items.iter().take(LISTED) {
        let label = if a.is_recovery() { "resolved".to_owned() } else { a.severity.to_string() };
        body.push_str(&format!("\n- [{label}] {}", a.title));
    }
    if total > LISTED {
        body.push_str(&format!("\n… and {} more (see the bot's log).", total - LISTED));
    }
    if dropped > 0 {
        body.push_str(&format!("\n{dropped} lower-severity alerts were dropped while the queue was full."));
    }
    Alert::event(severity, "alert-flood", format!("{total} alerts at once"), body)
}

async fn deliver_loop(channel: Weak<ChannelState>, wake: Arc<Notify>) {
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(ch) = channel.upgrade() else { return };
        let now = Instant::now();
        if lock(&ch.queue).items.is_empty() {
            drop(ch);
            notified.await;
            continue;
        }
        if let Some(until) = ch.blocked_until(now) {
            drop(ch);
            tokio::time::sleep_until(until).await;
            continue;
        }
        if let Some(message) = ch.take(now) {
            ch.deliver(message).await;
        }
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
