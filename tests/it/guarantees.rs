//! The project's promises where the real pieces meet: real electors (file, Redis, etcd) with the
//! bot's lease settings, the real engine, the real EVM submitter, anvil. Every verdict is read
//! from the chain (`PricesUpdated` events and the transactions behind them), not from what a part
//! says it did.
//!
//! - A leader's stuck update is replaced (bumped fees, fresh calldata) however long it sticks,
//!   as long as the term is renewed, and exactly one update lands.
//! - A leader deposed by an operator in the middle of a tick that is about to send: at most one
//!   update lands on the plain oracle; on the fenced one the deposed leader sends nothing.
//! - Tokens never go backwards: a fresh lock file, a fresh Redis, a fresh etcd all issue tokens
//!   above the fenced oracle's highest.
//! - A broadcast whose answer is lost is followed, never repeated.
//! - A node that answers an older block than before, or fails the fence detection once, breaks
//!   nothing.

// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    future::Future,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::{
    primitives::U256,
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use async_trait::async_trait;
use oracle_core::{
    BootInstant, Engine, Fence, FencingToken, LeaderElector, Lease, LogAlerter, OnChainState, PendingUpdate,
    PriceUpdate, Rejection, SubmitError, Submitter, TickFailure, TickOutcome, UpdateOutcome,
    evm::{EvmError, ManualOracleSubmitter, RpcUrl, bindings::FencedPriceOracle, classify_transport_error},
};
use oracle_election::{Elector, ElectorConfig, EtcdConfig, LeaseConfig, RedisUrl};
use oracle_tests::{
    Deployment,
    chain::{await_pending_with_price, update_events, updates},
    election::{EtcdServer, RedisServer, serial},
    init_tracing,
    parts::engine_builder,
    proxy::{RpcProxy, Verdict, methods},
    signer,
};
use tokio::sync::{Notify, Semaphore};

/// The longest any awaited event may take before the test fails as hung (not a timing
/// assertion: stuck detection alone takes 12 s here).
const HANG_GUARD: Duration = Duration::from_secs(90);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, fut).await.unwrap_or_else(|_| panic!("hung: {what}"))
}

/// An engine like the bot's with election on: the bot's sources, `elector`, `submitter`, the
/// lease margin the bot derives from `lease`, no in-tick retries (failures show at once).
fn elected_engine(
    d: &Deployment,
    elector: Arc<dyn LeaderElector>,
    submitter: Arc<dyn Submitter>,
    lease: LeaseConfig,
) -> Engine {
    engine_builder(d, elector, submitter)
        .alerter(Arc::new(LogAlerter))
        .lease_margin(lease.action_margin())
        .build()
        .unwrap()
}

/// A Redis that has served this fleet before (its token counter exists), so the first
/// acquisition is not held for the lease a fresh Redis waits out.
fn seasoned_redis(redis: &RedisServer, prefix: &str) -> ElectorConfig {
    let key = format!("{{{prefix}}}:epoch");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "SET", &key, "1000"])
        .output()
        .expect("redis-cli runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    ElectorConfig::Redis { url: RedisUrl::parse(&redis.url()).unwrap(), key_prefix: prefix.into() }
}

fn file_config(dir: &Path) -> ElectorConfig {
    ElectorConfig::File { path: dir.join("leader.lock") }
}

fn etcd_config(etcd: &EtcdServer) -> ElectorConfig {
    ElectorConfig::Etcd(EtcdConfig::new([etcd.endpoint()]))
}

// ---------------------------------------------------------------------------------------------
// A stuck update is replaced under the bot's default lease.
// ---------------------------------------------------------------------------------------------

