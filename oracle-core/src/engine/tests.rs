//! The engine against in-memory parts: retries, refusals, followers, leases and the status.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;

use super::*;
use crate::{
    BootInstant, ElectionError, FencingToken, LeaderInfo, LeaseLost, LogAlerter, Price, SourceError,
    SubmitError,
    test_utils::{FixedLeader, MemoryTarget, ScriptedSource, TargetStep},
};

/// A source answering `results` (prices at 8 decimals) in turn, the last for ever after.
fn scripted(results: Vec<Result<&'static str, SourceError>>) -> Arc<ScriptedSource> {
    Arc::new(ScriptedSource::new(results.into_iter().map(|r| r.map(|p| Price::parse(p, 8).unwrap()))))
}

/// A target holding ETH/USD = 3000, last updated long ago, that records what is sent and keeps
/// its state (so every tick sees a move worth sending).
fn target() -> MemoryTarget {
    MemoryTarget::holding(
        FeedId::ETH_USD,
        Price::parse("3000", 8).unwrap(),
        SystemTime::now() - Duration::from_secs(600),
    )
    .without_landing()
}

/// A target whose node is down.
fn down_target() -> MemoryTarget {
    let target = target();
    target.fail(TargetStep::ReadState, SubmitError::Unreachable { reason: "connection refused".into() });
    target
}

/// An elector with a fixed answer: a follower or an election error, which the shared
/// `FixedLeader` (always leading) cannot give.
struct FixedElector(Result<Leadership, ElectionError>);

#[async_trait]
impl LeaderElector for FixedElector {
    fn id(&self) -> &str {
        "bot-a"
    }
    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        self.0.clone()
    }
    async fn release(&self) -> Result<(), ElectionError> {
        Ok(())
    }
    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        Ok(None)
    }
}

fn unreachable() -> SourceError {
    SourceError::Unreachable { source_name: "scripted".into(), reason: "connection refused".into() }
}

fn engine(source: Arc<ScriptedSource>, target: Arc<MemoryTarget>, elector: Arc<dyn LeaderElector>) -> Engine {
    Engine::builder()
        .source(FeedId::ETH_USD, source)
        .elector(elector)
        .submitter(target)
        .alerter(Arc::new(LogAlerter))
        .retries(3, Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_source_is_retried_and_then_used() {
    let source = scripted(vec![Err(unreachable()), Err(unreachable()), Ok("3100")]);
    let target = Arc::new(target());
    let e = engine(source.clone(), target.clone(), Arc::new(crate::AlwaysLeader::new("bot-a")));
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(source.calls(), 3);
    assert_eq!(target.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_limit_and_refusals_are_not_retried() {
    let source = scripted(vec![Err(unreachable())]);
    let e = engine(source.clone(), Arc::new(target()), Arc::new(crate::AlwaysLeader::new("bot-a")));
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Failed(TickFailure::Source { .. })), "{report:?}");
    assert_eq!(source.calls(), 4, "one try and three retries");

    let stale = SourceError::Stale {
        source_name: "scripted".into(),
        feed: FeedId::ETH_USD,
        age: Duration::from_secs(7200),
        max_age: Duration::from_secs(3600),
    };
    let source = scripted(vec![Err(stale)]);
    let e = engine(source.clone(), Arc::new(target()), Arc::new(crate::AlwaysLeader::new("bot-a")));
    let report = e.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Failed(TickFailure::Source { error: SourceError::Stale { .. }, .. })
        ),
        "{report:?}"
    );
    assert_eq!(source.calls(), 1, "a wrong price is refused at once");
    let status = e.status().borrow().clone();
    assert_eq!((status.consecutive_failures, status.update_failures, status.total_updates), (1, 1, 0));
}

#[tokio::test]
async fn a_follower_does_nothing_and_is_not_failing() {
    let target = Arc::new(target());
    let elector = FixedElector(Ok(Leadership::Follower { leader: Some("bot-b".into()) }));
    let e = engine(scripted(vec![Ok("3100")]), target.clone(), Arc::new(elector));
    let report = e.tick().await;
    assert_eq!(report.outcome, TickOutcome::Follower { leader: Some("bot-b".into()) });
    assert!(target.sent().is_empty());
    let status = e.status().borrow().clone();
    assert!(!status.is_leader);
    assert_eq!(status.consecutive_failures, 0);
}

