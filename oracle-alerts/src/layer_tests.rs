//! The layer on tokio's paused clock: reminders, recoveries, floods, full queues, rate limits and
//! retries are checked in virtual time, by the order of what arrives, never by a wall clock.

use std::sync::Mutex as StdMutex;

use tokio::sync::{Semaphore, watch};

use super::*;

/// What an alerter is told to answer, attempt by attempt (then `Ok`).
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    RateLimited(u64),
    Unreachable,
    Refused,
    Hang,
}

/// Records every attempt (alert and virtual time) and answers as scripted; `gate` (when set)
/// holds each attempt until a permit is added.
struct Scripted {
    name: &'static str,
    script: StdMutex<VecDeque<Answer>>,
    attempts: StdMutex<Vec<(Alert, Instant)>>,
    delivered: watch::Sender<Vec<Alert>>,
    gate: Option<Semaphore>,
}

impl Scripted {
    fn new(name: &'static str, script: &[Answer]) -> Arc<Self> {
        Self::with_gate(name, script, None)
    }

    fn gated(name: &'static str) -> Arc<Self> {
        Self::with_gate(name, &[], Some(Semaphore::new(0)))
    }

    fn with_gate(name: &'static str, script: &[Answer], gate: Option<Semaphore>) -> Arc<Self> {
        Arc::new(Self {
            name,
            script: StdMutex::new(script.iter().copied().collect()),
            attempts: StdMutex::new(Vec::new()),
            delivered: watch::channel(Vec::new()).0,
            gate,
        })
    }

    fn delivered(&self) -> Vec<Alert> {
        self.delivered.borrow().clone()
    }

    fn titles(&self) -> Vec<String> {
        self.delivered().into_iter().map(|a| a.title).collect()
    }

    /// Waits (in virtual time, with the test's hang guard) until `n` alerts were delivered.
    async fn await_delivered(&self, n: usize) -> Vec<Alert> {
        let mut rx = self.delivered.subscribe();
        let got = tokio::time::timeout(Duration::from_secs(24 * 3600), rx.wait_for(|d| d.len() >= n)).await;
        assert!(got.is_ok(), "{} never got {n} alerts: {:?}", self.name, self.titles());
        self.delivered()
    }
}

#[async_trait]
impl Alerter for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.attempts.lock().unwrap().push((alert.clone(), Instant::now()));
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
        match answer {
            Answer::Ok => {
                self.delivered.send_modify(|d| d.push(alert.clone()));
                Ok(())
            }
            Answer::RateLimited(s) => {
                Err(AlertError::RateLimited { channel: "t", retry_after: Some(Duration::from_secs(s)) })
            }
            Answer::Unreachable => Err(AlertError::Delivery { channel: "t", reason: "down".into() }),
            Answer::Refused => Err(AlertError::Rejected { channel: "t", reason: "no such chat".into() }),
            Answer::Hang => std::future::pending().await,
        }
    }
}

fn raised(severity: Severity, key: &str) -> Alert {
    Alert::new(severity, key, format!("{key} is wrong"), "details")
}

fn resolved(key: &str, was: Severity) -> Alert {
    Alert::resolved(key, format!("Resolved: {key} is wrong"), "gone", was, Some(Duration::from_secs(90)))
}