/// With the bot's default lease (15 s lease, renewed every 2 s, 10 s deadline, 2 s margin) a
/// transaction stuck for 12 s, longer than the term as first granted, is replaced with fresh
/// prices and bumped fees, and exactly one update lands once mining resumes.
async fn stuck_update_is_replaced_by_the_elected_leader(config: ElectorConfig) {
    init_tracing();
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let lease = LeaseConfig::default();
    let elector: Arc<dyn LeaderElector> = config.connect("bot-a", lease).await.unwrap();
    let submitter = d.submitter_with(1, |b| b.stuck_after(Duration::from_secs(12)).stuck_blocks(1_000)).await;
    let engine = Arc::new(elected_engine(&d, elector, Arc::new(submitter), lease));

    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    d.set_eth(3_100_00000000).await;
    let tick = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.tick().await }
    });
    let (first, first_max, _) =
        within("the first send", await_pending_with_price(&d.target_admin, d.updater, 3_100_00000000)).await;
    d.set_eth(3_200_00000000).await;
    let (replacement, max, _) = within(
        "the replacement (a fence fixed at the tick's start refuses it after ~8 s)",
        await_pending_with_price(&d.target_admin, d.updater, 3_200_00000000),
    )
    .await;
    assert_ne!(first, replacement);
    assert!(max > first_max + first_max / 10, "max fee {first_max} -> {max}");

    d.target_admin.anvil_set_auto_mine(true).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    let report = within("the tick's end", tick).await.unwrap();
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    let landed = updates(&d).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].eth, U256::from(3_200_00000000u128), "the fresh price landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_update_is_replaced_under_the_file_elector() {
    let dir = tempfile::tempdir().unwrap();
    stuck_update_is_replaced_by_the_elected_leader(file_config(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_update_is_replaced_under_the_redis_elector() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    stuck_update_is_replaced_by_the_elected_leader(seasoned_redis(&redis, "stuck")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_update_is_replaced_under_the_etcd_elector() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    stuck_update_is_replaced_by_the_elected_leader(etcd_config(&etcd)).await;
}

// ---------------------------------------------------------------------------------------------
// A leader deposed while it is about to send.
// ---------------------------------------------------------------------------------------------

/// The real submitter, held at the door of `send` until the test lets it through.
struct Gated {
    inner: ManualOracleSubmitter,
    arrived: Notify,
    go: Semaphore,
}

#[async_trait]
impl Submitter for Gated {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        self.inner.read_state().await
    }
    async fn simulate(&self, u: &PriceUpdate, f: &Fence) -> Result<(), SubmitError> {
        self.inner.simulate(u, f).await
    }
    async fn send(&self, u: &PriceUpdate, f: &Fence) -> Result<PendingUpdate, SubmitError> {
        self.arrived.notify_one();
        self.go.acquire().await.unwrap().forget();
        self.inner.send(u, f).await
    }
    async fn wait(&self, p: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        self.inner.wait(p).await
    }
    async fn replace(
        &self,
        p: &PendingUpdate,
        u: &PriceUpdate,
        f: &Fence,
    ) -> Result<PendingUpdate, SubmitError> {
        self.inner.replace(p, u, f).await
    }
    async fn fencing_floor(&self) -> Result<Option<FencingToken>, SubmitError> {
        self.inner.fencing_floor().await
    }
}

struct Deposed {
    d: Deployment,
    a_elector: Arc<dyn Elector>,
    a_lease: Lease,
    a_tick: Option<tokio::task::JoinHandle<oracle_core::TickReport>>,
    gate: Arc<Gated>,
    b: Engine,
    b_elector: Arc<dyn Elector>,
}

impl Deposed {
    /// Bot A leads and reaches `send`; an operator deposes it there.
    async fn start(fenced: bool, config: ElectorConfig) -> Self {
        init_tracing();
        let d = if fenced { Deployment::start_fenced().await } else { Deployment::start().await };
        d.advance_target(120).await;
        d.set_eth(3_100_00000000).await;
        let lease = LeaseConfig::default();
        let a_elector = config.connect("bot-a", lease).await.unwrap();
        let b_elector = config.connect("bot-b", lease).await.unwrap();
        let admin = config.connect("operator", lease).await.unwrap();
        // Both bots share the updater key, as the seeds' deployments do.
        let gate =
            Arc::new(Gated { inner: d.submitter(1).await, arrived: Notify::new(), go: Semaphore::new(0) });
        let a = Arc::new(elected_engine(&d, a_elector.clone(), gate.clone(), lease));
        let b = elected_engine(&d, b_elector.clone(), Arc::new(d.submitter(1).await), lease);
        let a_tick = tokio::spawn(async move { a.tick().await });
        within("bot A at the door of send", gate.arrived.notified()).await;
        let deposed = admin.force_step_down().await.unwrap().expect("bot A led");
        assert_eq!(deposed.holder, "bot-a");
        let a_lease = Lease { holder: "bot-a".into(), token: deposed.token, valid_until: BootInstant::now() };
        Self { d, a_elector, a_lease, a_tick: Some(a_tick), gate, b, b_elector }
    }

    /// Whether bot A's deposed term is over.
    fn a_is_done(&self) -> bool {
        self.a_elector.live_deadline(&self.a_lease).is_none()
    }

    /// Ticks B until it leads (it may only once A's term is over), checking that at every step.
    async fn tick_b_until_it_leads(&self) -> oracle_core::TickReport {
        let mut wake = self.b_elector.watch().unwrap();
        within("bot B leading", async {
            loop {
                let report = self.b.tick().await;
                if !matches!(report.outcome, TickOutcome::Follower { .. }) {
                    assert!(
                        self.a_is_done(),
                        "bot B led while the deposed bot A could still act: {report:?}"
                    );
                    return report;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), wake.changed()).await;
            }
        })
        .await
    }

    /// Lets bot A's held `send` go on; returns its tick's report.
    async fn let_a_through(&mut self) -> oracle_core::TickReport {
        self.gate.go.add_permits(1);
        let tick = self.a_tick.take().expect("bot A's tick runs");
        within("bot A's tick", tick).await.unwrap()
    }
}