#[tokio::test]
async fn a_lease_about_to_expire_sends_nothing() {
    let target = Arc::new(target());
    let lease = Lease {
        holder: "bot-a".into(),
        token: FencingToken(9),
        valid_until: BootInstant::now().saturating_add(Duration::from_millis(500)),
    };
    let e = engine(
        scripted(vec![Ok("3100")]),
        target.clone(),
        Arc::new(FixedElector(Ok(Leadership::Leader(lease)))),
    );
    let report = e.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Failed(TickFailure::LeaseLost(LeaseLost { token: FencingToken(9), .. }))
        ),
        "{report:?}"
    );
    assert!(target.sent().is_empty(), "nothing is sent without a valid lease");
}

#[tokio::test]
async fn an_election_failure_is_a_failed_tick_without_action() {
    let target = Arc::new(target());
    let err = ElectionError::Unavailable { backend: "redis", reason: "connection refused".into() };
    let e = engine(scripted(vec![Ok("3100")]), target.clone(), Arc::new(FixedElector(Err(err))));
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Failed(TickFailure::Election(_))), "{report:?}");
    assert!(target.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn run_ticks_until_cancelled_and_then_stops() {
    let target = Arc::new(target());
    let e = Arc::new(engine(scripted(vec![Ok("3000")]), target, Arc::new(crate::AlwaysLeader::new("bot-a"))));
    let cancel = CancellationToken::new();
    let runner = tokio::spawn({
        let (e, cancel) = (e.clone(), cancel.clone());
        async move { e.run(cancel).await }
    });
    let mut status = e.status();
    status.wait_for(|s| s.ticks >= 3).await.unwrap();
    cancel.cancel();
    runner.await.unwrap();
    assert!(!e.status().borrow().is_leader, "leadership is given up on the way out");
}

#[test]
fn the_builder_names_what_is_missing() {
    let err = Engine::builder().build().unwrap_err();
    assert_eq!(err, EngineError::Missing("a leader elector"));
    let err = Engine::builder()
        .elector(Arc::new(crate::AlwaysLeader::new("a")))
        .submitter(Arc::new(target()))
        .build()
        .unwrap_err();
    assert_eq!(err, EngineError::Missing("at least one price source"));
    let err = Engine::builder()
        .elector(Arc::new(crate::AlwaysLeader::new("a")))
        .submitter(Arc::new(target()))
        .source(FeedId::ETH_USD, scripted(vec![Ok("1")]))
        .source(FeedId::ETH_USD, scripted(vec![Ok("1")]))
        .build()
        .unwrap_err();
    assert_eq!(err, EngineError::DuplicateFeed(FeedId::ETH_USD));
}

#[tokio::test]
async fn a_leader_that_cannot_reach_the_target_steps_down_and_backs_off() {
    let elector = Arc::new(FixedLeader::new("bot-a", 1));
    let e = Engine::builder()
        .source(FeedId::ETH_USD, scripted(vec![Ok("3100")]))
        .elector(elector.clone())
        .submitter(Arc::new(down_target()))
        .retries(0, Duration::ZERO)
        .health_gate(3, Duration::from_secs(3600))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(e.tick().await.outcome, TickOutcome::Failed(TickFailure::ReadState(_))));
    }
    assert_eq!(elector.releases(), 0, "two failures are within the gate");
    assert!(matches!(e.tick().await.outcome, TickOutcome::Failed(TickFailure::ReadState(_))));
    assert_eq!(elector.releases(), 1, "the third gives leadership up");
    assert!(!e.status().borrow().is_leader);
    let report = e.tick().await;
    assert_eq!(report.outcome, TickOutcome::Follower { leader: None }, "backing off: no attempt to lead");
}

#[tokio::test]
async fn a_fenced_targets_floor_raises_the_token_before_the_first_round() {
    // A single bot (token 1) meets an oracle other electors wrote to with token 41.
    let target = Arc::new(target().fenced(41));
    let e = engine(scripted(vec![Ok("3100")]), target.clone(), Arc::new(crate::AlwaysLeader::new("bot-a")));
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(report.token, Some(FencingToken(42)), "the first term's token is above the floor");
    assert_eq!(target.highest_token(), Some(42));
    e.tick().await;
    assert_eq!(target.floor_reads(), 1, "read once, not every tick");
}

