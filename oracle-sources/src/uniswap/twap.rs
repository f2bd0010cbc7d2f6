//! The TWAP over every candidate pool, weighted the way Uniswap's `OracleLibrary` does it: each
//! pool's `observe([window, 0])` gives its arithmetic mean tick *and* its harmonic-mean in-range
//! liquidity over the window (from `secondsPerLiquidityCumulativeX128`), and the pools' ticks are
//! averaged weighted by that liquidity (`getWeightedArithmeticMeanTick`). A pool that was empty
//! for most of the window weighs next to nothing, however much liquidity it holds at the moment
//! of the read: pushing an empty fee tier to any price and minting a huge one-tick position just
//! before the bot reads buys no influence. Also here: the refusal when history is too short,
//! and the spot-versus-TWAP divergence guard.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
    sol_types::Revert,
};
use oracle_core::{Price, SourceError};

use super::{
    Pair, PoolChoice, Snapshot, UniswapV3Source,
    bindings::IUniswapV3Pool,
    price_math::{
        harmonic_mean_liquidity, mean_tick, price_at_sqrt_ratio, quote_reserve, weighted_arithmetic_mean_tick,
    },
};
use crate::bps::{exceeds_bps, gap_bps};

/// The decimals the divergence guard compares at (the most a `Price` carries).
const GUARD_DECIMALS: u8 = oracle_core::MAX_DECIMALS;

/// The most observations a pool can keep (`uint16`).
const MAX_CARDINALITY: u128 = 65_535;

type Pool = IUniswapV3Pool::IUniswapV3PoolInstance<DynProvider>;

impl UniswapV3Source {
    /// One pool over the window ending at the snapshot's block: its arithmetic mean tick and its
    /// harmonic-mean in-range liquidity, exactly as `OracleLibrary.consult` computes them.
    pub(super) async fn pool_window(
        &self,
        pool: &Pool,
        fee: Option<u32>,
        snapshot: Snapshot,
    ) -> Result<PoolChoice, SourceError> {
        let window = self.settings.window_secs;
        let address = *pool.address();
        let observed = match pool.observe(vec![window, 0]).block(snapshot.at).call().await {
            Ok(observed) => observed,
            Err(e) => {
                return Err(match e.as_decoded_error::<Revert>().map(|r| r.reason) {
                    Some(reason) if reason == "OLD" => self.window_not_covered(pool, snapshot).await,
                    Some(reason) if reason == "I" => {
                        self.invalid("pool initialized", format!("pool {address} has no observations yet"))
                    }
                    _ => self.unreachable(&format!("pool {address} observe([{window}, 0])"), &e),
                });
            }
        };
        let garbage = |what: String| self.invalid("pool observe", format!("pool {address}: {what}"));
        let cumulative = |i: usize| -> Result<i64, SourceError> {
            let value =
                observed.tickCumulatives.get(i).ok_or_else(|| garbage("too few tick cumulatives".into()))?;
            i64::try_from(*value).map_err(|_| garbage(format!("tick cumulative {value} is not an int56")))
        };
        let per_liquidity = |i: usize| -> Result<U256, SourceError> {
            observed
                .secondsPerLiquidityCumulativeX128s
                .get(i)
                .map(|v| U256::from(*v))
                .ok_or_else(|| garbage("too few seconds-per-liquidity cumulatives".into()))
        };
        let (start, end) = (cumulative(0)?, cumulative(1)?);
        let tick = mean_tick(start, end, window)
            .map_err(|e| garbage(format!("cumulatives {start}..{end} over {window}s: {e}")))?;
        let liquidity = harmonic_mean_liquidity(per_liquidity(0)?, per_liquidity(1)?, window)
            .map_err(|e| garbage(format!("seconds per liquidity over {window}s: {e}")))?;
        tracing::debug!(source = %self.name, pool = %address, window, tick, liquidity, "pool over the TWAP window");
        Ok(PoolChoice { pool: address, fee, liquidity, tick })
    }