/// Plain oracle: B tries right after the step-down (it must not lead yet), A goes on to send
/// (it may: nobody else can lead until it let go, or else its fence refuses), then B leads.
/// Exactly one update lands. When a step-down freed the record at once, B led at once and both
/// updates landed.
async fn deposed_leader_on_the_plain_oracle(config: ElectorConfig) {
    let mut s = Deposed::start(false, config).await;
    let early = s.b.tick().await;
    if !matches!(early.outcome, TickOutcome::Follower { .. }) {
        assert!(s.a_is_done(), "B led at once: {early:?}");
    }
    let a_report = s.let_a_through().await;
    assert!(
        matches!(
            a_report.outcome,
            TickOutcome::Submitted(_) | TickOutcome::Failed(TickFailure::LeaseLost(_))
        ),
        "{a_report:?}"
    );
    let b_report = s.tick_b_until_it_leads().await;
    let landed = updates(&s.d).await;
    assert_eq!(landed.len(), 1, "A: {a_report:?}\nB: {b_report:?}\n{landed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_lands_at_most_one_update_on_the_plain_oracle() {
    let dir = tempfile::tempdir().unwrap();
    deposed_leader_on_the_plain_oracle(file_config(dir.path())).await;
}

/// Fenced oracle: B leads (only after A's term is over) and lands its update; then A, still
/// holding its stale term's tick, tries to send: its fence refuses, and the chain would too.
async fn deposed_leader_on_the_fenced_oracle(config: ElectorConfig) {
    let mut s = Deposed::start(true, config).await;
    let b_report = s.tick_b_until_it_leads().await;
    assert!(matches!(b_report.outcome, TickOutcome::Submitted(_)), "{b_report:?}");
    let b_token = b_report.token.expect("B led with a token");
    assert!(b_token > s.a_lease.token);
    let a_report = s.let_a_through().await;
    assert!(matches!(a_report.outcome, TickOutcome::Failed(TickFailure::LeaseLost(_))), "{a_report:?}");
    // Had A's send gone out, the oracle would have refused its token.
    let call = FencedPriceOracle::updatePricesFencedCall {
        newEthPrice: U256::from(3_150_00000000u128),
        newElizaPrice: U256::from(oracle_tests::START_ELIZA),
        fencingToken: U256::from(s.a_lease.token.0),
    };
    let tx = TransactionRequest::default().from(s.d.updater).to(s.d.oracle).input(call.abi_encode().into());
    let err = s.d.target_admin.call(tx).await.unwrap_err();
    assert!(
        matches!(classify_transport_error(&err), SubmitError::Rejected(Rejection::StaleFencingToken { .. })),
        "{err}"
    );
    let landed = updates(&s.d).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].token, Some(b_token.0), "only B's update landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_send_is_refused_on_the_fenced_oracle() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    deposed_leader_on_the_fenced_oracle(seasoned_redis(&redis, "deposed")).await;
}

// ---------------------------------------------------------------------------------------------
// Tokens never go backwards.
// ---------------------------------------------------------------------------------------------

/// Far above any token the backends issue on their own (Redis starts from its clock in ms).
const HIGH_FLOOR: u64 = 10_000_000_000_000;

