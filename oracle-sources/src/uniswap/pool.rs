//! Which pools, and how their two tokens read: token order and decimals (read once), the
//! candidate pools of the pair (found once through the factory), and, in spot mode only, the
//! choice among them by in-range liquidity now. (TWAP mode weighs every pool by the liquidity it
//! held over the window: see `twap.rs`.)

use alloy::{eips::BlockId, primitives::Address};
use futures_util::future::try_join_all;
use oracle_core::{MAX_DECIMALS, SourceError};

use super::{
    UniswapV3Source,
    bindings::{IERC20Decimals, IUniswapV3Factory, IUniswapV3Pool},
    builder::PoolLocator,
    price_math::PairOrientation,
};

/// One pool as a fetch read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolChoice {
    /// The pool's address.
    pub pool: Address,
    /// Its fee tier, when found through the factory.
    pub fee: Option<u32>,
    /// TWAP mode: its harmonic-mean in-range liquidity over the window (what `OracleLibrary`
    /// weighs pools by). Spot mode: its in-range `liquidity()` at the block read.
    pub liquidity: u128,
    /// TWAP mode: its arithmetic mean tick over the window. Spot mode: its current tick.
    pub tick: i32,
}

/// The pair as the pool orders it; fixed for the life of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) token0: Address,
    pub(crate) token1: Address,
    pub(crate) orientation: PairOrientation,
}

impl UniswapV3Source {
    /// Token order and decimals, read on the first fetch and kept.
    pub(super) async fn pair(&self, at: BlockId) -> Result<Pair, SourceError> {
        self.pair.get_or_try_init(|| self.read_pair(at)).await.copied()
    }

    async fn read_pair(&self, at: BlockId) -> Result<Pair, SourceError> {
        let token = self.settings.token;
        let (token0, token1) = match &self.settings.locator {
            // Uniswap orders a pool's tokens by address; every fee tier has the same order.
            PoolLocator::Factory { .. } => {
                let quote = self.settings.quote.unwrap_or_default();
                (token.min(quote), token.max(quote))
            }
            PoolLocator::Pool(pool) => {
                let contract = IUniswapV3Pool::new(*pool, self.settings.provider.clone());
                let read = |e: alloy::contract::Error| self.unreachable(&format!("pool {pool} tokens"), &e);
                let (token0, token1) = tokio::try_join!(
                    async { contract.token0().block(at).call().await.map_err(read) },
                    async { contract.token1().block(at).call().await.map_err(read) },
                )?;
                let other = if token == token0 {
                    token1
                } else if token == token1 {
                    token0
                } else {
                    return Err(self.invalid(
                        "pool tokens",
                        format!("pool {pool} trades {token0}/{token1}, not the priced token {token}"),
                    ));
                };
                if let Some(quote) = self.settings.quote.filter(|q| *q != other) {
                    return Err(self.invalid(
                        "pool tokens",
                        format!("pool {pool} prices {token} in {other}, not in the configured quote {quote}"),
                    ));
                }
                (token0, token1)
            }
        };
        let (decimals0, decimals1) =
            tokio::try_join!(self.decimals_of(token0, at), self.decimals_of(token1, at))?;
        let orientation = PairOrientation { decimals0, decimals1, base_is_token0: token == token0 };
        tracing::info!(
            source = %self.name, %token0, %token1, decimals0, decimals1, base_is_token0 = orientation.base_is_token0,
            "pool pair"
        );
        Ok(Pair { token0, token1, orientation })
    }

    async fn decimals_of(&self, token: Address, at: BlockId) -> Result<u8, SourceError> {
        let decimals = IERC20Decimals::new(token, self.settings.provider.clone())
            .decimals()
            .block(at)
            .call()
            .await
            .map_err(|e| self.unreachable(&format!("token {token} decimals()"), &e))?;
        if decimals > MAX_DECIMALS {
            return Err(self.invalid(
                "token decimals",
                format!("token {token} has {decimals} decimals, at most {MAX_DECIMALS} are supported"),
            ));
        }
        Ok(decimals)
    }

