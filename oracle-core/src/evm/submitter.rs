//! The [`Submitter`] for `ManualPriceOracle` (and its fenced variant), and for any contract a
//! [`GenericTarget`] describes: connecting and checking the target, reading its state.
//! Transactions (simulate, send, replace, wait) are in `tx.rs`, shared by both shapes.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U128, U256},
    providers::{DynProvider, Provider},
    rpc::{
        client::BatchRequest,
        types::{Block, BlockNumberOrTag, TransactionRequest},
    },
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use async_trait::async_trait;

use super::{
    EvmError,
    bindings::ManualPriceOracle::{self, ManualPriceOracleInstance},
    errors::{from_contract, from_transport},
};
use crate::{
    DeviationRule, FeeEstimate, FeedId, FeedState, Fence, FencingToken, OnChainState, PendingUpdate, Price,
    PriceBounds, PriceUpdate, SubmitError, Submitter, UpdateOutcome,
};

use super::{
    GenericTarget,
    lane::{DEFAULT_LANE_WAIT, LaneSeat, NonceLane},
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
    stuck_after: Duration,
    stuck_blocks: u64,
    poll_interval: Duration,
    journal_dir: Option<PathBuf>,
    generic: Option<GenericTarget>,
    nonce_lane: Option<NonceLane>,
    lane_wait: Duration,
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
            stuck_after: Duration::from_secs(30),
            stuck_blocks: 3,
            poll_interval: Duration::from_secs(1),
            journal_dir: None,
            generic: None,
            nonce_lane: None,
            lane_wait: DEFAULT_LANE_WAIT,
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

    /// A sent transaction counts as stuck when it is not mined this long after it was sent
    /// (default 30 s) ...
    pub fn stuck_after(mut self, after: Duration) -> Self {
        self.stuck_after = after;
        self
    }

    /// ... or after this many new blocks (default 3), whichever comes first.
    pub fn stuck_blocks(mut self, blocks: u64) -> Self {
        self.stuck_blocks = blocks;
        self
    }

    /// How often to poll for a receipt (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Where to keep the in-flight journal (default: none): the update sent and not yet resolved,
    /// so that a restarted process, or another bot on this host with the same key and directory,
    /// follows it instead of forgetting it (see `journal.rs`). The directory is created if
    /// missing. Without it a restart still never sends a duplicate (a new update takes the lowest
    /// unmined nonce), but does not know the fees of what is pending there.
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal_dir = Some(dir.into());
        self
    }

    /// Targets a contract of another shape, described by `target` (see [`GenericTarget`]),
    /// instead of `ManualPriceOracle`; [`feeds`](Self::feeds) is then not used.
    pub fn generic(mut self, target: GenericTarget) -> Self {
        self.generic = Some(target);
        self
    }

    /// Shares one nonce stream with the other submitters given a clone of `lane`: every target
    /// on this chain that sends with this key must have the same lane (default: a lane of its
    /// own), or they replace each other's transactions. See [`NonceLane`].
    pub fn nonce_lane(mut self, lane: NonceLane) -> Self {
        self.nonce_lane = Some(lane);
        self
    }

    /// The longest a new update waits for another target's update in flight on the shared
    /// lane (default 30 s, [`DEFAULT_LANE_WAIT`]); then the send fails and the next tick tries
    /// again.
    pub fn lane_wait(mut self, wait: Duration) -> Self {
        self.lane_wait = wait;
        self
    }

    /// Checks the chain and the contract, reads the contract's limits, and returns the submitter.
    ///
    /// Fails with a clear [`EvmError`] when the chain is unreachable, nothing is deployed at the
    /// address, or the code there is not a `ManualPriceOracle`.
    pub async fn connect(self) -> Result<ManualOracleSubmitter, EvmError> {
        let provider = self.provider.ok_or(EvmError::MissingProvider)?;
        let address = self.oracle.ok_or(EvmError::MissingOracleAddress)?;
        let signer = self.signer.ok_or(EvmError::MissingSigner)?;
        if self.fee_multiplier_permille < 1_000 {
            return Err(EvmError::FeeMultiplierBelowOne { permille: self.fee_multiplier_permille });
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
        let from = signer.address();
        let (shape, fenced, name) = match self.generic {
            Some(target) => {
                // The getter must answer with data of its declared shape: what a wrong address
                // or signature would not.
                let call =
                    TransactionRequest::default().with_to(address).with_input(target.getter_calldata());
                let raw = provider.call(call).await.map_err(|e| EvmError::NotAnOracle {
                    address,
                    reason: format!("the getter reverted or failed: {}", from_transport(&e)),
                })?;
                target.decode(&raw).map_err(|e| EvmError::NotAnOracle { address, reason: e.to_string() })?;
                let name = format!("{chain}:{}@{address}", target.function_name());
                (Shape::Generic { target, round: std::sync::Mutex::new(None) }, false, name)
            }
            None => {
                let (shape, fenced) =
                    manual_shape(&provider, &oracle, address, from, [self.eth_feed, self.eliza_feed], &chain)
                        .await?;
                (shape, fenced, format!("{chain}:ManualPriceOracle@{address}"))
            }
        };
        let journal = self.journal_dir.map(|dir| super::journal::Journal::new(&dir, chain_id, from, address));
        tracing::info!(
            oracle = %address, chain = %chain, chain_id, updater = %from, fenced,
            journal = ?journal.as_ref().map(|j| j.path().display().to_string()),
            "connected to the oracle"
        );
        let seat = self.nonce_lane.unwrap_or_default().seat(&name, self.lane_wait);
        Ok(ManualOracleSubmitter {
            seat,
            name,
            provider,
            oracle,
            wallet: EthereumWallet::from(signer),
            from,
            chain_id,
            shape,
            fenced: AtomicBool::new(fenced),
            journal,
            fee_multiplier_permille: self.fee_multiplier_permille,
            stuck_after: self.stuck_after,
            stuck_blocks: self.stuck_blocks,
            poll_interval: self.poll_interval,
        })
    }
}