/// Leads with a fresh elector on `config` and lands an update at `eth`; returns its token.
async fn lands_above_the_floor(d: &Deployment, config: ElectorConfig, id: &str, eth: i128) -> u64 {
    d.advance_target(120).await;
    d.set_eth(eth).await;
    let lease =
        LeaseConfig::new(Duration::from_millis(1500), Duration::from_millis(200), Duration::from_secs(1))
            .unwrap();
    let elector: Arc<dyn LeaderElector> = config.connect(id, lease).await.unwrap();
    let engine = elected_engine(d, elector.clone(), Arc::new(d.submitter(1).await), lease);
    let mut wake = elector.watch().unwrap();
    let report = within("an update from the fresh backend", async {
        loop {
            let report = engine.tick().await;
            match report.outcome {
                // A fresh Redis holds the election for one lease.
                TickOutcome::Follower { .. } => {
                    let _ = tokio::time::timeout(Duration::from_millis(100), wake.changed()).await;
                }
                _ => return report,
            }
        }
    })
    .await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{id}: {report:?}");
    let token = report.token.expect("a leader's token").0;
    assert!(token > HIGH_FLOOR, "{id}: token {token} is not above the oracle's {HIGH_FLOOR}");
    elector.release().await.unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_backends_issue_tokens_above_the_fenced_oracles_highest() {
    init_tracing();
    let _serial = serial().await;
    let d = Deployment::start_fenced().await;
    // The oracle has seen a token no backend would reach on its own (another fleet, another
    // backend, or a restored snapshot issued it).
    let owner = FencedPriceOracle::new(d.oracle, d.target_admin.clone());
    owner.setHighestFencingToken(U256::from(HIGH_FLOOR)).send().await.unwrap().get_receipt().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = lands_above_the_floor(&d, file_config(dir.path()), "file-bot", 3_100_00000000).await;
    // The lock file is wiped (a /tmp cleared at boot): the next term is still above.
    std::fs::remove_file(dir.path().join("leader.lock")).unwrap();
    let wiped = lands_above_the_floor(&d, file_config(dir.path()), "file-bot-2", 3_200_00000000).await;
    assert!(wiped > file, "{wiped} after {file}");

    let redis = RedisServer::start().await;
    let redis_config =
        ElectorConfig::Redis { url: RedisUrl::parse(&redis.url()).unwrap(), key_prefix: "floor".into() };
    let from_redis = lands_above_the_floor(&d, redis_config, "redis-bot", 3_300_00000000).await;
    assert!(from_redis > wiped);

    let etcd = EtcdServer::start().await;
    let from_etcd = lands_above_the_floor(&d, etcd_config(&etcd), "etcd-bot", 3_400_00000000).await;
    assert!(from_etcd > from_redis);
    assert_eq!(update_events(&d).await, 4);
}

// ---------------------------------------------------------------------------------------------
// Lost answers and odd nodes.
// ---------------------------------------------------------------------------------------------

/// The first `eth_sendRawTransaction` reaches anvil but its answer never comes back. The update
/// is followed as sent: the next tick follows it instead of sending again, and one update lands.
/// When a lost answer meant "not sent", the next tick sent at the next nonce and both landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_whose_answer_is_lost_is_followed_not_repeated() {
    init_tracing();
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let hung = Arc::new(AtomicUsize::new(0));
    let proxy = RpcProxy::start(&d.target.endpoint(), {
        let hung = Arc::clone(&hung);
        move |body| {
            let is_send = methods(body).iter().any(|m| m == "eth_sendRawTransaction");
            if is_send && hung.fetch_add(1, Ordering::SeqCst) == 0 {
                Verdict::ForwardThenHang
            } else {
                Verdict::Forward
            }
        }
    })
    .await;
    let submitter = d
        .submitter_at(&proxy.url, Duration::from_secs(2), 1, |b| b.stuck_after(Duration::from_secs(600)))
        .await;
    let engine = engine_builder(&d, Arc::new(oracle_core::AlwaysLeader::new("bot-a")), Arc::new(submitter))
        .receipt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    d.set_eth(3_100_00000000).await;
    let first = within("the first tick", engine.tick()).await;
    // Its broadcast got no answer: it waits for the receipt, gives up at the receipt timeout, and
    // keeps following the transaction.
    assert!(matches!(first.outcome, TickOutcome::Failed(TickFailure::Wait(_))), "{first:?}");
    assert_eq!(proxy.count("eth_sendRawTransaction", Verdict::ForwardThenHang), 1);
    let second = within("the second tick", engine.tick()).await;
    assert!(matches!(second.outcome, TickOutcome::Failed(TickFailure::Wait(_))), "{second:?}");
    assert_eq!(proxy.count("eth_sendRawTransaction", Verdict::Forward), 0, "nothing was sent again");

    d.target_admin.anvil_set_auto_mine(true).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    let third = within("the third tick", engine.tick()).await;
    assert!(matches!(third.outcome, TickOutcome::Submitted(_)), "{third:?}");
    assert_eq!(update_events(&d).await, 1);
    assert_eq!(d.nonce(d.updater).await, 1, "one nonce used");
}

