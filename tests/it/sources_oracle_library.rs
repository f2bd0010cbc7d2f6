//! The TWAP math of `oracle_sources::uniswap` against Uniswap's own `OracleLibrary`
//! (`@uniswap/v3-periphery` 1.4.4, compiled with solc 0.7.6 into a small harness by
//! `scripts/setup.sh`), on real Uniswap V3 pools on anvil: for pools in both token orders, with
//! 18/18 and 6/18 decimals, at ordinary, negative and extreme ticks, over two or three fee tiers,
//! every pool's mean tick and harmonic-mean liquidity (`consult`), the liquidity-weighted mean
//! tick (`getWeightedArithmeticMeanTick`) and the quote at it (`getQuoteAtTick`) are equal to the
//! last unit.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alloy::primitives::{Address, U256, aliases::I24};
use oracle_core::{FeedId, Price, PriceSource};
use oracle_sources::{
    PriceMode, UniswapV3Source,
    uniswap::price_math::{quote_at_tick, weighted_arithmetic_mean_tick},
};
use oracle_tests::{
    artifact_bytecode, deploy, init_tracing, repo_root,
    uniswap::{LIQUIDITY, UniswapChain, exact},
};

alloy::sol! {
    /// contracts/test-helpers-0.7/OracleLibraryHarness.sol
    #[sol(rpc)]
    interface OracleLibraryHarness {
        function consult(address pool, uint32 secondsAgo) external view returns (int24 arithmeticMeanTick, uint128 harmonicMeanLiquidity);
        function weightedArithmeticMeanTick(int24[] calldata ticks, uint128[] calldata weights) external pure returns (int24);
        function quoteAtTick(int24 tick, uint128 baseAmount, address baseToken, address quoteToken) external pure returns (uint256);
    }
}

const WINDOW: u32 = 1800;

struct Case {
    base_decimals: u8,
    quote_decimals: u8,
    base_is_token0: bool,
    /// The price each fee tier's pool starts at, in whole quote tokens per base token.
    tiers: &'static [(u32, &'static str)],
}

/// Builds the case's pools with 40 minutes of history, then compares everything with the harness.
async fn agrees_with_oracle_library(case: Case) {
    init_tracing();
    let chain = UniswapChain::start().await;
    let harness_address = deploy(
        &chain.admin,
        artifact_bytecode(&repo_root().join(".tools/artifacts/OracleLibraryHarness.json")),
        Vec::new(),
    )
    .await;
    let harness = OracleLibraryHarness::new(harness_address, chain.admin.clone());
    let (base, quote) = chain.pair(case.base_decimals, case.quote_decimals, case.base_is_token0).await;
    let mut pools = Vec::new();
    for (i, (fee, price)) in case.tiers.iter().enumerate() {
        let sqrt =
            exact::sqrt_price_x96_for(price, case.base_decimals, case.quote_decimals, case.base_is_token0);
        let pool = chain.create_pool(base, quote, *fee, sqrt).await;
        chain.grow_observations(pool, 50).await;
        // Different depths, so the weights matter.
        chain.add_liquidity_around(pool, 20_000, LIQUIDITY / (i as u128 + 1)).await;
        pools.push(pool);
    }
    for round in 0..6u64 {
        chain.advance(400).await;
        for (i, pool) in pools.iter().enumerate() {
            chain.swap_fraction(*pool, (round + i as u64).is_multiple_of(2), 50 * (round % 3 + 1)).await;
        }
    }
    chain.advance(100).await;

    let source = UniswapV3Source::builder(chain.reader(), FeedId::new("BASE/QUOTE"))
        .factory(chain.factory)
        .fee_tiers(case.tiers.iter().map(|(fee, _)| *fee))
        .token(base)
        .quote(quote)
        .mode(PriceMode::Twap)
        .window(Duration::from_secs(u64::from(WINDOW)))
        .decimals(case.quote_decimals)
        .max_divergence_bps(u64::MAX)
        .min_depth(Price::whole(0))
        .build()
        .unwrap();
    // Nothing is mined between the source's reads and the harness's: both read the same block.
    let (weighted, windows) = source.pools_over_window().await.unwrap();
    assert_eq!(windows.len(), pools.len());
    let mut ticks = Vec::new();
    let mut weights = Vec::new();
    for w in &windows {
        let consulted = harness.consult(w.pool, WINDOW).call().await.unwrap();
        assert_eq!(w.tick, consulted.arithmeticMeanTick.as_i32(), "mean tick of pool {}", w.pool);
        assert_eq!(
            w.liquidity, consulted.harmonicMeanLiquidity,
            "harmonic-mean liquidity of pool {}",
            w.pool
        );
        ticks.push(I24::try_from(w.tick).unwrap());
        weights.push(w.liquidity);
    }
    let theirs = harness.weightedArithmeticMeanTick(ticks, weights).call().await.unwrap().as_i32();
    assert_eq!(weighted, theirs, "weighted mean tick");
    let pairs: Vec<(i32, u128)> = windows.iter().map(|w| (w.tick, w.liquidity)).collect();
    assert_eq!(weighted_arithmetic_mean_tick(&pairs).unwrap(), theirs);

    // The quote of one whole base token at the weighted tick, and the price the source answers.
    let one_base = 10u128.pow(u32::from(case.base_decimals));
    let theirs =
        harness.quoteAtTick(I24::try_from(weighted).unwrap(), one_base, base, quote).call().await.unwrap();
    assert_eq!(quote_at_tick(weighted, one_base, base, quote).unwrap(), theirs, "quote at tick {weighted}");
    let sqrt = oracle_sources::uniswap::tick_math::sqrt_ratio_at_tick(weighted).unwrap();
    if sqrt <= U256::from(u128::MAX) {
        // Below 2^128 getQuoteAtTick floors once, as the source does: the answered price (at the
        // quote token's decimals) is that quote exactly.
        match source.fetch(&FeedId::new("BASE/QUOTE")).await {
            Ok(answered) => {
                assert_eq!(answered.price.mantissa(), theirs, "the source's price at tick {weighted}")
            }
            // Below one unit at the quote's decimals: a zero price is refused, never answered.
            Err(oracle_core::SourceError::NonPositive { .. }) => assert!(theirs.is_zero(), "{theirs}"),
            Err(other) => panic!("{other}"),
        }
    }
    eprintln!("weighted tick {weighted} over {} pool(s), quote {theirs}", windows.len());
}

