//! Which pool, and how its two tokens read: token order and decimals (read once), and the
//! choice among fee tiers by in-range liquidity (read every fetch).

use alloy::{eips::BlockId, primitives::Address};
use futures_util::future::try_join_all;
use oracle_core::{MAX_DECIMALS, SourceError};

use super::{
    UniswapV3Source,
    bindings::{IERC20Decimals, IUniswapV3Factory, IUniswapV3Pool},
    builder::PoolLocator,
    price_math::PairOrientation,
};

/// The pool a fetch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolChoice {
    /// The pool's address.
    pub pool: Address,
    /// Its fee tier, when found through the factory.
    pub fee: Option<u32>,
    /// Its in-range `liquidity()` at the block read.
    pub liquidity: u128,
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

    /// The pool to read: the configured one, or the candidate with the most in-range liquidity
    /// (ties go to the first fee tier listed).
    pub(super) async fn select_pool(&self, at: BlockId, pair: &Pair) -> Result<PoolChoice, SourceError> {
        let candidates: Vec<(Option<u32>, Address)> = match &self.settings.locator {
            PoolLocator::Pool(pool) => vec![(None, *pool)],
            PoolLocator::Factory { factory, fee_tiers } => {
                self.candidates(at, *factory, fee_tiers).await?.iter().map(|&(f, p)| (Some(f), p)).collect()
            }
        };
        let liquidities = try_join_all(candidates.iter().map(|&(fee, pool)| async move {
            let liquidity = IUniswapV3Pool::new(pool, self.settings.provider.clone())
                .liquidity()
                .block(at)
                .call()
                .await
                .map_err(|e| self.unreachable(&format!("pool {pool} liquidity()"), &e))?;
            Ok::<_, SourceError>(PoolChoice { pool, fee, liquidity })
        }))
        .await?;
        let mut best: Option<PoolChoice> = None;
        for choice in liquidities {
            if best.is_none_or(|b| choice.liquidity > b.liquidity) {
                best = Some(choice);
            }
        }
        let best = best.ok_or_else(|| self.invalid("pool", "no candidate pool".into()))?;
        self.note_choice(&best, pair);
        Ok(best)
    }

    /// Logs when the chosen pool changes (the first choice included).
    fn note_choice(&self, choice: &PoolChoice, pair: &Pair) {
        let Ok(mut last) = self.last_pool.lock() else { return };
        if *last != Some(choice.pool) {
            tracing::info!(
                source = %self.name, pool = %choice.pool, fee = ?choice.fee, liquidity = choice.liquidity,
                token0 = %pair.token0, token1 = %pair.token1, previous = ?*last,
                "using the Uniswap V3 pool with the most in-range liquidity"
            );
            *last = Some(choice.pool);
        }
    }
}