/// Submits to a `ManualPriceOracle` (or, with [`ManualOracleSubmitterBuilder::generic`], to a
/// contract of another shape) with one updater key. Build it with
/// [`ManualOracleSubmitter::builder`].
pub struct ManualOracleSubmitter {
    /// Its place in the key's nonce lane: one update in flight per key and chain.
    seat: LaneSeat,
    name: String,
    pub(super) provider: DynProvider,
    pub(super) oracle: ManualPriceOracleInstance<DynProvider>,
    pub(super) wallet: EthereumWallet,
    pub(super) from: Address,
    pub(super) chain_id: u64,
    pub(super) shape: Shape,
    /// Whether the target is the fenced variant; checked again with every fencing-floor read.
    pub(super) fenced: AtomicBool,
    pub(super) journal: Option<super::journal::Journal>,
    pub(super) fee_multiplier_permille: u64,
    pub(super) stuck_after: Duration,
    pub(super) stuck_blocks: u64,
    pub(super) poll_interval: Duration,
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

    /// Whether the target is the fenced variant (updates carry the fencing token).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// The stored prices, their time and the deviation rule, from the getter's answer `raw`.
    fn stored(
        &self,
        raw: &Bytes,
    ) -> Result<(Vec<FeedState>, std::time::SystemTime, Option<DeviationRule>), SubmitError> {
        // The time comes from the node: checked, as a huge value would overflow `SystemTime`.
        let timestamp = |secs: u64, what: &str| {
            crate::unix_time(secs).ok_or_else(|| SubmitError::InvalidResponse {
                reason: format!("{what} {secs} is not a timestamp"),
            })
        };
        match &self.shape {
            Shape::Generic { target, round } => {
                let stored = target.decode(raw)?;
                *round.lock().unwrap_or_else(|p| p.into_inner()) = stored.round;
                let feeds = stored
                    .prices
                    .into_iter()
                    .map(|(feed, price)| FeedState { feed, price, bounds: None })
                    .collect();
                Ok((feeds, timestamp(stored.updated_at, "the getter's update time")?, None))
            }
            Shape::Manual { feeds, bounds, deviation_rule } => {
                let prices = ManualPriceOracle::getPricesCall::abi_decode_returns(raw).map_err(|e| {
                    SubmitError::InvalidResponse {
                        reason: if raw.is_empty() {
                            "getPrices() returned no data: no oracle at the address".to_owned()
                        } else {
                            format!("getPrices() returned undecodable data: {e}")
                        },
                    }
                })?;
                let price = |v: U256| {
                    Price::new(v, ORACLE_DECIMALS)
                        .map_err(|e| SubmitError::InvalidResponse { reason: e.to_string() })
                };
                let last_update = u64::try_from(prices.lastUpdate)
                    .map_err(|_| SubmitError::InvalidResponse {
                        reason: format!("getPrices() lastUpdate {} is not a timestamp", prices.lastUpdate),
                    })
                    .and_then(|secs| timestamp(secs, "getPrices() lastUpdate"))?;
                let feeds = vec![
                    FeedState {
                        feed: feeds[0].clone(),
                        price: price(prices.ethUsd)?,
                        bounds: Some(bounds[0]),
                    },
                    FeedState {
                        feed: feeds[1].clone(),
                        price: price(prices.elizaUsd)?,
                        bounds: Some(bounds[1]),
                    },
                ];
                Ok((feeds, last_update, Some(*deviation_rule)))
            }
        }
    }
}

