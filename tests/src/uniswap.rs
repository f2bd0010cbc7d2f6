//! A real Uniswap V3 on anvil: the factory's bytecode from the `@uniswap/v3-core` npm package
//! (so pools are Uniswap's own compiled code), our test ERC-20s and the callback contract from
//! `contracts/test-helpers`, and [`exact`]: expected prices in exact big-integer arithmetic that
//! shares no code with `oracle_sources`.

use std::sync::atomic::{AtomicU64, Ordering};

use alloy::{
    eips::BlockId,
    node_bindings::AnvilInstance,
    primitives::{
        Address, I256, U160, U256,
        aliases::{I24, U24},
    },
    providers::{DynProvider, Provider},
};
use oracle_core::evm::RpcUrl;

use crate::{advance_time, anvil, artifact_bytecode, deploy, repo_root, wallet_provider};

alloy::sol!(
    #[sol(rpc)]
    TestToken,
    "../contracts/artifacts/TestToken.json"
);
alloy::sol!(
    #[sol(rpc)]
    UniswapV3Caller,
    "../contracts/artifacts/UniswapV3Caller.json"
);

alloy::sol! {
    /// What tests call on Uniswap's real factory.
    #[sol(rpc)]
    interface IUniswapV3Factory {
        function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
        function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address pool);
    }

    /// What tests call on Uniswap's real pools.
    #[sol(rpc)]
    interface IUniswapV3Pool {
        function initialize(uint160 sqrtPriceX96) external;
        function increaseObservationCardinalityNext(uint16 observationCardinalityNext) external;
        function tickSpacing() external view returns (int24);
        function liquidity() external view returns (uint128);
        function slot0() external view returns (
            uint160 sqrtPriceX96, int24 tick, uint16 observationIndex, uint16 observationCardinality,
            uint16 observationCardinalityNext, uint8 feeProtocol, bool unlocked
        );
        function observe(uint32[] calldata secondsAgos) external view returns (
            int56[] memory tickCumulatives, uint160[] memory secondsPerLiquidityCumulativeX128s
        );
    }
}

/// Sends a contract call, waits for it and fails the test when it reverts.
macro_rules! mined {
    ($call:expr, $what:expr) => {{
        // Half again the estimate: estimates for calls that re-enter through a callback (mint,
        // swap) can come out a little short, and the transaction then reverts out of gas now
        // and then (seen about once in ten suite runs).
        let call = $call;
        let gas = call.estimate_gas().await.unwrap_or_else(|e| panic!("{} (estimating gas): {e}", $what));
        // Within anvil's 30M block gas limit (growing the observation buffer is that large).
        let receipt = call
            .gas((gas.saturating_mul(3) / 2).min(30_000_000))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", $what))
            .get_receipt()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", $what));
        assert!(receipt.status(), "{} reverted", $what);
        receipt
    }};
}

/// The compiled artifact of a Uniswap V3 core contract from the npm package.
pub fn uniswap_artifact(name: &str) -> std::path::PathBuf {
    repo_root()
        .join(".tools/node_modules/@uniswap/v3-core/artifacts/contracts")
        .join(format!("{name}.sol"))
        .join(format!("{name}.json"))
}

/// The elizaOS/WETH pool of [`UniswapChain::elizaos_pool`].
#[derive(Debug, Clone, Copy)]
pub struct ElizaPool {
    /// The WETH stand-in (18 decimals).
    pub weth: Address,
    /// The elizaOS stand-in (18 decimals).
    pub eliza: Address,
    /// The 0.3% pool, with observation room and liquidity.
    pub pool: Address,
}

/// An anvil chain with Uniswap V3's factory and our callback contract, driven by account 0.
pub struct UniswapChain {
    /// The chain.
    pub anvil: AnvilInstance,
    /// Account 0: deploys, mints, adds liquidity, swaps, moves time.
    pub admin: DynProvider,
    /// Uniswap's `UniswapV3Factory`.
    pub factory: Address,
    /// `UniswapV3Caller`, approved by account 0 for every token it deploys.
    pub caller: Address,
    /// A counter for token-less pools (see [`UniswapChain::pool_tick_at`]).
    fake_tokens: AtomicU64,
}

/// Liquidity tests add by default: large enough that small swaps move the price a little.
pub const LIQUIDITY: u128 = 1_000_000_000_000_000_000_000_000; // 1e24

impl UniswapChain {
    /// Starts anvil and deploys the factory and the caller.
    pub async fn start() -> Self {
        Self::on(anvil(8453)).await
    }