    /// With a factory: `(fee, pool)` for every searched fee tier that has a pool, found once.
    async fn candidates(
        &self,
        at: BlockId,
        factory: Address,
        fee_tiers: &[u32],
    ) -> Result<&[(u32, Address)], SourceError> {
        let pools = self
            .pools
            .get_or_try_init(|| async {
                let contract = IUniswapV3Factory::new(factory, self.settings.provider.clone());
                let token = self.settings.token;
                let quote = self.settings.quote.unwrap_or_default();
                let found = try_join_all(fee_tiers.iter().map(|&fee| {
                    let call = contract.getPool(token, quote, alloy::primitives::aliases::U24::from(fee));
                    async move {
                        let pool = call.block(at).call().await.map_err(|e| {
                            self.unreachable(&format!("factory {factory} getPool(fee {fee})"), &e)
                        })?;
                        Ok::<_, SourceError>((fee, pool))
                    }
                }))
                .await?;
                let found: Vec<_> = found.into_iter().filter(|(_, pool)| !pool.is_zero()).collect();
                if found.is_empty() {
                    // Not cached: the pool may be created later.
                    return Err(self.invalid(
                        "pool",
                        format!(
                            "factory {factory} has no pool for {token}/{quote} at fee tiers {fee_tiers:?}"
                        ),
                    ));
                }
                Ok(found)
            })
            .await?;
        Ok(pools)
    }

    /// The pools a fetch considers: the configured one, or every fee tier's pool of the pair.
    pub(super) async fn candidate_pools(
        &self,
        at: BlockId,
    ) -> Result<Vec<(Option<u32>, Address)>, SourceError> {
        Ok(match &self.settings.locator {
            PoolLocator::Pool(pool) => vec![(None, *pool)],
            PoolLocator::Factory { factory, fee_tiers } => {
                self.candidates(at, *factory, fee_tiers).await?.iter().map(|&(f, p)| (Some(f), p)).collect()
            }
        })
    }

    /// Spot mode: the candidate with the most in-range liquidity right now (ties go to the first
    /// fee tier listed), with its current tick. A position minted a block before the read wins
    /// this choice: that is why spot is never the default.
    pub(super) async fn select_spot_pool(&self, at: BlockId, pair: &Pair) -> Result<PoolChoice, SourceError> {
        let candidates = self.candidate_pools(at).await?;
        let read = try_join_all(candidates.iter().map(|&(fee, pool)| async move {
            let contract = IUniswapV3Pool::new(pool, self.settings.provider.clone());
            let (liquidity, slot0) = tokio::try_join!(
                async {
                    contract
                        .liquidity()
                        .block(at)
                        .call()
                        .await
                        .map_err(|e| self.unreachable(&format!("pool {pool} liquidity()"), &e))
                },
                async {
                    contract
                        .slot0()
                        .block(at)
                        .call()
                        .await
                        .map_err(|e| self.unreachable(&format!("pool {pool} slot0()"), &e))
                },
            )?;
            let tick = slot0.tick.as_i32();
            Ok::<_, SourceError>(PoolChoice { pool, fee, liquidity, tick })
        }))
        .await?;
        let mut best: Option<PoolChoice> = None;
        for choice in read {
            if best.is_none_or(|b| choice.liquidity > b.liquidity) {
                best = Some(choice);
            }
        }
        let best = best.ok_or_else(|| self.invalid("pool", "no candidate pool".into()))?;
        self.note_choice(&best, pair);
        Ok(best)
    }

    /// Logs when the dominant pool changes (the first choice included).
    pub(super) fn note_choice(&self, choice: &PoolChoice, pair: &Pair) {
        let Ok(mut last) = self.last_pool.lock() else { return };
        if *last != Some(choice.pool) {
            tracing::info!(
                source = %self.name, pool = %choice.pool, fee = ?choice.fee, liquidity = choice.liquidity,
                token0 = %pair.token0, token1 = %pair.token1, previous = ?*last,
                "the Uniswap V3 pool with the most in-range liquidity leads"
            );
            *last = Some(choice.pool);
        }
    }
}