/// What the submitter knows of the contract's shape.
pub(super) enum Shape {
    /// `ManualPriceOracle` (or its fenced variant): two prices, with the bounds and the deviation
    /// rule read from the contract at start-up.
    Manual {
        /// The feeds of its two prices, in argument order.
        feeds: [FeedId; 2],
        bounds: [PriceBounds; 2],
        deviation_rule: DeviationRule,
    },
    /// A contract described by a [`GenericTarget`].
    Generic {
        target: GenericTarget,
        /// The round the last state read returned, for an update that takes the next one.
        round: std::sync::Mutex<Option<U256>>,
    },
}

/// Reads `ManualPriceOracle`'s bounds, deviation limit, updater and owner, and whether it is the
/// fenced variant; warns when `from` may not update it.
async fn manual_shape(
    provider: &DynProvider,
    oracle: &ManualPriceOracleInstance<DynProvider>,
    address: Address,
    from: Address,
    feeds: [FeedId; 2],
    chain: &str,
) -> Result<(Shape, bool), EvmError> {
    let not_oracle = |what: &str, e: alloy::contract::Error| EvmError::NotAnOracle {
        address,
        reason: format!("{what}: {}", from_contract(&e)),
    };
    let (min_eth, max_eth, min_eliza, max_eliza, max_dev, updater, owner) = tokio::try_join!(
        async { oracle.MIN_ETH_PRICE().call().await.map_err(|e| not_oracle("MIN_ETH_PRICE()", e)) },
        async { oracle.MAX_ETH_PRICE().call().await.map_err(|e| not_oracle("MAX_ETH_PRICE()", e)) },
        async { oracle.MIN_ELIZA_PRICE().call().await.map_err(|e| not_oracle("MIN_ELIZA_PRICE()", e)) },
        async { oracle.MAX_ELIZA_PRICE().call().await.map_err(|e| not_oracle("MAX_ELIZA_PRICE()", e)) },
        async { oracle.MAX_DEVIATION_PCT().call().await.map_err(|e| not_oracle("MAX_DEVIATION_PCT()", e)) },
        async { oracle.priceUpdater().call().await.map_err(|e| not_oracle("priceUpdater()", e)) },
        async { oracle.owner().call().await.map_err(|e| not_oracle("owner()", e)) },
    )?;
    // The fenced variant answers `highestFencingToken()`; the plain oracle reverts. Anything
    // else (a node down) is not an answer: better no bot than one sending the wrong call.
    let fenced = match detect_fence(provider, address).await {
        Ok(floor) => floor.is_some(),
        Err(e) => return Err(EvmError::Unreachable { chain: chain.to_owned(), reason: e.to_string() }),
    };
    if from != updater && from != owner {
        tracing::warn!(
            %from, %updater, %owner, oracle = %address,
            "the updater key is neither the oracle's priceUpdater nor its owner: every update will be refused (NotAuthorized)"
        );
    }
    let price = |v: U256| {
        Price::new(v, ORACLE_DECIMALS).map_err(|e| EvmError::NotAnOracle { address, reason: e.to_string() })
    };
    let bounds = [
        PriceBounds { min: price(min_eth)?, max: price(max_eth)? },
        PriceBounds { min: price(min_eliza)?, max: price(max_eliza)? },
    ];
    let max_pct = u64::try_from(max_dev).map_err(|_| EvmError::NotAnOracle {
        address,
        reason: format!("MAX_DEVIATION_PCT() = {max_dev} is not a percentage"),
    })?;
    // The contract skips its deviation check when the stored data is older than one day.
    let deviation_rule = DeviationRule { max_pct, bypass_after: Duration::from_secs(86_400) };
    Ok((Shape::Manual { feeds, bounds, deviation_rule }, fenced))
}

