//! What reached the chain: the oracle's `PricesUpdated` events with the transactions that wrote
//! them (and the fencing token they carried), and what waits in the mempool. Guarantees are
//! judged here, not by what a test double says it did.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use oracle_core::evm::bindings::{FencedPriceOracle, ManualPriceOracle};

use crate::Deployment;

/// One update as the chain recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChainUpdate {
    /// The transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block: u64,
    /// The block's timestamp (seconds).
    pub timestamp: u64,
    /// The stored ETH/USD (8 decimals).
    pub eth: U256,
    /// The stored elizaOS/USD (8 decimals).
    pub eliza: U256,
    /// The sender's nonce.
    pub nonce: u64,
    /// The fencing token, for a fenced update.
    pub token: Option<u64>,
}

/// Every `PricesUpdated` of the deployment's oracle, oldest first.
pub async fn updates(d: &Deployment) -> Vec<OnChainUpdate> {
    updates_of(&d.target_admin, d.oracle).await
}

/// Every `PricesUpdated` of `oracle`, oldest first, with the transaction that wrote it.
pub async fn updates_of(provider: &DynProvider, oracle: Address) -> Vec<OnChainUpdate> {
    let filter = Filter::new()
        .address(oracle)
        .event_signature(ManualPriceOracle::PricesUpdated::SIGNATURE_HASH)
        .from_block(0);
    let mut out = Vec::new();
    for log in provider.get_logs(&filter).await.expect("read the oracle's logs") {
        let event =
            ManualPriceOracle::PricesUpdated::decode_log_data(log.data()).expect("a PricesUpdated event");
        let tx_hash = log.transaction_hash.expect("a mined log has its transaction");
        let tx =
            provider.get_transaction_by_hash(tx_hash).await.expect("read the transaction").expect("mined");
        let input = alloy::consensus::Transaction::input(&tx);
        let token = FencedPriceOracle::updatePricesFencedCall::abi_decode(input)
            .ok()
            .map(|c| u64::try_from(c.fencingToken).expect("a u64 token"));
        out.push(OnChainUpdate {
            tx_hash,
            block: log.block_number.expect("mined"),
            timestamp: u64::try_from(event.timestamp).expect("a timestamp"),
            eth: event.ethPrice,
            eliza: event.elizaPrice,
            nonce: alloy::consensus::Transaction::nonce(&tx),
            token,
        });
    }
    out
}

/// How many `PricesUpdated` events the oracle has emitted.
pub async fn update_events(d: &Deployment) -> usize {
    let filter = Filter::new()
        .address(d.oracle)
        .event_signature(ManualPriceOracle::PricesUpdated::SIGNATURE_HASH)
        .from_block(0);
    d.target_admin.get_logs(&filter).await.expect("read the oracle's logs").len()
}

/// Waits until the target's mempool holds a transaction from `from` whose input carries the
/// 8-decimal `price` as an argument word; returns its hash and its two fee fields.
pub async fn await_pending_with_price(
    provider: &DynProvider,
    from: Address,
    price: u128,
) -> (String, u128, u128) {
    let word = format!("{price:064x}");
    let mut ticker = tokio::time::interval(Duration::from_millis(25));
    loop {
        ticker.tick().await;
        let pool: serde_json::Value =
            provider.raw_request("txpool_content".into(), ()).await.expect("read the mempool");
        let Some(pending) = pool["pending"].as_object() else { continue };
        for (sender, txs) in pending {
            if !sender.eq_ignore_ascii_case(&from.to_string()) {
                continue;
            }
            for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                if tx["input"].as_str().is_some_and(|input| input.contains(&word)) {
                    let fee = |field: &str| {
                        let hex = tx[field].as_str().expect("a fee field");
                        u128::from_str_radix(hex.trim_start_matches("0x"), 16).expect("a hex fee")
                    };
                    return (
                        tx["hash"].as_str().expect("a hash").to_owned(),
                        fee("maxFeePerGas"),
                        fee("maxPriorityFeePerGas"),
                    );
                }
            }
        }
    }
}

/// How many transactions from `from` wait in the target's mempool.
pub async fn pending_from(provider: &DynProvider, from: Address) -> usize {
    let pool: serde_json::Value =
        provider.raw_request("txpool_content".into(), ()).await.expect("read the mempool");
    pool["pending"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(sender, _)| sender.eq_ignore_ascii_case(&from.to_string()))
        .map(|(_, txs)| txs.as_object().map_or(0, |m| m.len()))
        .sum()
}