/// One failed `highestFencingToken()` read at connect is an unreachable node, not "a plain
/// oracle": connecting fails (and is retried), instead of a bot that sends the unfenced call to
/// the fenced oracle forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fence_detection_is_not_taken_for_a_plain_oracle() {
    init_tracing();
    let d = Deployment::start_fenced().await;
    let selector = format!("0x{}", alloy::hex::encode(FencedPriceOracle::highestFencingTokenCall::SELECTOR));
    let failed = Arc::new(AtomicUsize::new(0));
    let proxy = RpcProxy::start(&d.target.endpoint(), {
        let failed = Arc::clone(&failed);
        move |body| {
            let asks_fence = body.to_string().contains(&selector);
            if asks_fence && failed.fetch_add(1, Ordering::SeqCst) == 0 {
                Verdict::Fail
            } else {
                Verdict::Forward
            }
        }
    })
    .await;
    let connect = || async {
        let provider =
            oracle_core::evm::connect(&RpcUrl::parse(&proxy.url).unwrap(), Duration::from_secs(2)).unwrap();
        ManualOracleSubmitter::builder()
            .provider(provider)
            .oracle(d.oracle)
            .signer(signer(&d.target, 1))
            .connect()
            .await
    };
    let err = connect().await.unwrap_err();
    assert!(matches!(err, EvmError::Unreachable { .. }), "{err}");
    let submitter = connect().await.unwrap();
    assert!(submitter.is_fenced());
}

/// A node that answers an older block than before (a failover to an endpoint within the allowed
/// lag; here anvil reverted to a snapshot) while an update is followed: no panic (the block
/// count went `latest - first` below zero), the update is replaced and lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_block_while_waiting_breaks_nothing() {
    init_tracing();
    let d = Deployment::start().await;
    d.advance_target(120).await;
    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    let snapshot = d.target_admin.anvil_snapshot().await.unwrap();
    for _ in 0..3 {
        d.target_admin.evm_mine(None).await.unwrap();
    }
    let proxy = RpcProxy::start(&d.target.endpoint(), |_| Verdict::Forward).await;
    let submitter = d
        .submitter_at(&proxy.url, Duration::from_secs(5), 1, |b| {
            b.stuck_after(Duration::from_secs(1)).stuck_blocks(1_000)
        })
        .await;
    let engine = Arc::new(
        engine_builder(&d, Arc::new(oracle_core::AlwaysLeader::new("bot-a")), Arc::new(submitter))
            .build()
            .unwrap(),
    );
    d.set_eth(3_100_00000000).await;
    let tick = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.tick().await }
    });
    within("the send", await_pending_with_price(&d.target_admin, d.updater, 3_100_00000000)).await;
    // The wait has polled at the later block once the send was followed by a block number read.
    let before = proxy.count("eth_blockNumber", Verdict::Forward);
    within("a receipt poll", async {
        while proxy.count("eth_blockNumber", Verdict::Forward) <= before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(d.target_admin.anvil_revert(snapshot).await.unwrap());
    // The replacement (or the original, if anvil kept it) lands once mining resumes.
    within("a transaction in the pool after the revert", async {
        while oracle_tests::chain::pending_from(&d.target_admin, d.updater).await == 0 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    d.target_admin.anvil_set_auto_mine(true).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    let report = within("the tick's end", tick).await.expect("the tick did not panic");
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(update_events(&d).await, 1);
}