    /// Deploys the factory and the caller on a chain started elsewhere.
    pub async fn on(anvil: AnvilInstance) -> Self {
        let admin = wallet_provider(&anvil, 0);
        let factory = deploy(&admin, artifact_bytecode(&uniswap_artifact("UniswapV3Factory")), vec![]).await;
        let caller = *UniswapV3Caller::deploy(admin.clone()).await.expect("the caller deploys").address();
        Self { anvil, admin, factory, caller, fake_tokens: AtomicU64::new(0x10_0000) }
    }

    /// An elizaOS/WETH pool (fee 0.3%) at elizaOS = $0.10 with ETH at $3000 (0.1 / 3000 WETH per
    /// elizaOS), room for 200 observations and [`LIQUIDITY`] around the price: the demo's and
    /// the cost benchmark's market.
    pub async fn elizaos_pool(&self) -> ElizaPool {
        let weth = self.token("WETH", 18).await;
        let eliza = self.token("elizaOS", 18).await;
        let sqrt_price = exact::sqrt_price_x96_for("0.0000333333333333", 18, 18, eliza < weth);
        let pool = self.create_pool(eliza, weth, 3000, sqrt_price).await;
        self.grow_observations(pool, 200).await;
        self.add_liquidity_around(pool, 6_000, LIQUIDITY).await;
        ElizaPool { weth, eliza, pool }
    }

    /// A read-only provider, as the bot builds it.
    pub fn reader(&self) -> DynProvider {
        oracle_core::evm::connect(
            &RpcUrl::parse(&self.anvil.endpoint()).unwrap(),
            std::time::Duration::from_secs(10),
        )
        .unwrap()
    }

    /// Deploys a token with `decimals`, mints plenty to account 0 and approves the caller.
    pub async fn token(&self, symbol: &str, decimals: u8) -> Address {
        let token = TestToken::deploy(self.admin.clone(), symbol.to_owned(), symbol.to_owned(), decimals)
            .await
            .expect("the token deploys");
        let me = self.anvil.addresses()[0];
        mined!(token.mint(me, U256::from(10u8).pow(U256::from(50u8))), "mint");
        mined!(token.approve(self.caller, U256::MAX), "approve");
        *token.address()
    }

    /// Two tokens `(base, quote)` with the given decimals, the base sorting first (token0) or not.
    pub async fn pair(
        &self,
        base_decimals: u8,
        quote_decimals: u8,
        base_is_token0: bool,
    ) -> (Address, Address) {
        let quote = self.token("QUOTE", quote_decimals).await;
        // Deployment addresses are hashes: deploy bases until one sorts on the wanted side (each
        // try is a coin flip, so 40 failures in a row mean something else is wrong).
        for _ in 0..40 {
            let base = self.token("BASE", base_decimals).await;
            if (base < quote) == base_is_token0 {
                return (base, quote);
            }
        }
        panic!("no base token sorted on the wanted side of {quote}");
    }

    /// Creates the pool of `a`/`b` at `fee` and initializes it at `sqrt_price_x96`.
    pub async fn create_pool(&self, a: Address, b: Address, fee: u32, sqrt_price_x96: U256) -> Address {
        let factory = IUniswapV3Factory::new(self.factory, self.admin.clone());
        mined!(factory.createPool(a, b, U24::from(fee)), "createPool");
        let pool = factory.getPool(a, b, U24::from(fee)).call().await.unwrap();
        assert!(!pool.is_zero(), "the factory made no pool");
        let contract = IUniswapV3Pool::new(pool, self.admin.clone());
        mined!(contract.initialize(U160::from(sqrt_price_x96)), "initialize");
        pool
    }

    /// The tick the real pool code assigns to `sqrt_price_x96` (`TickMath.getTickAtSqrtRatio`,
    /// run by `initialize` on a fresh pool of two token-less addresses).
    pub async fn pool_tick_at(&self, sqrt_price_x96: U256) -> i32 {
        let n = self.fake_tokens.fetch_add(2, Ordering::Relaxed);
        let a = Address::left_padding_from(&n.to_be_bytes());
        let b = Address::left_padding_from(&(n + 1).to_be_bytes());
        let pool = self.create_pool(a, b, 500, sqrt_price_x96).await;
        self.slot0(pool).await.1
    }

    /// Lets the pool keep `n` observations.
    pub async fn grow_observations(&self, pool: Address, n: u16) {
        let contract = IUniswapV3Pool::new(pool, self.admin.clone());
        mined!(contract.increaseObservationCardinalityNext(n), "increaseObservationCardinalityNext");
    }

    /// Adds `liquidity` between two ticks (multiples of the pool's tick spacing).
    pub async fn add_liquidity(&self, pool: Address, lower: i32, upper: i32, liquidity: u128) {
        let caller = UniswapV3Caller::new(self.caller, self.admin.clone());
        let (lower, upper) = (I24::try_from(lower).unwrap(), I24::try_from(upper).unwrap());
        mined!(caller.mint(pool, lower, upper, liquidity), "mint liquidity");
    }