fn layer(channels: Vec<Channel>, reminders: Option<Duration>) -> AlertLayer {
    channels
        .into_iter()
        .fold(AlertLayer::builder(), AlertLayerBuilder::channel)
        .reminder_interval(reminders)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_persisting_condition_gives_one_alert_one_reminder_per_interval_and_one_recovery() {
    let chat = Scripted::new("chat", &[]);
    let layer = layer(vec![Channel::new(chat.clone())], Some(Duration::from_secs(600)));
    let start = Instant::now();
    layer.send(&raised(Severity::Error, "update-failed")).await.unwrap();
    // The engine raises once; a repeat (from another source, or a restart of the engine's
    // bookkeeping) adds nothing.
    layer.send(&raised(Severity::Error, "update-failed")).await.unwrap();
    chat.await_delivered(1).await;

    let got = chat.await_delivered(2).await;
    assert_eq!(got[1].title, "Reminder: update-failed is wrong");
    assert!(got[1].body.contains("Still open after 10m 0s"), "{}", got[1].body);
    let reminded_at = chat.attempts.lock().unwrap()[1].1;
    assert_eq!(reminded_at.duration_since(start), Duration::from_secs(600), "exactly one interval later");

    layer.send(&resolved("update-failed", Severity::Error)).await.unwrap();
    let got = chat.await_delivered(3).await;
    assert!(got[2].is_recovery());
    // Once resolved, nothing more comes, however long we wait.
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(chat.titles().len(), 3, "{:?}", chat.titles());
}

#[tokio::test(start_paused = true)]
async fn a_recovery_is_delivered_even_for_a_condition_this_layer_never_saw() {
    let chat = Scripted::new("chat", &[]);
    let layer = layer(vec![Channel::new(chat.clone())], None);
    layer.send(&resolved("balance-low", Severity::Warning)).await.unwrap();
    assert!(chat.await_delivered(1).await[0].is_recovery());
}

#[tokio::test(start_paused = true)]
async fn alerts_are_routed_by_severity_and_recoveries_follow_their_condition() {
    let pager = Scripted::new("pager", &[]);
    let chat = Scripted::new("chat", &[]);
    let layer = layer(
        vec![Channel::new(pager.clone()).min_severity(Severity::Critical), Channel::new(chat.clone())],
        None,
    );
    for alert in [
        raised(Severity::Warning, "gas"),
        raised(Severity::Critical, "broke"),
        resolved("gas", Severity::Warning),
        resolved("broke", Severity::Critical),
    ] {
        layer.send(&alert).await.unwrap();
    }
    chat.await_delivered(4).await;
    let got = pager.await_delivered(2).await;
    assert_eq!(
        got.iter().map(|a| (a.key.as_str(), a.is_recovery())).collect::<Vec<_>>(),
        vec![("broke", false), ("broke", true)]
    );
}

#[tokio::test(start_paused = true)]
async fn routing_changes_on_a_running_layer() {
    let pager = Scripted::new("pager", &[]);
    let layer = layer(vec![Channel::new(pager.clone()).min_severity(Severity::Critical)], None);
    layer.send(&raised(Severity::Warning, "gas")).await.unwrap();
    assert!(layer.set_min_severity("pager", Severity::Warning), "the channel is known by its name");
    assert!(!layer.set_min_severity("nobody", Severity::Info));
    layer.send(&raised(Severity::Warning, "balance")).await.unwrap();
    let got = pager.await_delivered(1).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pager.delivered().len(), 1, "only the alert after the change: {:?}", pager.titles());
    assert_eq!(got[0].key, "balance");
}

