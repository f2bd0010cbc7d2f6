//! `ChainlinkSource` against Chainlink's own `MockV3Aggregator` on anvil: every refusal, and the
//! L2 sequencer-uptime gate (a second `MockV3Aggregator` playing the uptime feed).
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, I256, U256, aliases::U80},
    providers::DynProvider,
};
use oracle_core::{
    FeedId, Observation, PriceSource, SourceError,
    evm::{RpcUrl, connect},
};
use oracle_sources::ChainlinkSource;
use oracle_tests::{anvil, deploy_aggregator, init_tracing, wallet_provider};

alloy::sol! {
    /// Chainlink's `MockV3Aggregator`: set a whole round.
    #[sol(rpc)]
    interface MockV3Aggregator {
        function updateRoundData(uint80 roundId, int256 answer, uint256 timestamp, uint256 startedAt) external;
    }
}

const MAX_AGE: Duration = Duration::from_secs(3600);

struct Chain {
    anvil: AnvilInstance,
    admin: DynProvider,
    aggregator: Address,
    round: std::sync::atomic::AtomicU64,
}

impl Chain {
    async fn start() -> Self {
        init_tracing();
        let anvil = anvil(8453);
        let admin = wallet_provider(&anvil, 0);
        let aggregator = deploy_aggregator(&admin, 8, 3_000_00000000).await;
        Self { anvil, admin, aggregator, round: std::sync::atomic::AtomicU64::new(10) }
    }

    fn reader(&self) -> DynProvider {
        connect(&RpcUrl::parse(&self.anvil.endpoint()).unwrap(), Duration::from_secs(10)).unwrap()
    }

    fn source(&self) -> ChainlinkSource {
        ChainlinkSource::new(self.reader(), self.aggregator, FeedId::ETH_USD, MAX_AGE)
    }

    /// Writes a round to `aggregator`: answer, updatedAt and startedAt (host seconds).
    async fn round(&self, aggregator: Address, answer: i128, updated_at: u64, started_at: u64) {
        let round = self.round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        MockV3Aggregator::new(aggregator, self.admin.clone())
            .updateRoundData(
                U80::from(round),
                I256::try_from(answer).unwrap(),
                U256::from(updated_at),
                U256::from(started_at),
            )
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn fetch(source: &ChainlinkSource) -> Result<Observation, SourceError> {
    source.fetch(&FeedId::ETH_USD).await
}

#[tokio::test]
async fn a_fresh_complete_positive_round_is_answered() {
    let chain = Chain::start().await;
    let t = now() - 30;
    chain.round(chain.aggregator, 3_245_67000000, t, t).await;
    let obs = fetch(&chain.source()).await.unwrap();
    assert_eq!(obs.price.to_string(), "3245.67000000");
    assert_eq!(obs.observed_at, UNIX_EPOCH + Duration::from_secs(t), "observed at the round's updatedAt");
    assert_eq!(obs.source, "chainlink:ETH/USD");
    assert!(matches!(
        chain.source().fetch(&FeedId::ELIZAOS_USD).await,
        Err(SourceError::UnsupportedFeed { .. })
    ));
}

#[tokio::test]
async fn every_bad_round_is_refused() {
    let chain = Chain::start().await;
    let source = chain.source();
    let t = now();

    chain.round(chain.aggregator, 0, t, t).await;
    assert!(matches!(fetch(&source).await, Err(SourceError::NonPositive { answer, .. }) if answer == "0"));
    chain.round(chain.aggregator, -1, t, t).await;
    assert!(matches!(fetch(&source).await, Err(SourceError::NonPositive { answer, .. }) if answer == "-1"));

    chain.round(chain.aggregator, 3_000_00000000, t - 7200, t - 7200).await;
    match fetch(&source).await {
        Err(SourceError::Stale { age, max_age, .. }) => {
            assert!(age >= Duration::from_secs(7200), "{age:?}");
            assert_eq!(max_age, MAX_AGE);
        }
        other => panic!("expected Stale, got {other:?}"),
    }

    chain.round(chain.aggregator, 3_000_00000000, t + 3600, t).await;
    match fetch(&source).await {
        Err(SourceError::Invalid { check: "timestamp", detail, .. }) => {
            assert!(detail.contains("in the future"), "{detail}")
        }
        other => panic!("expected a future timestamp refusal, got {other:?}"),
    }

    // updatedAt = 0: the round was started but never answered.
    chain.round(chain.aggregator, 3_000_00000000, 0, t).await;
    match fetch(&source).await {
        Err(SourceError::Invalid { check: "complete round", detail, .. }) => {
            assert!(detail.contains("no updatedAt"), "{detail}");
        }
        other => panic!("expected an incomplete round refusal, got {other:?}"),
    }

    // Back to normal: nothing sticks.
    chain.round(chain.aggregator, 3_000_00000000, t, t).await;
    assert_eq!(fetch(&source).await.unwrap().price.to_string(), "3000.00000000");
}

#[tokio::test]
async fn the_sequencer_uptime_feed_gates_prices() {
    let chain = Chain::start().await;
    // Chainlink's uptime feeds have 0 decimals; answer 0 = up, 1 = down.
    let uptime = deploy_aggregator(&chain.admin, 0, 0).await;
    let grace = Duration::from_secs(3600);
    let source = chain.source().with_sequencer_uptime_feed(uptime, grace);
    let t = now();
    chain.round(chain.aggregator, 3_000_00000000, t, t).await;

    // Up for two hours: prices flow.
    chain.round(uptime, 0, t - 7200, t - 7200).await;
    assert_eq!(fetch(&source).await.unwrap().price.to_string(), "3000.00000000");

    // Down.
    chain.round(uptime, 1, t - 60, t - 60).await;
    let sequencer_refusal = |result: Result<Observation, SourceError>| match result {
        Err(SourceError::Invalid { check: "sequencer uptime", detail, .. }) => detail,
        other => panic!("expected the sequencer refusal, got {other:?}"),
    };
    let detail = sequencer_refusal(fetch(&source).await);
    assert!(detail.contains("down") && detail.contains(&uptime.to_string()), "{detail}");

    // Back up a minute ago: still within the grace period.
    chain.round(uptime, 0, t - 60, t - 60).await;
    let detail = sequencer_refusal(fetch(&source).await);
    assert!(detail.contains("grace period") && detail.contains("3600s"), "{detail}");

    // An uptime round that was never started says nothing: refused.
    chain.round(uptime, 0, t, 0).await;
    sequencer_refusal(fetch(&source).await);

    // Up longer than the grace period: prices flow again.
    chain.round(uptime, 0, t - 3700, t - 3700).await;
    fetch(&source).await.unwrap();

    // The source without the gate never looks at the uptime feed.
    chain.round(uptime, 1, t, t).await;
    fetch(&chain.source()).await.unwrap();
    sequencer_refusal(fetch(&source).await);
}