    /// Adds `liquidity` from about `half_width` ticks below the current tick to as far above.
    pub async fn add_liquidity_around(&self, pool: Address, half_width: i32, liquidity: u128) {
        let spacing =
            IUniswapV3Pool::new(pool, self.admin.clone()).tickSpacing().call().await.unwrap().as_i32();
        let tick = self.slot0(pool).await.1;
        let lower = (tick - half_width).div_euclid(spacing) * spacing;
        let upper = ((tick + half_width).div_euclid(spacing) + 1) * spacing;
        self.add_liquidity(pool, lower, upper, liquidity).await;
    }

    /// Swaps `bps` basis points of the pool's virtual reserve of the input token (exact input).
    pub async fn swap_fraction(&self, pool: Address, zero_for_one: bool, bps: u64) {
        let (sqrt, _) = self.slot0(pool).await;
        let liquidity = U256::from(self.liquidity(pool).await);
        let q96 = U256::from(1u8) << 96;
        // Virtual reserves of a concentrated position: x = L / sqrtP, y = L · sqrtP.
        let reserve = if zero_for_one { liquidity * q96 / sqrt } else { liquidity * sqrt / q96 };
        let amount = reserve * U256::from(bps) / U256::from(10_000u64);
        self.swap(pool, zero_for_one, amount).await;
    }

    /// Swaps an exact input `amount` of token0 (`zero_for_one`) or token1.
    pub async fn swap(&self, pool: Address, zero_for_one: bool, amount: U256) {
        let caller = UniswapV3Caller::new(self.caller, self.admin.clone());
        let amount = I256::try_from(amount).unwrap();
        mined!(caller.swap(pool, zero_for_one, amount, U160::ZERO), "swap");
    }

    /// Alternating small swaps, `step_secs` apart, `rounds` times: a history for the TWAP.
    pub async fn build_history(&self, pool: Address, rounds: usize, step_secs: u64) {
        for round in 0..rounds {
            self.advance(step_secs).await;
            // 1%, 2%, 3% of the reserve, alternating direction.
            self.swap_fraction(pool, round % 2 == 0, 100 * (round as u64 % 3 + 1)).await;
        }
    }

    /// Moves the chain's clock forward and mines a block.
    pub async fn advance(&self, secs: u64) {
        advance_time(&self.admin, secs).await;
    }

    /// The latest block: reads are pinned to it, like the source's, so both see the same state
    /// and the same block time.
    pub async fn latest(&self) -> BlockId {
        BlockId::number(self.admin.get_block_number().await.unwrap())
    }

    /// `(sqrtPriceX96, tick)` of the pool at the latest block.
    pub async fn slot0(&self, pool: Address) -> (U256, i32) {
        let at = self.latest().await;
        let slot0 = IUniswapV3Pool::new(pool, self.admin.clone()).slot0().block(at).call().await.unwrap();
        (U256::from(slot0.sqrtPriceX96), slot0.tick.as_i32())
    }

    /// The pool's in-range liquidity at the latest block.
    pub async fn liquidity(&self, pool: Address) -> u128 {
        let at = self.latest().await;
        IUniswapV3Pool::new(pool, self.admin.clone()).liquidity().block(at).call().await.unwrap()
    }

    /// The tick cumulatives `window` seconds before the latest block and at it
    /// (`observe([window, 0])`).
    pub async fn tick_cumulatives(&self, pool: Address, window: u32) -> (i64, i64) {
        let at = self.latest().await;
        let pool = IUniswapV3Pool::new(pool, self.admin.clone());
        let observed = pool.observe(vec![window, 0]).block(at).call().await.unwrap();
        (observed.tickCumulatives[0].as_i64(), observed.tickCumulatives[1].as_i64())
    }
}

/// Exact expected values in arbitrary-precision integers, written independently of
/// `oracle_sources` (which works in `U256`/`U512`).
pub mod exact {
    use alloy::primitives::U256;
    use num_bigint::{BigInt, BigUint};
    use num_integer::Integer;
    use num_traits::{One, Zero};

    /// A `U256` as a `BigUint`.
    pub fn big(value: U256) -> BigUint {
        BigUint::from_bytes_be(&value.to_be_bytes::<32>())
    }

    /// A `BigUint` as a `U256` (panics when it does not fit).
    pub fn u256(value: &BigUint) -> U256 {
        U256::from_str_radix(&value.to_str_radix(16), 16).unwrap()
    }