#[tokio::test(start_paused = true)]
async fn a_burst_becomes_one_summary() {
    let chat = Scripted::new("chat", &[]);
    let layer = layer(vec![Channel::new(chat.clone())], None);
    // Every RPC endpoint down at once: 60 alerts before the channel's task runs.
    for i in 0..60 {
        let severity = if i % 10 == 0 { Severity::Critical } else { Severity::Error };
        layer.send(&raised(severity, &format!("rpc-{i}"))).await.unwrap();
    }
    let got = chat.await_delivered(1).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(chat.delivered().len(), 1, "{:?}", chat.titles());
    let summary = &got[0];
    assert_eq!((summary.title.as_str(), summary.severity), ("60 alerts at once", Severity::Critical));
    assert!(summary.body.contains("6 critical, 54 error"), "{}", summary.body);
    assert!(summary.body.contains("- [critical] rpc-0 is wrong"), "{}", summary.body);
    assert!(summary.body.contains("and 50 more"), "{}", summary.body);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_the_oldest_least_severe_first_and_counts() {
    let chat = Scripted::gated("chat");
    let layer = layer(vec![Channel::new(chat.clone()).capacity(3).flood_threshold(100)], None);
    layer.send(&Alert::event(Severity::Info, "first", "first", "")).await.unwrap();
    // The first is being sent (held at the gate); three wait.
    let mut rx = chat.delivered.subscribe();
    while chat.attempts.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    for alert in [
        raised(Severity::Warning, "w1"),
        Alert::event(Severity::Info, "i1", "i1", ""),
        raised(Severity::Critical, "c1"),
        // Full: the info event goes.
        raised(Severity::Error, "e1"),
        // Full, and this one is the least important: it goes.
        Alert::event(Severity::Info, "i2", "i2", ""),
        // Full: the warning goes.
        resolved("c1-old", Severity::Critical),
    ] {
        layer.send(&alert).await.unwrap();
    }
    let gate = chat.gate.as_ref().unwrap();
    gate.add_permits(10);
    rx.wait_for(|d| d.len() >= 4).await.unwrap();
    let keys: Vec<String> = chat.delivered().into_iter().map(|a| a.key).collect();
    assert_eq!(keys, ["first", "c1", "e1", "c1-old"]);
    let stats = &layer.stats()[0];
    assert_eq!((stats.sent, stats.dropped, stats.failed, stats.queued), (4, 3, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_platforms_retry_after_is_honoured_for_the_retry_and_the_next_message() {
    let chat = Scripted::new("chat", &[Answer::RateLimited(30)]);
    let layer = layer(vec![Channel::new(chat.clone())], None);
    layer.send(&raised(Severity::Error, "a")).await.unwrap();
    layer.send(&raised(Severity::Error, "b")).await.unwrap();
    chat.await_delivered(2).await;
    let attempts = chat.attempts.lock().unwrap().clone();
    let at: Vec<(String, Instant)> = attempts.into_iter().map(|(a, t)| (a.key, t)).collect();
    assert_eq!(at.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "a", "b"]);
    assert!(at[1].1.duration_since(at[0].1) >= Duration::from_secs(30), "{at:?}");
    assert!(at[2].1.duration_since(at[0].1) >= Duration::from_secs(30), "{at:?}");
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_and_refusals_are_not() {
    let chat = Scripted::new("chat", &[Answer::Unreachable, Answer::Unreachable, Answer::Refused]);
    let layer = layer(
        vec![Channel::new(chat.clone()).retries(3, Duration::from_secs(1), Duration::from_secs(8))],
        None,
    );
    layer.send(&raised(Severity::Error, "a")).await.unwrap();
    layer.send(&raised(Severity::Error, "b")).await.unwrap();
    let got = chat.await_delivered(1).await;
    assert_eq!(got[0].key, "b", "a was refused for good after two retries");
    let keys: Vec<String> = chat.attempts.lock().unwrap().iter().map(|(a, _)| a.key.clone()).collect();
    assert_eq!(keys, ["a", "a", "a", "b"]);
    let stats = &layer.stats()[0];
    assert_eq!((stats.sent, stats.failed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_channel_never_blocks_send_and_gives_up_after_its_timeouts() {
    let chat = Scripted::new("chat", &[Answer::Hang, Answer::Hang, Answer::Hang]);
    let layer = layer(
        vec![Channel::new(chat.clone()).send_timeout(Duration::from_secs(5)).retries(
            2,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )],
        None,
    );
    for i in 0..3 {
        // Each call returns without waiting on the channel.
        layer.send(&raised(Severity::Error, &format!("k{i}"))).await.unwrap();
    }
    let got = chat.await_delivered(2).await;
    assert_eq!(got.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);
    assert_eq!(layer.stats()[0].failed, 1, "k0 timed out three times");
}

#[tokio::test(start_paused = true)]
async fn events_with_one_key_are_throttled_and_counted() {
    let chat = Scripted::new("chat", &[]);
    let layer = AlertLayer::builder()
        .channel(Channel::new(chat.clone()))
        .event_interval(Duration::from_secs(300))
        .build()
        .unwrap();
    let failover = || Alert::event(Severity::Info, "rpc-failover:Jeju", "Jeju switched to RPC 1", "x");
    for _ in 0..4 {
        layer.send(&failover()).await.unwrap();
    }
    chat.await_delivered(1).await;
    tokio::time::sleep(Duration::from_secs(301)).await;
    layer.send(&failover()).await.unwrap();
    let got = chat.await_delivered(2).await;
    assert!(got[1].body.contains("3 more like this"), "{}", got[1].body);
}

#[tokio::test]
async fn settings_are_validated() {
    let chat = Scripted::new("chat", &[]);
    let err = AlertLayer::builder().channel(Channel::new(chat.clone()).capacity(0)).build().unwrap_err();
    assert!(matches!(err, Error::InvalidSetting { setting: "queue capacity", .. }), "{err}");
    let err = AlertLayer::builder()
        .channel(Channel::new(chat).rate_limit(RateLimit { messages: 0, per: Duration::from_secs(1) }))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSetting { setting: "rate limit", .. }), "{err}");
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    assert_eq!(AlertLayer::builder().build().unwrap_err(), Error::NoRuntime);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_spaces_messages() {
    let chat = Scripted::new("chat", &[]);
    let layer = layer(
        vec![
            Channel::new(chat.clone())
                .rate_limit(RateLimit { messages: 2, per: Duration::from_secs(60) })
                .flood_threshold(100),
        ],
        None,
    );
    for i in 0..5 {
        layer.send(&raised(Severity::Error, &format!("k{i}"))).await.unwrap();
    }
    chat.await_delivered(5).await;
    let times: Vec<Instant> = chat.attempts.lock().unwrap().iter().map(|(_, t)| *t).collect();
    for (i, t) in times.iter().enumerate().skip(2) {
        assert!(t.duration_since(times[i - 2]) >= Duration::from_secs(60), "at most 2 per minute: {times:?}");
    }
}
