//! `UniswapV3Source` against Uniswap's real factory and pool bytecode on anvil: exact TWAP and
//! spot prices in both token orders and with 18/18, 6/18 and 18/6 decimals, the TickMath port
//! against the pool's own tick math, the manipulation guard, the history check and the choice
//! among fee tiers.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alloy::primitives::{Address, U256};
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError};
use oracle_sources::{
    PriceMode, UniswapV3Source,
    uniswap::tick_math::{MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK, sqrt_ratio_at_tick},
};
use oracle_tests::{
    init_tracing,
    uniswap::{LIQUIDITY, UniswapChain, exact},
};

const WINDOW: u32 = 1800;

fn feed() -> FeedId {
    FeedId::new("BASE/QUOTE")
}

/// A source for `base` in `quote` found through the chain's factory.
fn source(
    chain: &UniswapChain,
    base: Address,
    quote: Address,
    mode: PriceMode,
    decimals: u8,
) -> UniswapV3Source {
    UniswapV3Source::builder(chain.reader(), feed())
        .factory(chain.factory)
        .token(base)
        .quote(quote)
        .mode(mode)
        .decimals(decimals)
        .window(Duration::from_secs(u64::from(WINDOW)))
        .min_depth(any_depth())
        .build()
        .unwrap()
}

/// "Any depth", said explicitly: these tests are about prices, not the floor.
fn any_depth() -> Price {
    Price::whole(0)
}

async fn fetch(source: &UniswapV3Source) -> Result<Observation, SourceError> {
    source.fetch(&feed()).await
}

/// A pool of a fresh pair at `price` (base in quote), with liquidity around it and 40 minutes of
/// swaps (a history longer than the 30-minute window). Returns `(base, quote, pool)`.
async fn pool_with_history(
    chain: &UniswapChain,
    base_decimals: u8,
    quote_decimals: u8,
    base_is_token0: bool,
    price: &str,
) -> (Address, Address, Address) {
    let (base, quote) = chain.pair(base_decimals, quote_decimals, base_is_token0).await;
    let sqrt = exact::sqrt_price_x96_for(price, base_decimals, quote_decimals, base_is_token0);
    let pool = chain.create_pool(base, quote, 3000, sqrt).await;
    chain.grow_observations(pool, 100).await;
    chain.add_liquidity_around(pool, 20_000, LIQUIDITY).await;
    chain.build_history(pool, 6, 400).await;
    chain.advance(100).await;
    (base, quote, pool)
}

/// TWAP and spot from the source equal the exact values computed from the pool's own numbers,
/// to the last unit at 8 and at 18 decimals.
async fn prices_are_exact(base_decimals: u8, quote_decimals: u8, base_is_token0: bool, price: &str) {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote, pool) =
        pool_with_history(&chain, base_decimals, quote_decimals, base_is_token0, price).await;
    let (decimals0, decimals1) =
        if base_is_token0 { (base_decimals, quote_decimals) } else { (quote_decimals, base_decimals) };
    for decimals in [8, 18] {
        let twap = fetch(&source(&chain, base, quote, PriceMode::Twap, decimals)).await.unwrap();
        let spot = fetch(&source(&chain, base, quote, PriceMode::Spot, decimals)).await.unwrap();
        // The same block: nothing was mined since the fetches.
        let (start, end) = chain.tick_cumulatives(pool, WINDOW).await;
        let (sqrt_now, _) = chain.slot0(pool).await;

        let tick = exact::mean_tick(start, end, WINDOW);
        let ratio = exact::sqrt_ratio_at_tick(tick);
        // The pool's own TickMath agrees that this is exactly its sqrt price at `tick`: it puts
        // `ratio` at `tick` and `ratio - 1` just below.
        assert_eq!(chain.pool_tick_at(exact::u256(&ratio)).await, tick);
        assert_eq!(chain.pool_tick_at(exact::u256(&ratio) - U256::from(1u8)).await, tick - 1);

        let expected_twap = exact::price(&ratio, decimals0, decimals1, base_is_token0, decimals);
        let expected_spot =
            exact::price(&exact::big(sqrt_now), decimals0, decimals1, base_is_token0, decimals);
        assert_eq!(exact::big(twap.price.mantissa()), expected_twap, "TWAP at {decimals} decimals");
        assert_eq!(exact::big(spot.price.mantissa()), expected_spot, "spot at {decimals} decimals");
        assert_eq!((twap.price.decimals(), spot.price.decimals()), (decimals, decimals));
        // And both are near the price the pool started at (the swaps moved it a few percent).
        let started = oracle_core::Price::parse(price, decimals).unwrap();
        assert!(started.change_bps(&twap.price).unwrap() < 1000, "{started} vs TWAP {}", twap.price);
        assert!(twap.observed_at == spot.observed_at, "both observed at the block's time");
    }
}