    fn ten_pow(exp: u32) -> BigUint {
        BigUint::from(10u8).pow(exp)
    }

    /// A decimal string as `numerator / 10^fraction_digits`.
    fn decimal(text: &str) -> (BigUint, BigUint) {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits: BigUint = format!("{whole}{frac}").parse().unwrap();
        (digits, ten_pow(u32::try_from(frac.len()).unwrap()))
    }

    /// `floor(sqrt(P · 2^192))` where P is the raw token1-per-token0 price that makes one whole
    /// base token worth `price` whole quote tokens.
    pub fn sqrt_price_x96_for(
        price: &str,
        base_decimals: u8,
        quote_decimals: u8,
        base_is_token0: bool,
    ) -> U256 {
        let (num, den) = decimal(price);
        // Raw quote units per raw base unit.
        let raw_num = num * ten_pow(u32::from(quote_decimals));
        let raw_den = den * ten_pow(u32::from(base_decimals));
        let (p_num, p_den) = if base_is_token0 { (raw_num, raw_den) } else { (raw_den, raw_num) };
        let shifted: BigUint = (p_num << 192u32) / p_den;
        u256(&shifted.sqrt())
    }

    /// TickMath's `getSqrtRatioAtTick`, written again from the Solidity source on `BigUint`
    /// (Solidity's `uint256` arithmetic is reproduced with explicit masking).
    pub fn sqrt_ratio_at_tick(tick: i32) -> BigUint {
        const FACTORS: [&str; 20] = [
            "fffcb933bd6fad37aa2d162d1a594001",
            "fff97272373d413259a46990580e213a",
            "fff2e50f5f656932ef12357cf3c7fdcc",
            "ffe5caca7e10e4e61c3624eaa0941cd0",
            "ffcb9843d60f6159c9db58835c926644",
            "ff973b41fa98c081472e6896dfb254c0",
            "ff2ea16466c96a3843ec78b326b52861",
            "fe5dee046a99a2a811c461f1969c3053",
            "fcbe86c7900a88aedcffc83b479aa3a4",
            "f987a7253ac413176f2b074cf7815e54",
            "f3392b0822b70005940c7a398e4b70f3",
            "e7159475a2c29b7443b29c7fa6e889d9",
            "d097f3bdfd2022b8845ad8f792aa5825",
            "a9f746462d870fdf8a65dc1f90e061e5",
            "70d869a156d2a1b890bb3df62baf32f7",
            "31be135f97d08fd981231505542fcfa6",
            "9aa508b5b7a84e1c677de54f3e99bc9",
            "5d6af8dedb81196699c329225ee604",
            "2216e584f5fa1ea926041bedfe98",
            "48a170391f7dc42444e8fa2",
        ];
        let abs = tick.unsigned_abs();
        assert!(abs <= 887_272, "tick {tick} out of range");
        let factor = |i: usize| BigUint::parse_bytes(FACTORS[i].as_bytes(), 16).unwrap();
        let mut ratio = if abs & 1 != 0 { factor(0) } else { BigUint::one() << 128u32 };
        for (i, _) in FACTORS.iter().enumerate().skip(1) {
            if abs & (1 << i) != 0 {
                ratio = (ratio * factor(i)) >> 128u32;
            }
        }
        if tick > 0 {
            let max = (BigUint::one() << 256u32) - 1u8;
            ratio = max / ratio;
        }
        let (q, r) = ratio.div_rem(&(BigUint::one() << 32u32));
        if r.is_zero() { q } else { q + 1u8 }
    }

    /// `floor((end - start) / window)`: the arithmetic mean tick rounded toward −∞.
    pub fn mean_tick(start: i64, end: i64, window: u32) -> i32 {
        let delta = BigInt::from(end) - BigInt::from(start);
        i32::try_from(delta.div_floor(&BigInt::from(window))).unwrap()
    }

    /// The mantissa, at `decimals` decimals and rounded down, of one whole base token in whole
    /// quote tokens at `sqrt_price_x96`, as a fraction reduced by floor division only at the end.
    pub fn price(
        sqrt_price_x96: &BigUint,
        decimals0: u8,
        decimals1: u8,
        base_is_token0: bool,
        decimals: u8,
    ) -> BigUint {
        let squared = sqrt_price_x96 * sqrt_price_x96;
        let q192 = BigUint::one() << 192u32;
        // value(token0 in token1) = squared / 2^192 · 10^decimals0 / 10^decimals1.
        let (num, den) = (squared * ten_pow(u32::from(decimals0)), q192 * ten_pow(u32::from(decimals1)));
        let (num, den) = if base_is_token0 { (num, den) } else { (den, num) };
        num * ten_pow(u32::from(decimals)) / den
    }
}