#[tokio::test]
async fn base_token0_18_18_two_tiers() {
    agrees_with_oracle_library(Case {
        base_decimals: 18,
        quote_decimals: 18,
        base_is_token0: true,
        tiers: &[(500, "0.00003"), (3000, "0.000031")],
    })
    .await;
}

#[tokio::test]
async fn base_token1_18_18_three_tiers() {
    agrees_with_oracle_library(Case {
        base_decimals: 18,
        quote_decimals: 18,
        base_is_token0: false,
        tiers: &[(500, "0.00003"), (3000, "0.000029"), (10_000, "0.0000305")],
    })
    .await;
}

#[tokio::test]
async fn base_token0_6_18_two_tiers() {
    agrees_with_oracle_library(Case {
        base_decimals: 6,
        quote_decimals: 18,
        base_is_token0: true,
        tiers: &[(500, "0.00003"), (10_000, "0.0000312")],
    })
    .await;
}

#[tokio::test]
async fn base_token1_6_18_two_tiers() {
    agrees_with_oracle_library(Case {
        base_decimals: 6,
        quote_decimals: 18,
        base_is_token0: false,
        tiers: &[(3000, "0.00003"), (10_000, "0.0000297")],
    })
    .await;
}

#[tokio::test]
async fn a_deeply_negative_tick() {
    // 1e-30 quote per base: tick near -690,000.
    agrees_with_oracle_library(Case {
        base_decimals: 18,
        quote_decimals: 18,
        base_is_token0: true,
        tiers: &[(3000, "0.000000000000000000000000000001"), (10_000, "0.0000000000000000000000000000011")],
    })
    .await;
}

#[tokio::test]
async fn an_extreme_positive_tick_past_2_128() {
    // 1e30 quote per base: tick near +690,000, a sqrt price above 2^128 (getQuoteAtTick's
    // second branch).
    agrees_with_oracle_library(Case {
        base_decimals: 18,
        quote_decimals: 18,
        base_is_token0: true,
        tiers: &[(3000, "1000000000000000000000000000000"), (10_000, "1100000000000000000000000000000")],
    })
    .await;
}

#[test]
fn the_address_order_decides_the_quote_direction() {
    // getQuoteAtTick prices by address order, not by "token0": both directions are covered above.
    let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
    assert_ne!(quote_at_tick(100, 1_000_000, a, b).unwrap(), quote_at_tick(100, 1_000_000, b, a).unwrap());
}