/// Reads `highestFencingToken()`: `Some` on the fenced oracle, `None` on the plain one (the call
/// reverts there), an error when the node gave no answer either way.
async fn detect_fence(provider: &DynProvider, address: Address) -> Result<Option<FencingToken>, SubmitError> {
    let oracle = super::bindings::FencedPriceOracle::new(address, provider.clone());
    match oracle.highestFencingToken().call().await {
        // Tokens are u64; a larger highest is a floor nothing can exceed, which the engine reports.
        Ok(highest) => Ok(Some(FencingToken(highest.saturating_to()))),
        Err(e) => match from_contract(&e) {
            SubmitError::Rejected(_) => Ok(None),
            other => Err(other),
        },
    }
}

#[async_trait]
impl Submitter for ManualOracleSubmitter {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        // One JSON-RPC batch: one round trip per tick instead of five.
        let transport = |e: alloy::transports::TransportError| from_transport(&e);
        let getter = match &self.shape {
            Shape::Manual { .. } => Bytes::from(ManualPriceOracle::getPricesCall {}.abi_encode()),
            Shape::Generic { target, .. } => target.getter_calldata(),
        };
        let get_prices = TransactionRequest::default().with_to(self.oracle_address()).with_input(getter);
        let mut batch = BatchRequest::new(self.provider.client());
        let block = batch
            .add_call::<_, Option<Block>>("eth_getBlockByNumber", &(BlockNumberOrTag::Latest, false))
            .map_err(transport)?;
        let prices = batch
            .add_call::<_, Bytes>("eth_call", &(get_prices, BlockNumberOrTag::Latest))
            .map_err(transport)?;
        let balance = batch
            .add_call::<_, U256>("eth_getBalance", &(self.from, BlockNumberOrTag::Latest))
            .map_err(transport)?;
        let gas_price = batch.add_call::<_, U128>("eth_gasPrice", &()).map_err(transport)?;
        let priority = batch.add_call::<_, U128>("eth_maxPriorityFeePerGas", &()).map_err(transport)?;
        batch.send().await.map_err(transport)?;
        let block = block
            .await
            .map_err(transport)?
            .ok_or_else(|| SubmitError::InvalidResponse { reason: "the latest block is missing".into() })?;
        let raw = prices.await.map_err(transport)?;
        let balance = balance.await.map_err(transport)?;
        let gas_price: u128 = gas_price.await.map_err(transport)?.to();
        // Optional: nothing in a tick needs the tip to succeed (the gas cap is checked against
        // `eth_gasPrice`, and sending asks for its own fee estimate), and nodes without EIP-1559
        // methods, some L2s and RPC proxies refuse `eth_maxPriorityFeePerGas`. Such a node must
        // not fail the whole state read: the tip is then reported as 0, "no suggestion".
        let priority: u128 = match priority.await {
            Ok(tip) => tip.to(),
            Err(e) => {
                tracing::debug!(chain = %self.name, error = %from_transport(&e), "eth_maxPriorityFeePerGas unavailable, tip taken as 0");
                0
            }
        };
        let (feeds, last_update, deviation_rule) = self.stored(&raw)?;
        // The block time comes from the node: checked, as a huge value would overflow `SystemTime`.
        let chain_time =
            crate::unix_time(block.header.timestamp).ok_or_else(|| SubmitError::InvalidResponse {
                reason: format!("the latest block's timestamp {} is not a timestamp", block.header.timestamp),
            })?;
        Ok(OnChainState {
            feeds,
            last_update,
            deviation_rule,
            fee: Some(FeeEstimate { price_per_gas: gas_price, priority_fee_per_gas: priority }),
            balance_wei: Some(balance),
            block: Some(block.header.number),
            chain_time: Some(chain_time),
        })
    }

    async fn simulate(&self, update: &PriceUpdate, fence: &Fence) -> Result<(), SubmitError> {
        self.simulate_update(update, fence).await
    }

    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        let mined = || async {
            self.provider.get_transaction_count(self.from).latest().await.map_err(|e| from_transport(&e))
        };
        self.seat.enter(mined).await?;
        match self.send_update(update, fence).await {
            Ok(pending) => {
                self.seat.sent(pending.nonce);
                Ok(pending)
            }
            // Nothing was sent (a broadcast whose answer was lost counts as sent, above).
            Err(e) => {
                self.seat.leave();
                Err(e)
            }
        }
    }

    async fn replace(
        &self,
        pending: &PendingUpdate,
        update: &PriceUpdate,
        fence: &Fence,
    ) -> Result<PendingUpdate, SubmitError> {
        let replaced = self.replace_update(pending, update, fence).await?;
        self.seat.sent(replaced.nonce);
        Ok(replaced)
    }

    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        let outcome = self.wait_update(pending).await?;
        match outcome {
            UpdateOutcome::Stuck { .. } => {}
            // Resolved: nothing of this nonce can land any more.
            UpdateOutcome::Mined { .. }
            | UpdateOutcome::Reverted { .. }
            | UpdateOutcome::LandedElsewhere { .. } => {
                self.seat.leave();
            }
        }
        Ok(outcome)
    }

    async fn fencing_floor(&self) -> Result<Option<FencingToken>, SubmitError> {
        // A generic target's fence, if it takes a token, is not readable in a known shape.
        if matches!(self.shape, Shape::Generic { .. }) {
            return Ok(None);
        }
        let floor = detect_fence(&self.provider, self.oracle_address()).await?;
        let was = self.fenced.swap(floor.is_some(), Ordering::Relaxed);
        if was != floor.is_some() {
            tracing::warn!(oracle = %self.oracle_address(), fenced = floor.is_some(), "the oracle's fencing changed since start-up");
        }
        Ok(floor)
    }

    async fn recover(&self) -> Result<Option<PendingUpdate>, SubmitError> {
        let Some(journal) = &self.journal else { return Ok(None) };
        let pending = journal.load().map_err(|e| SubmitError::Journal { reason: e.to_string() })?;
        if let Some(p) = &pending {
            // In flight since before a restart: it holds the key's lane until resolved.
            self.seat.sent(p.nonce);
        }
        Ok(pending)
    }
}