#[tokio::test]
async fn exact_prices_18_18_base_is_token0() {
    prices_are_exact(18, 18, true, "0.00003").await;
}

#[tokio::test]
async fn exact_prices_18_18_base_is_token1() {
    prices_are_exact(18, 18, false, "0.00003").await;
}

#[tokio::test]
async fn exact_prices_6_18_base_is_token0() {
    prices_are_exact(6, 18, true, "0.00003").await;
}

#[tokio::test]
async fn exact_prices_6_18_base_is_token1() {
    prices_are_exact(6, 18, false, "0.00003").await;
}

#[tokio::test]
async fn exact_prices_18_6_base_is_token0() {
    prices_are_exact(18, 6, true, "0.09").await;
}

#[tokio::test]
async fn exact_prices_18_6_base_is_token1() {
    prices_are_exact(18, 6, false, "0.09").await;
}

#[tokio::test]
async fn tick_math_port_matches_the_pools_own() {
    init_tracing();
    let chain = UniswapChain::start().await;
    assert_eq!(MIN_SQRT_RATIO, U256::from(4_295_128_739u64));
    assert_eq!(MAX_SQRT_RATIO.to_string(), "1461446703485210103287273052203988822378723970342");
    assert_eq!(sqrt_ratio_at_tick(MIN_TICK).unwrap(), MIN_SQRT_RATIO);
    assert_eq!(sqrt_ratio_at_tick(MAX_TICK).unwrap(), MAX_SQRT_RATIO);
    assert_eq!(sqrt_ratio_at_tick(MIN_TICK + 1).unwrap(), U256::from(4_295_343_490u64));
    assert_eq!(
        sqrt_ratio_at_tick(MAX_TICK - 1).unwrap().to_string(),
        "1461373636630004318706518188784493106690254656249"
    );

    // At each tick the port's ratio is where the pool's getTickAtSqrtRatio switches to that
    // tick: initialize puts it at `tick` and one unit less at `tick - 1`.
    for tick in
        [MIN_TICK, MIN_TICK + 1, -276_325, -104_141, -60, -1, 0, 1, 60, 172_011, 276_324, MAX_TICK - 1]
    {
        let ours = sqrt_ratio_at_tick(tick).unwrap();
        assert_eq!(exact::big(ours), exact::sqrt_ratio_at_tick(tick), "the two ports agree at {tick}");
        assert_eq!(chain.pool_tick_at(ours).await, tick, "pool tick at our ratio for {tick}");
        if tick > MIN_TICK {
            assert_eq!(chain.pool_tick_at(ours - U256::from(1u8)).await, tick - 1, "just below {tick}");
        }
    }
    // The top: initialize accepts prices below MAX_SQRT_RATIO only, which is tick MAX_TICK - 1.
    assert_eq!(chain.pool_tick_at(MAX_SQRT_RATIO - U256::from(1u8)).await, MAX_TICK - 1);

    // Arbitrary initial prices: slot0 keeps the given sqrt price and a tick whose port ratio
    // brackets it.
    for (price, base_decimals, quote_decimals) in [("0.00003", 18, 18), ("3000", 18, 6), ("0.123456", 6, 18)]
    {
        let sqrt = exact::sqrt_price_x96_for(price, base_decimals, quote_decimals, true);
        let n = chain.pool_tick_at(sqrt).await;
        let low = sqrt_ratio_at_tick(n).unwrap();
        let high = sqrt_ratio_at_tick(n + 1).unwrap();
        assert!(low <= sqrt && sqrt < high, "{price}: tick {n}, {low} <= {sqrt} < {high}");
    }
}

