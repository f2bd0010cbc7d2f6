//! Many targets in one process (`oracle_core::Targets`): two contracts of different shapes on two
//! chains, each its own engine, submitter and key, ticked together in rounds; the Chainlink source
//! they share is read once per round, and both updates reach their chains.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::{
    primitives::{I256, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol,
    sol_types::{SolCall, SolValue},
};
use async_trait::async_trait;
use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter, Observation, Policy, Price, PriceSource, SourceError, Targets,
    TickOutcome,
    evm::{GenericTarget, Input, ManualOracleSubmitter, Output, RpcUrl},
};
use oracle_sources::{ChainlinkSource, FixedPriceSource, OncePerTick};
use oracle_tests::{
    Deployment, START_ELIZA, anvil, artifact_bytecode, deploy, repo_root, signer, wallet_provider,
};

sol! {
    function latest() external view returns (uint80, int256, int256, uint64);
}

/// Counts the reads that reach the source behind it.
struct Counting(Arc<dyn PriceSource>, AtomicUsize);

#[async_trait]
impl PriceSource for Counting {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.fetch(feed).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_on_two_chains_share_one_read_per_round() {
    // Chain one: Jeju's ManualPriceOracle (ETH/USD, elizaOS/USD), with the Chainlink source.
    let d = Deployment::start().await;
    // Chain two: a round-numbered feed of another shape (BTC/USD, ETH/USD at 18 decimals).
    let other = anvil(31_337);
    let admin = wallet_provider(&other, 0);
    let e18 = U256::from(10u8).pow(U256::from(18u8));
    let args = (
        other.addresses()[1],
        I256::try_from(U256::from(95_000u64) * e18).unwrap(),
        I256::try_from(U256::from(3_000u64) * e18).unwrap(),
    )
        .abi_encode_params();
    let feed =
        deploy(&admin, artifact_bytecode(&repo_root().join("contracts/artifacts/RoundPriceFeed.json")), args)
            .await;

    let chainlink = Arc::new(Counting(
        Arc::new(ChainlinkSource::new(
            d.source_provider(),
            d.aggregator,
            FeedId::ETH_USD,
            Duration::from_secs(3600),
        )),
        AtomicUsize::new(0),
    ));
    // One read of ETH/USD per round, whichever target asks first.
    let eth: Arc<dyn PriceSource> = Arc::new(OncePerTick::new(chainlink.clone()));
    let btc = FeedId::new("BTC/USD");
    let policy = Policy::builder().min_interval(Duration::ZERO).build().unwrap();

    let jeju = Engine::builder()
        .target("jeju")
        .source(FeedId::ETH_USD, eth.clone())
        .source(
            FeedId::ELIZAOS_USD,
            Arc::new(FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::from_u128(START_ELIZA, 8).unwrap())),
        )
        .elector(Arc::new(AlwaysLeader::new("bot")))
        .submitter(Arc::new(d.submitter(1).await))
        .alerter(Arc::new(LogAlerter))
        .policy(policy.clone())
        .build()
        .unwrap();
    let generic = GenericTarget::builder()
        .update("submit(uint80 round, int256 btc, int256 eth, uint64 observed)")
        .inputs([Input::Round, Input::Price(btc.clone()), Input::Price(FeedId::ETH_USD), Input::Timestamp])
        .getter("latest() view returns (uint80, int256, int256, uint64)")
        .outputs([
            Output::Round,
            Output::Price(btc.clone()),
            Output::Price(FeedId::ETH_USD),
            Output::UpdatedAt,
        ])
        .decimals(18)
        .build()
        .unwrap();
    let other_provider =
        oracle_core::evm::connect(&RpcUrl::parse(&other.endpoint()).unwrap(), Duration::from_secs(10))
            .unwrap();
    let rounds_submitter = ManualOracleSubmitter::builder()
        .provider(other_provider.clone())
        .chain_name("other")
        .oracle(feed)
        .signer(signer(&other, 1))
        .poll_interval(Duration::from_millis(50))
        .generic(generic)
        .connect()
        .await
        .unwrap();
    let rounds = Engine::builder()
        .target("rounds")
        .source(FeedId::ETH_USD, eth.clone())
        .source(btc.clone(), Arc::new(FixedPriceSource::new(btc.clone(), Price::whole(95_000))))
        .elector(Arc::new(AlwaysLeader::new("bot")))
        .submitter(Arc::new(rounds_submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(policy)
        .build()
        .unwrap();
    let targets = Targets::new(Duration::from_secs(1))
        .target("jeju", Arc::new(jeju))
        .target("rounds", Arc::new(rounds));

    // Nothing moved: both skip, and ETH/USD was read once for the two of them.
    let round = targets.tick().await;
    assert!(round.iter().all(|(_, r)| matches!(r.outcome, TickOutcome::Skipped(_))), "{round:#?}");
    assert_eq!(chainlink.1.load(Ordering::Relaxed), 1, "one Chainlink read for two targets");

    // ETH moves 3.3 %: both targets update in the same round, from the same read.
    d.set_eth(3_100_00000000).await;
    let round = targets.tick().await;
    for (name, report) in &round {
        assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{name}: {:?}", report.outcome);
    }
    // The landing re-reads nothing from the source: one more read for the round.
    assert_eq!(chainlink.1.load(Ordering::Relaxed), 2, "one Chainlink read per round");
    assert_eq!(d.prices().await.0, U256::from(3_100_00000000u128), "Jeju's oracle holds the move");
    let raw = other_provider
        .call(TransactionRequest::default().to(feed).input(latestCall {}.abi_encode().into()))
        .await
        .unwrap();
    let stored = latestCall::abi_decode_returns(&raw).unwrap();
    assert_eq!(stored._0, alloy::primitives::aliases::U80::from(1u8), "round 1 on the other chain");
    assert_eq!(
        stored._2,
        I256::try_from(U256::from(3_100u64) * e18).unwrap(),
        "the same ETH price, at 18 decimals"
    );
}
