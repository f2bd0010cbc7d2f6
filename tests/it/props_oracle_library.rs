//! Property test of the Uniswap math against Uniswap's own `OracleLibrary` (the compiled harness
//! of `sources_oracle_library.rs`, on anvil): for generated ticks over the whole range (the ends
//! included), any base amount and both token orders, `quote_at_tick` equals `getQuoteAtTick` to the
//! last unit (which goes through `TickMath.getSqrtRatioAtTick`, so the sqrt ratio is checked at
//! every tick drawn), and `weighted_arithmetic_mean_tick` equals `getWeightedArithmeticMeanTick`.
//!
//! Cases: `PROPTEST_CASES` (default 256), drawn by proptest's deterministic runner and checked
//! with `eth_call`s; see docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::primitives::{Address, U256, aliases::I24};
use oracle_sources::uniswap::{
    price_math::{quote_at_tick, weighted_arithmetic_mean_tick},
    tick_math::{MAX_TICK, MIN_TICK},
};
use oracle_tests::{anvil, artifact_bytecode, deploy, repo_root, wallet_provider};
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::TestRunner,
};

alloy::sol! {
    /// contracts/test-helpers-0.7/OracleLibraryHarness.sol
    #[sol(rpc)]
    interface OracleLibraryHarness {
        function weightedArithmeticMeanTick(int24[] calldata ticks, uint128[] calldata weights) external pure returns (int24);
        function quoteAtTick(int24 tick, uint128 baseAmount, address baseToken, address quoteToken) external pure returns (uint256);
    }
}

fn cases() -> usize {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn tick() -> impl Strategy<Value = i32> {
    proptest::prop_oneof![
        MIN_TICK..=MAX_TICK,
        MIN_TICK..MIN_TICK + 100,
        MAX_TICK - 100..=MAX_TICK,
        -2000i32..2000
    ]
}

fn i24(t: i32) -> I24 {
    I24::try_from(t).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_and_weighted_means_equal_oracle_library_at_generated_inputs() {
    let chain = anvil(31_337);
    let admin = wallet_provider(&chain, 0);
    let address = deploy(
        &admin,
        artifact_bytecode(&repo_root().join(".tools/artifacts/OracleLibraryHarness.json")),
        Vec::new(),
    )
    .await;
    let harness = OracleLibraryHarness::new(address, admin.clone());
    let (a, b) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));

    let mut runner = TestRunner::deterministic();
    let quote_case = (
        tick(),
        proptest::prop_oneof![proptest::num::u128::ANY, 1u128..1_000_000_000_000_000_000_000u128],
        proptest::bool::ANY,
    );
    for _ in 0..cases() {
        let (t, amount, order) = quote_case.new_tree(&mut runner).unwrap().current();
        let (base, quote) = if order { (a, b) } else { (b, a) };
        let ours = quote_at_tick(t, amount, base, quote).unwrap();
        let theirs: U256 = harness.quoteAtTick(i24(t), amount, base, quote).call().await.unwrap();
        assert_eq!(ours, theirs, "quote at tick {t} of {amount}, base {base}");
    }

    let weights = proptest::collection::vec(
        (tick(), proptest::prop_oneof![1u128..1_000_000, proptest::num::u128::ANY]),
        1..6,
    );
    for _ in 0..cases() / 4 {
        let pairs = weights.new_tree(&mut runner).unwrap().current();
        let ours = weighted_arithmetic_mean_tick(&pairs).unwrap();
        let ticks: Vec<I24> = pairs.iter().map(|(t, _)| i24(*t)).collect();
        let ws: Vec<u128> = pairs.iter().map(|(_, w)| *w).collect();
        let theirs = harness.weightedArithmeticMeanTick(ticks, ws).call().await.unwrap();
        assert_eq!(i24(ours), theirs, "weighted mean of {pairs:?}");
    }
}