#[tokio::test]
async fn one_large_swap_moves_spot_not_the_twap_and_the_guard_refuses() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote, pool) = pool_with_history(&chain, 18, 18, true, "0.00003").await;
    let guarded = source(&chain, base, quote, PriceMode::Twap, 18);
    let unguarded = UniswapV3Source::builder(chain.reader(), feed())
        .factory(chain.factory)
        .token(base)
        .quote(quote)
        .max_divergence_bps(u64::MAX)
        .min_depth(any_depth())
        .build()
        .unwrap();
    let spot = source(&chain, base, quote, PriceMode::Spot, 18);
    let twap_before = fetch(&guarded).await.unwrap().price;
    let spot_before = fetch(&spot).await.unwrap().price;

    // Sell 30% of the pool's virtual reserve of the base token in one swap.
    chain.swap_fraction(pool, true, 3000).await;

    let spot_after = fetch(&spot).await.unwrap().price;
    let twap_after = fetch(&unguarded).await.unwrap().price;
    let spot_move = spot_before.change_bps(&spot_after).unwrap();
    let twap_move = twap_before.change_bps(&twap_after).unwrap();
    assert!(spot_move > 3000, "spot moved {spot_move} bps: {spot_before} -> {spot_after}");
    assert!(twap_move < 10, "the 30-minute TWAP moved {twap_move} bps: {twap_before} -> {twap_after}");

    match fetch(&guarded).await {
        Err(SourceError::Manipulated { source_name, reason, .. }) => {
            assert_eq!(source_name, "uniswap-v3:BASE/QUOTE");
            assert!(reason.contains("manipulation suspected"), "{reason}");
            assert!(
                reason.contains("(max 1000 bps)") && reason.contains(&spot_after.to_string()),
                "{reason}"
            );
        }
        other => panic!("expected Manipulated, got {other:?}"),
    }

    // A window later the average has caught up with the new price and the guard lets it through.
    chain.advance(u64::from(WINDOW) + 60).await;
    let caught_up = fetch(&guarded).await.unwrap().price;
    assert!(spot_after.change_bps(&caught_up).unwrap() < 10, "{caught_up} vs {spot_after}");
}

#[tokio::test]
async fn a_window_longer_than_the_history_is_refused_with_the_fix() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote) = chain.pair(18, 18, true).await;
    let pool = chain.create_pool(base, quote, 3000, exact::sqrt_price_x96_for("0.00003", 18, 18, true)).await;
    chain.add_liquidity_around(pool, 20_000, LIQUIDITY).await;
    // One observation slot (the default), rewritten by this swap ten minutes in.
    chain.advance(600).await;
    chain.swap_fraction(pool, true, 100).await;
    chain.advance(60).await;

    let check = |result: Result<Observation, SourceError>| match result {
        Err(SourceError::Invalid { check: "twap window", detail, .. }) => detail,
        other => panic!("expected the twap window refusal, got {other:?}"),
    };
    let detail = check(fetch(&source(&chain, base, quote, PriceMode::Twap, 18)).await);
    assert!(detail.contains("increaseObservationCardinalityNext(901)"), "{detail}");
    assert!(detail.contains(&format!("{pool}")) && detail.contains("1800s"), "{detail}");
    assert!(detail.contains("keeps 1 observation(s)"), "{detail}");

    // Growing the buffer does not make the history longer: still refused, never shortened.
    chain.grow_observations(pool, 901).await;
    check(fetch(&source(&chain, base, quote, PriceMode::Twap, 18)).await);

    // A window the history covers works, and spot never needs history.
    let short = UniswapV3Source::builder(chain.reader(), feed())
        .factory(chain.factory)
        .token(base)
        .quote(quote)
        .window(Duration::from_secs(30))
        .min_depth(any_depth())
        .build()
        .unwrap();
    fetch(&short).await.unwrap();
    fetch(&source(&chain, base, quote, PriceMode::Spot, 18)).await.unwrap();
}

