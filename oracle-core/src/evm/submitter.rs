//! The [`Submitter`] for `ManualPriceOracle`: reads `getPrices()`, simulates `updatePrices` with
//! `eth_call`, signs an EIP-1559 transaction with capped fees, and follows it to a receipt.

use std::time::{Duration, SystemTime};

use alloy::{
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    rpc::types::{BlockNumberOrTag, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use async_trait::async_trait;

use super::{
    EvmError,
    bindings::ManualPriceOracle::{self, ManualPriceOracleInstance},
    errors::{from_contract, from_transport},
};
use crate::{
    DeviationRule, FeeEstimate, FeedId, FeedState, Fence, OnChainState, PendingUpdate, Price, PriceBounds,
    PriceUpdate, SubmitError, Submitter, UpdateOutcome,
};

/// `ManualPriceOracle` stores USD prices with 8 decimals (Chainlink's format).
pub const ORACLE_DECIMALS: u8 = 8;

/// Builds a [`ManualOracleSubmitter`]; [`connect`](Self::connect) checks the target before use.
#[derive(Debug)]
pub struct ManualOracleSubmitterBuilder {
    provider: Option<DynProvider>,
    chain_name: String,
    oracle: Option<Address>,
    signer: Option<PrivateKeySigner>,
    eth_feed: FeedId,
    eliza_feed: FeedId,
    fee_multiplier_permille: u64,
    receipt_timeout: Duration,
    poll_interval: Duration,
}

impl Default for ManualOracleSubmitterBuilder {
    fn default() -> Self {
        Self {
            provider: None,
            chain_name: "Jeju".into(),
            oracle: None,
            signer: None,
            eth_feed: FeedId::ETH_USD,
            eliza_feed: FeedId::ELIZAOS_USD,
            fee_multiplier_permille: 1_200,
            receipt_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl ManualOracleSubmitterBuilder {
    /// The target chain's provider (required).
    pub fn provider(mut self, provider: DynProvider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The chain's name for logs and errors (default `Jeju`).
    pub fn chain_name(mut self, name: impl Into<String>) -> Self {
        self.chain_name = name.into();
        self
    }

    /// The oracle contract's address (required).
    pub fn oracle(mut self, address: Address) -> Self {
        self.oracle = Some(address);
        self
    }

    /// The updater key (required).
    pub fn signer(mut self, signer: PrivateKeySigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The feed ids of the contract's two prices (default `ETH/USD` and `ELIZAOS/USD`).
    pub fn feeds(mut self, eth: FeedId, eliza: FeedId) -> Self {
        self.eth_feed = eth;
        self.eliza_feed = eliza;
        self
    }

    /// Multiplies the network's fee suggestion, in permille (default 1200 = ×1.2, the old bot's
    /// `GAS_PRICE_MULTIPLIER`); the result is always capped by the update's fee cap.
    pub fn fee_multiplier_permille(mut self, permille: u64) -> Self {
        self.fee_multiplier_permille = permille;
        self
    }

    /// How long to wait for a receipt (default 120 s).
    pub fn receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// How often to poll for a receipt (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Checks the chain and the contract, reads the contract's limits, and returns the submitter.
    ///
    /// Fails with a clear [`EvmError`] when the chain is unreachable, nothing is deployed at the
    /// address, or the code there is not a `ManualPriceOracle`.
    pub async fn connect(self) -> Result<ManualOracleSubmitter, EvmError> {
        let provider = self.provider.ok_or(EvmError::Config("the submitter needs a provider".into()))?;
        let address = self.oracle.ok_or(EvmError::Config("the submitter needs the oracle address".into()))?;
        let signer = self.signer.ok_or(EvmError::Config("the submitter needs a signer".into()))?;
        if self.fee_multiplier_permille < 1_000 {
            return Err(EvmError::Config(format!(
                "the gas price multiplier must be at least 1.0, got {}.{:03}",
                self.fee_multiplier_permille / 1000,
                self.fee_multiplier_permille % 1000
            )));
        }
        let chain = self.chain_name;
        let unreachable = |e: alloy::transports::TransportError| EvmError::Unreachable {
            chain: chain.clone(),
            reason: from_transport(&e).to_string(),
        };
        let chain_id = provider.get_chain_id().await.map_err(unreachable)?;
        let code = provider.get_code_at(address).await.map_err(unreachable)?;
        if code.is_empty() {
            return Err(EvmError::NoContract { chain: chain.clone(), chain_id, address });
        }
        let oracle = ManualPriceOracle::new(address, provider.clone());
        let not_oracle = |what: &str, e: alloy::contract::Error| EvmError::NotAnOracle {
            address,
            reason: format!("{what}: {}", from_contract(&e)),
        };
        let (min_eth, max_eth, min_eliza, max_eliza, max_dev, updater, owner) = tokio::try_join!(
            async { oracle.MIN_ETH_PRICE().call().await.map_err(|e| not_oracle("MIN_ETH_PRICE()", e)) },
            async { oracle.MAX_ETH_PRICE().call().await.map_err(|e| not_oracle("MAX_ETH_PRICE()", e)) },
            async { oracle.MIN_ELIZA_PRICE().call().await.map_err(|e| not_oracle("MIN_ELIZA_PRICE()", e)) },
            async { oracle.MAX_ELIZA_PRICE().call().await.map_err(|e| not_oracle("MAX_ELIZA_PRICE()", e)) },
            async {
                oracle.MAX_DEVIATION_PCT().call().await.map_err(|e| not_oracle("MAX_DEVIATION_PCT()", e))
            },
            async { oracle.priceUpdater().call().await.map_err(|e| not_oracle("priceUpdater()", e)) },
            async { oracle.owner().call().await.map_err(|e| not_oracle("owner()", e)) },
        )?;
        let from = signer.address();
        if from != updater && from != owner {
            tracing::warn!(
                %from, %updater, %owner, oracle = %address,
                "the updater key is neither the oracle's priceUpdater nor its owner: every update will be refused (NotAuthorized)"
            );
        }
        let price = |v: U256| {
            Price::new(v, ORACLE_DECIMALS)
                .map_err(|e| EvmError::NotAnOracle { address, reason: e.to_string() })
        };
        let bounds = [
            PriceBounds { min: price(min_eth)?, max: price(max_eth)? },
            PriceBounds { min: price(min_eliza)?, max: price(max_eliza)? },
        ];
        let max_pct = u64::try_from(max_dev).map_err(|_| EvmError::NotAnOracle {
            address,
            reason: format!("MAX_DEVIATION_PCT() = {max_dev} is not a percentage"),
        })?;
        let name = format!("{chain}:ManualPriceOracle@{address}");
        tracing::info!(oracle = %address, chain = %chain, chain_id, updater = %from, "connected to the oracle");
        Ok(ManualOracleSubmitter {
            name,
            provider,
            oracle,
            wallet: EthereumWallet::from(signer),
            from,
            chain_id,
            feeds: [self.eth_feed, self.eliza_feed],
            bounds,
            // The contract skips its deviation check when the stored data is older than one day.
            deviation_rule: DeviationRule { max_pct, bypass_after: Duration::from_secs(86_400) },
            fee_multiplier_permille: self.fee_multiplier_permille,
            receipt_timeout: self.receipt_timeout,
            poll_interval: self.poll_interval,
        })
    }
}

/// Submits to a `ManualPriceOracle` with one updater key. Build it with
/// [`ManualOracleSubmitter::builder`].
pub struct ManualOracleSubmitter {
    name: String,
    provider: DynProvider,
    oracle: ManualPriceOracleInstance<DynProvider>,
    wallet: EthereumWallet,
    from: Address,
    chain_id: u64,
    feeds: [FeedId; 2],
    bounds: [PriceBounds; 2],
    deviation_rule: DeviationRule,
    fee_multiplier_permille: u64,
    receipt_timeout: Duration,
    poll_interval: Duration,
}

impl std::fmt::Debug for ManualOracleSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The wallet (and its key) is deliberately left out.
        f.debug_struct("ManualOracleSubmitter")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl ManualOracleSubmitter {
    /// A builder.
    pub fn builder() -> ManualOracleSubmitterBuilder {
        ManualOracleSubmitterBuilder::default()
    }

    /// The updater's address.
    pub fn from_address(&self) -> Address {
        self.from
    }

    /// The oracle's address.
    pub fn oracle_address(&self) -> Address {
        *self.oracle.address()
    }

    /// The contract's two prices as `uint256` at 8 decimals, in argument order.
    fn arguments(&self, update: &PriceUpdate) -> Result<(U256, U256), SubmitError> {
        let arg = |feed: &FeedId| -> Result<U256, SubmitError> {
            let price = update.price(feed).ok_or_else(|| SubmitError::InvalidResponse {
                reason: format!("the update has no {feed} price"),
            })?;
            let price = price
                .rescale(ORACLE_DECIMALS)
                .map_err(|e| SubmitError::InvalidResponse { reason: format!("{feed}: {e}") })?;
            Ok(price.mantissa())
        };
        Ok((arg(&self.feeds[0])?, arg(&self.feeds[1])?))
    }

    /// The fees to offer: the network's EIP-1559 suggestion times the multiplier, capped.
    async fn fees(&self, cap: u128) -> Result<(u128, u128), SubmitError> {
        let ask = self.provider.get_gas_price().await.map_err(|e| from_transport(&e))?;
        if ask > cap {
            return Err(SubmitError::FeeAboveCap { asked_wei: ask, cap_wei: cap });
        }
        let est = self.provider.estimate_eip1559_fees().await.map_err(|e| from_transport(&e))?;
        let scale = |v: u128| v.saturating_mul(u128::from(self.fee_multiplier_permille)) / 1_000;
        let max_fee = scale(est.max_fee_per_gas).max(ask).min(cap);
        let priority = scale(est.max_priority_fee_per_gas).min(max_fee);
        Ok((max_fee, priority))
    }
}

#[async_trait]
impl Submitter for ManualOracleSubmitter {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        let (block, prices, balance, gas_price, priority) = tokio::try_join!(
            async {
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Latest)
                    .await
                    .map_err(|e| from_transport(&e))?
                    .ok_or_else(|| SubmitError::InvalidResponse {
                        reason: "the latest block is missing".into(),
                    })
            },
            async { self.oracle.getPrices().call().await.map_err(|e| from_contract(&e)) },
            async { self.provider.get_balance(self.from).await.map_err(|e| from_transport(&e)) },
            async { self.provider.get_gas_price().await.map_err(|e| from_transport(&e)) },
            async { self.provider.get_max_priority_fee_per_gas().await.map_err(|e| from_transport(&e)) },
        )?;
        let price = |v: U256| {
            Price::new(v, ORACLE_DECIMALS).map_err(|e| SubmitError::InvalidResponse { reason: e.to_string() })
        };
        let last_update = u64::try_from(prices.lastUpdate).map_err(|_| SubmitError::InvalidResponse {
            reason: format!("lastUpdate {} is not a timestamp", prices.lastUpdate),
        })?;
        Ok(OnChainState {
            feeds: vec![
                FeedState {
                    feed: self.feeds[0].clone(),
                    price: price(prices.ethUsd)?,
                    bounds: Some(self.bounds[0]),
                },
                FeedState {
                    feed: self.feeds[1].clone(),
                    price: price(prices.elizaUsd)?,
                    bounds: Some(self.bounds[1]),
                },
            ],
            last_update: SystemTime::UNIX_EPOCH + Duration::from_secs(last_update),
            deviation_rule: Some(self.deviation_rule),
            fee: Some(FeeEstimate { price_per_gas: gas_price, priority_fee_per_gas: priority }),
            balance_wei: Some(balance),
            block: Some(block.header.number),
            chain_time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(block.header.timestamp)),
        })
    }

    async fn simulate(&self, update: &PriceUpdate) -> Result<(), SubmitError> {
        let (eth, eliza) = self.arguments(update)?;
        self.oracle.updatePrices(eth, eliza).from(self.from).call().await.map_err(|e| from_contract(&e))?;
        Ok(())
    }

    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        let (eth, eliza) = self.arguments(update)?;
        let call = self.oracle.updatePrices(eth, eliza).from(self.from);
        // Gas estimation executes the call again at the latest block: a second simulation.
        let (gas, nonce, (max_fee, priority)) = tokio::try_join!(
            async { call.estimate_gas().await.map_err(|e| from_contract(&e)) },
            async {
                self.provider.get_transaction_count(self.from).pending().await.map_err(|e| from_transport(&e))
            },
            self.fees(update.max_fee_per_gas),
        )?;
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.oracle_address())
            .with_input(call.calldata().clone())
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            // 20% headroom: state can change between estimation and inclusion.
            .with_gas_limit(gas.saturating_mul(6) / 5)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(priority);
        fence.check()?;
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| SubmitError::Refused { reason: format!("signing failed: {e}") })?;
        fence.check()?;
        let pending = self.provider.send_tx_envelope(envelope).await.map_err(|e| from_transport(&e))?;
        Ok(PendingUpdate {
            tx_hash: *pending.tx_hash(),
            nonce,
            update: update.clone(),
            sent_at: SystemTime::now(),
        })
    }

    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        let poll = async {
            let mut ticker = tokio::time::interval(self.poll_interval);
            loop {
                ticker.tick().await;
                match self.provider.get_transaction_receipt(pending.tx_hash).await {
                    Ok(Some(receipt)) => return Ok::<_, SubmitError>(receipt),
                    Ok(None) => {}
                    // A failing node mid-wait is not the transaction failing: keep polling.
                    Err(e) => {
                        tracing::warn!(tx_hash = %pending.tx_hash, error = %from_transport(&e), "receipt poll failed")
                    }
                }
            }
        };
        let receipt =
            tokio::time::timeout(self.receipt_timeout, poll).await.map_err(|_| SubmitError::Timeout {
                what: format!("the receipt of {}", pending.tx_hash),
                after: self.receipt_timeout,
            })??;
        let block = receipt.block_number.unwrap_or_default();
        if receipt.status() {
            Ok(UpdateOutcome::Mined {
                tx_hash: pending.tx_hash,
                block,
                gas_used: receipt.gas_used,
                effective_gas_price: receipt.effective_gas_price,
            })
        } else {
            Ok(UpdateOutcome::Reverted { tx_hash: pending.tx_hash, block })
        }
    }
}