#[tokio::test]
async fn a_term_below_the_floor_never_acts_and_says_why() {
    let target = Arc::new(target().fenced(41));
    let e = engine(scripted(vec![Ok("3100")]), target.clone(), Arc::new(FixedLeader::new("bot-a", 1)));
    let report = e.tick().await;
    let TickOutcome::Failed(failure @ TickFailure::StaleToken { can_raise: false, .. }) = &report.outcome
    else {
        panic!("{report:?}")
    };
    assert!(failure.to_string().contains("cannot issue larger tokens"), "{failure}");
    assert!(target.sent().is_empty());
    assert!(!e.status().borrow().is_leader);
}

#[tokio::test]
async fn a_stale_token_refusal_rereads_the_floor_and_gives_the_term_up() {
    let target = Arc::new(target().fenced(5));
    let elector = Arc::new(crate::AlwaysLeader::new("bot-a"));
    let e = engine(scripted(vec![Ok("3100")]), target.clone(), elector.clone());
    assert!(matches!(e.tick().await.outcome, TickOutcome::Submitted(_)));
    // Another fleet writes with a much larger token behind this bot's back.
    target.raise_floor(1_000);
    let report = e.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(
                Rejection::StaleFencingToken { highest: 1_000, .. }
            )))
        ),
        "{report:?}"
    );
    assert!(!e.status().borrow().is_leader, "the stale term was given up");
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(report.token, Some(FencingToken(1_001)));
    assert_eq!(target.floor_reads(), 2, "read again after the refusal");
}

#[tokio::test]
async fn the_fence_follows_the_live_term_not_the_granted_lease() {
    // The granted lease has 1 s left, less than the 2 s margin asked below, but the elector
    // renewed it in the background: the tick's fence asks the elector and sends.
    let target = Arc::new(target());
    let e = Engine::builder()
        .source(FeedId::ETH_USD, scripted(vec![Ok("3100")]))
        .elector(Arc::new(
            FixedLeader::new("bot-a", 3).granted(Duration::from_secs(1)).renewed(Duration::from_secs(60)),
        ))
        .submitter(target.clone())
        .lease_margin(Duration::from_secs(2))
        .build()
        .unwrap();
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
}

#[tokio::test]
async fn durations_past_the_clock_never_panic() {
    let elector = Arc::new(FixedLeader::new("bot-a", 1));
    let e = Engine::builder()
        .source(FeedId::ETH_USD, scripted(vec![Ok("3100")]))
        .elector(elector.clone())
        .submitter(Arc::new(down_target()))
        .retries(0, Duration::ZERO)
        .receipt_timeout(Duration::MAX)
        .health_gate(1, Duration::MAX)
        .build()
        .unwrap();
    assert!(matches!(e.tick().await.outcome, TickOutcome::Failed(TickFailure::ReadState(_))));
    assert_eq!(elector.releases(), 1, "gave up leadership");
    let report = e.tick().await;
    assert_eq!(report.outcome, TickOutcome::Follower { leader: None }, "an endless backoff");
}

#[tokio::test(start_paused = true)]
async fn a_named_targets_alerts_carry_its_name_in_key_and_title() {
    // Alerters shared by many targets deduplicate and resolve by key: one target's failure must
    // not be resolved by another's recovery.
    let alerts = Arc::new(crate::test_utils::RecordingAlerter::default());
    let e = Engine::builder()
        .target("jeju-eth")
        .source(FeedId::ETH_USD, scripted(vec![Err(unreachable())]))
        .elector(Arc::new(crate::AlwaysLeader::new("bot-a")))
        .submitter(Arc::new(target()))
        .alerter(alerts.clone())
        .alert_rules(AlertRules::default().failure_threshold(1))
        .retries(0, Duration::from_secs(1))
        .build()
        .unwrap();
    let report = e.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Failed(_)), "{report:?}");
    let sent = alerts.alerts();
    assert!(!sent.is_empty(), "the failure raised an alert");
    for a in &sent {
        assert!(a.key.starts_with("jeju-eth/"), "{a:?}");
        assert!(a.title.starts_with("[jeju-eth] "), "{a:?}");
    }
}