#[tokio::test]
async fn the_pool_with_the_most_in_range_liquidity_is_chosen() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote) = chain.pair(18, 18, true).await;
    let thin = chain.create_pool(base, quote, 500, exact::sqrt_price_x96_for("0.00003", 18, 18, true)).await;
    let deep = chain.create_pool(base, quote, 3000, exact::sqrt_price_x96_for("0.00004", 18, 18, true)).await;
    chain.add_liquidity_around(thin, 20_000, LIQUIDITY / 10).await;
    chain.add_liquidity_around(deep, 20_000, LIQUIDITY).await;
    let spot = source(&chain, base, quote, PriceMode::Spot, 18);

    let choice = spot.choose_pool().await.unwrap();
    assert_eq!((choice.pool, choice.fee, choice.liquidity), (deep, Some(3000), LIQUIDITY));
    let (sqrt, _) = chain.slot0(deep).await;
    assert_eq!(
        exact::big(fetch(&spot).await.unwrap().price.mantissa()),
        exact::price(&exact::big(sqrt), 18, 18, true, 18)
    );

    // The 0.05% pool overtakes it (the first one found is not simply kept).
    chain.add_liquidity_around(thin, 20_000, LIQUIDITY * 2).await;
    let choice = spot.choose_pool().await.unwrap();
    assert_eq!((choice.pool, choice.fee), (thin, Some(500)));
    let (sqrt, _) = chain.slot0(thin).await;
    assert_eq!(
        exact::big(fetch(&spot).await.unwrap().price.mantissa()),
        exact::price(&exact::big(sqrt), 18, 18, true, 18)
    );

    // A configured pool is used as is, and must hold the priced token.
    let configured = UniswapV3Source::builder(chain.reader(), feed())
        .pool(deep)
        .token(base)
        .mode(PriceMode::Spot)
        .min_depth(any_depth())
        .build()
        .unwrap();
    assert_eq!(configured.choose_pool().await.unwrap().pool, deep);
    let stranger = chain.token("OTHER", 18).await;
    let wrong = UniswapV3Source::builder(chain.reader(), feed())
        .pool(deep)
        .token(stranger)
        .min_depth(any_depth())
        .build()
        .unwrap();
    assert!(
        matches!(fetch(&wrong).await, Err(SourceError::Invalid { check: "pool tokens", .. })),
        "a pool without the token is refused"
    );
    // No pool at all for a pair: a clear refusal naming the tiers.
    let lonely = source(&chain, stranger, quote, PriceMode::Spot, 18);
    match fetch(&lonely).await {
        Err(SourceError::Invalid { check: "pool", detail, .. }) => {
            assert!(detail.contains("[500, 3000, 10000]"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_shallow_pool_is_refused_with_its_depth_in_quote_tokens() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote) = chain.pair(18, 18, false).await;
    let pool =
        chain.create_pool(base, quote, 10_000, exact::sqrt_price_x96_for("0.00003", 18, 18, false)).await;
    let builder = |floor: &str| {
        UniswapV3Source::builder(chain.reader(), feed())
            .factory(chain.factory)
            .token(base)
            .quote(quote)
            .mode(PriceMode::Spot)
            .min_depth(Price::parse(floor, 18).unwrap())
            .build()
            .unwrap()
    };
    // No liquidity at all: refused even with a floor of zero.
    assert!(matches!(fetch(&builder("0")).await, Err(SourceError::Manipulated { .. })));
    chain.add_liquidity_around(pool, 20_000, LIQUIDITY).await;
    // 1e24 of liquidity at 0.00003 quote per base: the quote token's virtual reserve is
    // L·√(quote per base) = 1e24 · 0.005477… = 5477.2… quote tokens.
    match fetch(&builder("6000")).await {
        Err(SourceError::Manipulated { reason, .. }) => {
            assert!(reason.contains("held 5477.") && reason.contains("below the floor 6000"), "{reason}");
            assert!(reason.contains(&pool.to_string()), "{reason}");
        }
        other => panic!("expected Manipulated, got {other:?}"),
    }
    fetch(&builder("5000")).await.unwrap();
    // Missing, the floor is a configuration error, not a silent default.
    let err = UniswapV3Source::builder(chain.reader(), feed())
        .factory(chain.factory)
        .token(base)
        .quote(quote)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("set min_depth"), "{err}");
}

/// The attack on a pool chosen by its liquidity at the moment of the read: take an empty fee
/// tier, set its price anywhere (nobody arbitrages an empty pool), wait out the TWAP window, and
/// mint a huge one-tick position just before the bot reads. That pool then had the most in-range
/// liquidity, and its TWAP and spot agreed on the attacker's price. Weighted by the liquidity
/// each pool held over the window, it counts for nothing.
#[tokio::test]
async fn an_empty_fee_tier_pushed_and_filled_at_the_last_block_cannot_move_the_price() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let (base, quote, honest) = pool_with_history(&chain, 18, 18, true, "0.00003").await;
    let twap = source(&chain, base, quote, PriceMode::Twap, 18);

    // The attacker creates the 1% tier at ten times the price, and waits a whole window.
    let attacked =
        chain.create_pool(base, quote, 10_000, exact::sqrt_price_x96_for("0.0003", 18, 18, true)).await;
    chain.grow_observations(attacked, 10).await;
    chain.advance(u64::from(WINDOW) + 60).await;
    // One block before the read: a one-tick-wide position a thousand times the honest pool's.
    let tick = chain.slot0(attacked).await.1;
    let lower = tick.div_euclid(200) * 200;
    chain.add_liquidity(attacked, lower, lower + 200, LIQUIDITY * 1_000).await;
    assert!(chain.liquidity(attacked).await > chain.liquidity(honest).await * 100);

    // Against the honest pool's own TWAP over the same window, at the same block.
    let honest_only = UniswapV3Source::builder(chain.reader(), feed())
        .pool(honest)
        .token(base)
        .window(Duration::from_secs(u64::from(WINDOW)))
        .min_depth(any_depth())
        .build()
        .unwrap();
    let honest_now = fetch(&honest_only).await.unwrap().price;
    let attacked_price = fetch(&twap).await.unwrap().price;
    let moved = honest_now.change_bps(&attacked_price).unwrap();
    assert!(moved < 5, "the attack moved the TWAP {moved} bps: {honest_now} -> {attacked_price}");
    let (_, pools) = twap.pools_over_window().await.unwrap();
    let weight = |pool| pools.iter().find(|p| p.pool == pool).map(|p| p.liquidity).unwrap();
    assert!(
        weight(attacked).saturating_mul(1_000_000) < weight(honest),
        "the attacker's pool weighs {} against {}",
        weight(attacked),
        weight(honest)
    );
    // Spot mode, which is chosen by the liquidity of the moment, is what the attack buys.
    let spot = fetch(&source(&chain, base, quote, PriceMode::Spot, 18)).await.unwrap().price;
    assert!(honest_now.change_bps(&spot).unwrap() > 5_000, "spot mode follows the attacker: {spot}");
}