    /// Every candidate pool over the window, the liquidity-weighted mean tick, the pool that
    /// weighs most and its spot sqrt price (`slot0`). Pools whose history does not cover the
    /// window are left out (and named in the log); when none covers it, the refusal says how to
    /// fix the history.
    ///
    /// Every pool's `slot0` is read with its `observe`, in the same step: which pool dominates is
    /// known only after, and reading the spot then would cost the tick one more round trip
    /// (docs/architecture.md, "Reads batch per chain").
    pub(super) async fn weighted_twap(
        &self,
        snapshot: Snapshot,
        pair: &Pair,
    ) -> Result<(i32, Vec<PoolChoice>, PoolChoice, U256), SourceError> {
        let candidates = self.candidate_pools(snapshot.at).await?;
        let read = futures_util::future::join_all(candidates.iter().map(|&(fee, pool)| async move {
            let contract = IUniswapV3Pool::new(pool, self.settings.provider.clone());
            tokio::join!(self.pool_window(&contract, fee, snapshot), self.sqrt_price(pool, snapshot))
        }))
        .await;
        let mut spots = Vec::new();
        let read: Vec<Result<PoolChoice, SourceError>> = read
            .into_iter()
            .zip(&candidates)
            .map(|((window, spot), (_, pool))| {
                spots.push((*pool, spot));
                window
            })
            .collect();
        let mut windows = Vec::new();
        let mut first_refusal = None;
        for (result, (_, pool)) in read.into_iter().zip(&candidates) {
            match result {
                Ok(w) => windows.push(w),
                // Down is down: a pool that could not be read is not quietly left out.
                Err(e @ SourceError::Unreachable { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(source = %self.name, %pool, reason = %e, "pool left out of the TWAP");
                    first_refusal.get_or_insert(e);
                }
            }
        }
        if windows.is_empty() {
            return Err(first_refusal.unwrap_or_else(|| self.invalid("pool", "no candidate pool".into())));
        }
        let weighted: Vec<(i32, u128)> = windows.iter().map(|w| (w.tick, w.liquidity)).collect();
        let tick = weighted_arithmetic_mean_tick(&weighted).map_err(|e| {
            self.manipulated(format!(
                "no pool of the pair held in-range liquidity over the {}s window ({e}) at block {}",
                self.settings.window_secs, snapshot.number
            ))
        })?;
        let mut dominant = windows[0];
        for w in &windows[1..] {
            if w.liquidity > dominant.liquidity {
                dominant = *w;
            }
        }
        self.note_choice(&dominant, pair);
        let spot =
            spots.into_iter().find(|(pool, _)| *pool == dominant.pool).map(|(_, spot)| spot).unwrap_or_else(
                || Err(self.invalid("pool", format!("no spot read of pool {}", dominant.pool))),
            )?;
        Ok((tick, windows, dominant, spot))
    }

    /// The pools' depth in the quote token: the sum of their quote-token virtual reserves at
    /// their liquidity and tick (time-weighted in TWAP mode), in whole quote tokens.
    pub(super) fn depth(&self, pools: &[PoolChoice], pair: &Pair) -> Result<Price, SourceError> {
        let quote_is_token0 = !pair.orientation.base_is_token0;
        let quote_decimals =
            if quote_is_token0 { pair.orientation.decimals0 } else { pair.orientation.decimals1 };
        let mut raw = U256::ZERO;
        for p in pools {
            let reserve = quote_reserve(p.liquidity, p.tick, quote_is_token0)
                .map_err(|e| self.invalid("pool depth", format!("pool {}: {e}", p.pool)))?;
            raw = raw.saturating_add(reserve);
        }
        Price::new(raw, quote_decimals).map_err(|e| self.invalid("pool depth", e.to_string()))
    }

    /// Refuses (`Manipulated`) pools shallower than the floor.
    pub(super) fn check_depth(
        &self,
        pools: &[PoolChoice],
        pair: &Pair,
        block: u64,
    ) -> Result<(), SourceError> {
        let depth = self.depth(pools, pair)?;
        let floor = &self.settings.min_depth;
        if depth.cmp_value(floor).is_ge() && !depth.is_zero() {
            return Ok(());
        }
        let names: Vec<String> = pools.iter().map(|p| p.pool.to_string()).collect();
        let how = match self.settings.mode {
            super::PriceMode::Twap => format!("time-weighted over the {}s window", self.settings.window_secs),
            super::PriceMode::Spot => "now".to_owned(),
        };
        Err(self.manipulated(format!(
            "pool(s) {} held {depth} quote tokens of in-range liquidity ({how}, block {block}), below the floor {floor}: \
             too shallow to price safely",
            names.join(", ")
        )))
    }

    /// The refusal when `observe` reverts "OLD": the pool's history does not reach back a whole
    /// window. Says how much history there is and how to get enough.
    async fn window_not_covered(&self, pool: &Pool, snapshot: Snapshot) -> SourceError {
        let window = self.settings.window_secs;
        let history = match self.history(pool, snapshot).await {
            Ok((cardinality, next, age)) => format!(
                "keeps {cardinality} observation(s) (cardinality next: {next}), the oldest {age}s old at block {}",
                snapshot.number
            ),
            Err(e) => format!("has an observation history that could not be read ({e})"),
        };
        // One observation per block in the worst case (a swap in every block), plus the current one.
        let block_ms = self.settings.block_time.as_millis().max(1);
        let suggested = (u128::from(window) * 1000).div_ceil(block_ms).saturating_add(1).min(MAX_CARDINALITY);
        self.invalid(
            "twap window",
            format!(
                "pool {} {history}: it cannot cover the {window}s TWAP window (observe reverted \"OLD\"); \
                 the window is never shortened silently. Fix: call increaseObservationCardinalityNext({suggested}) \
                 on the pool ({window}s at {block_ms}ms per block, plus one) and wait {window}s for the history \
                 to fill, or configure a shorter window_s",
                pool.address()
            ),
        )
    }

    /// `(observationCardinality, observationCardinalityNext, age of the oldest observation)`.
    async fn history(
        &self,
        pool: &Pool,
        snapshot: Snapshot,
    ) -> Result<(u16, u16, u32), alloy::contract::Error> {
        let slot0 = pool.slot0().block(snapshot.at).call().await?;
        let cardinality = slot0.observationCardinality;
        // The ring buffer's oldest entry follows the newest, unless the buffer is not full yet.
        let next_index = (u32::from(slot0.observationIndex) + 1) % u32::from(cardinality.max(1));
        let mut oldest = pool.observations(U256::from(next_index)).block(snapshot.at).call().await?;
        if !oldest.initialized {
            oldest = pool.observations(U256::ZERO).block(snapshot.at).call().await?;
        }
        // Pools store timestamps as uint32 and compare them modulo 2^32; so does this.
        let now = (snapshot.timestamp % (1u64 << 32)) as u32;
        Ok((cardinality, slot0.observationCardinalityNext, now.wrapping_sub(oldest.blockTimestamp)))
    }

    /// Refuses when spot is more than `max_divergence_bps` away from the TWAP.
    ///
    /// The gap is measured at [`GUARD_DECIMALS`] whenever both prices fit there, so that a
    /// small price answered with few decimals (0.00003 is 3000 units at 8 decimals) is not
    /// judged on its rounding.
    pub(super) fn check_divergence(
        &self,
        pool: Address,
        spot: (&Price, U256),
        twap: (&Price, U256),
        pair: &Pair,
        block: u64,
    ) -> Result<(), SourceError> {
        let max = self.settings.max_divergence_bps;
        let fine = |sqrt| price_at_sqrt_ratio(sqrt, pair.orientation, GUARD_DECIMALS).ok();
        let (spot_fine, twap_fine) = match (fine(spot.1), fine(twap.1)) {
            (Some(s), Some(t)) => (s, t),
            _ => (*spot.0, *twap.0),
        };
        if !exceeds_bps(&twap_fine, &spot_fine, max) {
            return Ok(());
        }
        let (spot, twap) = (spot.0, twap.0);
        let gap = gap_bps(&twap_fine, &spot_fine);
        let window = self.settings.window_secs;
        tracing::warn!(
            source = %self.name, %pool, block, %spot, %twap, gap_bps = %gap, max_bps = max, window_s = window,
            "manipulation suspected: spot is {gap} bps from the {window}s TWAP (max {max} bps)"
        );
        Err(self.manipulated(format!(
            "spot {spot} is {gap} bps from the {window}s TWAP {twap} in pool {pool} at block {block} \
             (max {max} bps): manipulation suspected"
        )))
    }
}
