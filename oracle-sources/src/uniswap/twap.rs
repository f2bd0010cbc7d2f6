//! The TWAP read (`observe([window, 0])`), the refusal when history is too short, and the
//! spot-versus-TWAP divergence guard.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
    sol_types::Revert,
};
use oracle_core::{Price, SourceError};

use super::{
    Pair, Snapshot, UniswapV3Source,
    bindings::IUniswapV3Pool,
    price_math::{mean_tick, price_at_sqrt_ratio},
    tick_math,
};
use crate::bps::{exceeds_bps, gap_bps};

/// The decimals the divergence guard compares at (the most a `Price` carries).
const GUARD_DECIMALS: u8 = oracle_core::MAX_DECIMALS;

/// The most observations a pool can keep (`uint16`).
const MAX_CARDINALITY: u128 = 65_535;

type Pool = IUniswapV3Pool::IUniswapV3PoolInstance<DynProvider>;

impl UniswapV3Source {
    /// The time-weighted average price over the window ending at the snapshot's block, and the
    /// sqrt price of its mean tick.
    pub(super) async fn twap(
        &self,
        pool: &Pool,
        snapshot: Snapshot,
        pair: &Pair,
    ) -> Result<(Price, U256), SourceError> {
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
        let cumulative = |i: usize| -> Result<i64, SourceError> {
            let value = observed.tickCumulatives.get(i).ok_or_else(|| {
                self.invalid("pool observe", format!("pool {address} returned too few tick cumulatives"))
            })?;
            i64::try_from(*value)
                .map_err(|_| self.invalid("pool observe", format!("tick cumulative {value} is not an int56")))
        };
        let (start, end) = (cumulative(0)?, cumulative(1)?);
        let tick = mean_tick(start, end, window).map_err(|e| {
            self.invalid(
                "pool observe",
                format!("pool {address}: cumulatives {start}..{end} over {window}s: {e}"),
            )
        })?;
        let sqrt = tick_math::sqrt_ratio_at_tick(tick)
            .map_err(|e| self.invalid("pool observe", format!("pool {address}: {e}")))?;
        tracing::debug!(source = %self.name, pool = %address, window, tick, "TWAP mean tick");
        let price =
            self.price(sqrt, pair, &format!("{window}s TWAP of pool {address} (mean tick {tick})"))?;
        Ok((price, sqrt))
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
