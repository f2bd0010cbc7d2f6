//! Reading the oracle, and the one way this tool sends a transaction: simulate, cap the fee,
//! show, confirm, send, wait.

use std::time::Duration;

use alloy::{
    eips::eip2718::Encodable2718 as _,
    network::{EthereumWallet, NetworkTransactionBuilder as _, TransactionBuilder as _},
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider as _},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use oracle_core::{
    Price, SubmitError,
    evm::{
        bindings::{FencedPriceOracle, ManualPriceOracle},
        classify_transport_error,
    },
};
use serde_json::{Value, json};

use crate::{
    CliError, TxArgs,
    output::{age, dollars, gwei, pairs},
};

/// The oracle's price bounds (8 decimals).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) min_eth: U256,
    pub(crate) max_eth: U256,
    pub(crate) min_eliza: U256,
    pub(crate) max_eliza: U256,
}

impl Bounds {
    /// The deployed contract's constants, for a deployment that does not exist yet.
    pub(crate) fn jeju() -> Self {
        Self {
            min_eth: U256::from(50_000_000_000u64),
            max_eth: U256::from(1_000_000_000_000u64),
            min_eliza: U256::from(100u64),
            max_eliza: U256::from(1_000_000_000_000u64),
        }
    }

    /// Refuses a price outside the bounds, locally, before anything is simulated.
    pub(crate) fn check(&self, eth: U256, eliza: U256) -> Result<(), CliError> {
        let out = |feed, price: U256, min: U256, max: U256| CliError::OutOfBounds {
            feed,
            price: dollars(price),
            min: dollars(min),
            max: dollars(max),
        };
        if eth < self.min_eth || eth > self.max_eth {
            return Err(out("ETH/USD", eth, self.min_eth, self.max_eth));
        }
        if eliza < self.min_eliza || eliza > self.max_eliza {
            return Err(out("elizaOS/USD", eliza, self.min_eliza, self.max_eliza));
        }
        Ok(())
    }
}

/// What the oracle holds now.
#[derive(Debug, Clone)]
pub(crate) struct OracleState {
    pub(crate) address: Address,
    pub(crate) eth: U256,
    pub(crate) eliza: U256,
    pub(crate) last_update: u64,
    pub(crate) fresh: bool,
    pub(crate) updater: Address,
    pub(crate) owner: Address,
    pub(crate) version: String,
    /// `highestFencingToken()` when the oracle is the fenced variant.
    pub(crate) fenced: Option<U256>,
    pub(crate) bounds: Bounds,
    pub(crate) stale_threshold: u64,
    pub(crate) block: u64,
    pub(crate) chain_time: u64,
}

impl OracleState {
    /// The age of the stored prices at the latest block.
    pub(crate) fn age(&self) -> u64 {
        self.chain_time.saturating_sub(self.last_update)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "address": self.address.to_string(),
            "ethUsd": { "dollars": dollars(self.eth), "raw": self.eth.to_string() },
            "elizaUsd": { "dollars": dollars(self.eliza), "raw": self.eliza.to_string() },
            "lastUpdate": self.last_update,
            "ageSeconds": self.age(),
            "fresh": self.fresh,
            "staleThresholdSeconds": self.stale_threshold,
            "priceUpdater": self.updater.to_string(),
            "owner": self.owner.to_string(),
            "version": self.version,
            "fenced": self.fenced.is_some(),
            "highestFencingToken": self.fenced.map(|t| t.to_string()),
            "block": self.block,
        })
    }

    pub(crate) fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("oracle", self.address.to_string()),
            ("ETH/USD", format!("${}  (raw {})", dollars(self.eth), self.eth)),
            ("elizaOS/USD", format!("${}  (raw {})", dollars(self.eliza), self.eliza)),
            ("last update", format!("{} (unix), {} ago", self.last_update, age(self.age()))),
            (
                "freshness",
                if self.fresh {
                    format!("fresh (stale after {})", age(self.stale_threshold))
                } else {
                    format!("STALE (older than {})", age(self.stale_threshold))
                },
            ),
            ("price updater", self.updater.to_string()),
            ("owner", self.owner.to_string()),
            ("version", self.version.clone()),
            (
                "fenced",
                match self.fenced {
                    Some(t) => format!("yes, highest fencing token {t}"),
                    None => "no".into(),
                },
            ),
            ("block", self.block.to_string()),
        ]
    }
}

fn read_err(what: &str) -> impl Fn(alloy::contract::Error) -> CliError + '_ {
    move |e| CliError::rpc(format!("cannot read {what} from the oracle"), e)
}

/// Reads the oracle at `address`; refuses an address without code.
pub(crate) async fn read_oracle(p: &DynProvider, address: Address) -> Result<OracleState, CliError> {
    let code = p.get_code_at(address).await.map_err(|e| CliError::rpc("cannot read the oracle's code", e))?;
    if code.is_empty() {
        let chain = p.get_chain_id().await.map_err(|e| CliError::rpc("cannot read the chain id", e))?;
        return Err(CliError::Usage(format!(
            "no contract at {address} on chain {chain}: check ORACLE_ADDRESS and JEJU_RPC_URLS"
        )));
    }
    let o = ManualPriceOracle::new(address, p.clone());
    let prices = o.getPrices().call().await.map_err(read_err("getPrices()"))?;
    let updater = o.priceUpdater().call().await.map_err(read_err("priceUpdater()"))?;
    let owner = o.owner().call().await.map_err(read_err("owner()"))?;
    let version = o.version().call().await.map_err(read_err("version()"))?;
    let stale_threshold =
        o.PRICE_STALE_THRESHOLD().call().await.map_err(read_err("PRICE_STALE_THRESHOLD()"))?;
    let bounds = Bounds {
        min_eth: o.MIN_ETH_PRICE().call().await.map_err(read_err("MIN_ETH_PRICE()"))?,
        max_eth: o.MAX_ETH_PRICE().call().await.map_err(read_err("MAX_ETH_PRICE()"))?,
        min_eliza: o.MIN_ELIZA_PRICE().call().await.map_err(read_err("MIN_ELIZA_PRICE()"))?,
        max_eliza: o.MAX_ELIZA_PRICE().call().await.map_err(read_err("MAX_ELIZA_PRICE()"))?,
    };
    // Only the fenced variant has it; on the plain oracle the call reverts.
    let fenced = FencedPriceOracle::new(address, p.clone()).highestFencingToken().call().await.ok();
    let block = p
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| CliError::rpc("cannot read the latest block", e))?
        .ok_or_else(|| CliError::rpc("cannot read the latest block", "the node has none"))?;
    Ok(OracleState {
        address,
        eth: prices.ethUsd,
        eliza: prices.elizaUsd,
        last_update: u64::try_from(prices.lastUpdate).unwrap_or(u64::MAX),
        fresh: prices.fresh,
        updater,
        owner,
        version,
        fenced,
        bounds,
        stale_threshold: u64::try_from(stale_threshold).unwrap_or(u64::MAX),
        block: block.header.number,
        chain_time: block.header.timestamp,
    })
}

/// Parses a human price (`3245.67`) as an exact 8-decimal raw value; never through a float.
pub(crate) fn parse_price(flag: &str, text: &str) -> Result<U256, CliError> {
    Price::parse(text, oracle_core::evm::ORACLE_DECIMALS).map(|p| p.mantissa()).map_err(|e| {
        CliError::Usage(format!(
            "{flag} {text:?} is not a USD price with at most 8 decimals ({e}); write e.g. 3245.67"
        ))
    })
}

/// A transaction to simulate and maybe send.
pub(crate) struct TxPlan {
    /// What it does, e.g. `emergencyPriceUpdate(324567000000, 8420000)`.
    pub(crate) action: String,
    /// The contract called, or `None` for a deployment.
    pub(crate) to: Option<Address>,
    /// The calldata (or creation code and constructor arguments).
    pub(crate) input: Bytes,
    /// What the plan shows, before the transaction's own rows.
    pub(crate) rows: Vec<(&'static str, String)>,
    /// The same for `--json`.
    pub(crate) json: Value,
}

/// A mined transaction.
#[derive(Debug, Clone)]
pub(crate) struct Mined {
    pub(crate) hash: B256,
    pub(crate) contract: Option<Address>,
}

/// What became of a plan: shown only (`--dry-run`), or sent and mined.
pub(crate) struct Outcome {
    pub(crate) mined: Option<Mined>,
    pub(crate) json: Value,
    pub(crate) human: String,
}

/// The fee cap in wei per gas: `--max-fee-gwei`, else the bot's `MAX_GAS_PRICE_GWEI`.
fn fee_cap(args: &TxArgs, default_wei: u128) -> Result<u128, CliError> {
    match &args.max_fee_gwei {
        None => Ok(default_wei),
        Some(text) => Price::parse(text, 9)
            .ok()
            .and_then(|p| u128::try_from(p.mantissa()).ok())
            .filter(|w| *w > 0)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--max-fee-gwei {text:?} is not a positive gas price in gwei; write e.g. 50 or 0.5"
                ))
            }),
    }
}

/// Why a simulation or an estimate failed, decoded.
fn revert_reason(err: &alloy::transports::TransportError) -> Result<String, String> {
    match classify_transport_error(err) {
        SubmitError::Rejected(rejection) => Ok(rejection.to_string()),
        other => Err(other.to_string()),
    }
}

/// A simulated transaction with its fees, ready to show and send.
pub(crate) struct Prepared {
    action: String,
    req: TransactionRequest,
    gas_limit: u64,
    max_fee: u128,
    tip: u128,
    /// The plan as shown.
    pub(crate) rows: Vec<(&'static str, String)>,
    /// The plan for `--json`.
    pub(crate) json: Value,
}

/// Simulates `plan` from `from` (`eth_call`), estimates its gas and caps its fee. Refuses when
/// the simulation reverts, the network asks more than the cap or the sender cannot pay.
pub(crate) async fn prepare(
    p: &DynProvider,
    from: Address,
    plan: TxPlan,
    args: &TxArgs,
    default_cap_wei: u128,
) -> Result<Prepared, CliError> {
    let mut req = TransactionRequest::default().from(from).input(plan.input.clone().into());
    req = match plan.to {
        Some(to) => req.to(to),
        None => req.into_create(),
    };
    if let Err(e) = p.call(req.clone()).await {
        return Err(match revert_reason(&e) {
            Ok(reason) => CliError::SimulationReverted { action: plan.action, reason },
            Err(reason) => CliError::rpc(format!("cannot simulate {}", plan.action), reason),
        });
    }
    let gas = p.estimate_gas(req.clone()).await.map_err(|e| match revert_reason(&e) {
        Ok(reason) => CliError::SimulationReverted { action: plan.action.clone(), reason },
        Err(reason) => CliError::rpc("cannot estimate the gas", reason),
    })?;
    // A fifth more than the estimate: the state may move between estimate and mining.
    let gas_limit = gas.saturating_add(gas / 5);
    let cap = fee_cap(args, default_cap_wei)?;
    let fees =
        p.estimate_eip1559_fees().await.map_err(|e| CliError::rpc("cannot read the network's fees", e))?;
    let asked = p.get_gas_price().await.map_err(|e| CliError::rpc("cannot read the gas price", e))?;
    if asked > cap || fees.max_priority_fee_per_gas > cap {
        return Err(CliError::FeeAboveCap {
            asked_gwei: gwei(asked.max(fees.max_priority_fee_per_gas)),
            cap_gwei: gwei(cap),
        });
    }
    let max_fee = cap;
    let tip = fees.max_priority_fee_per_gas.min(cap);
    let max_cost = U256::from(gas_limit).checked_mul(U256::from(max_fee)).unwrap_or(U256::MAX);
    let balance =
        p.get_balance(from).await.map_err(|e| CliError::rpc("cannot read the signer's balance", e))?;
    let eth = |wei: U256| Price::new(wei, 18).map_or_else(|_| wei.to_string(), |c| c.to_string());
    if balance < max_cost {
        return Err(CliError::Refused(format!(
            "{from} holds {} ETH, less than the {} ETH this transaction may cost: fund it, or lower --max-fee-gwei",
            eth(balance),
            eth(max_cost)
        )));
    }
    let mut rows = plan.rows;
    rows.extend([
        ("call", plan.action.clone()),
        ("simulation", "succeeded (eth_call from the signer)".to_owned()),
        ("signer", from.to_string()),
        ("gas limit", format!("{gas_limit} (estimate {gas})")),
        ("fee cap", format!("{} gwei/gas (network asks {} gwei/gas)", gwei(max_fee), gwei(asked))),
        ("most it can cost", format!("{} ETH", eth(max_cost))),
    ]);
    let mut json = plan.json;
    if let Value::Object(map) = &mut json {
        map.insert("call".into(), json!(plan.action));
        map.insert("simulated".into(), json!(true));
        map.insert("signer".into(), json!(from.to_string()));
        map.insert("gasLimit".into(), json!(gas_limit));
        map.insert("maxFeePerGasWei".into(), json!(max_fee.to_string()));
        map.insert("networkGasPriceWei".into(), json!(asked.to_string()));
        map.insert("sent".into(), json!(false));
    }
    Ok(Prepared { action: plan.action, req, gas_limit, max_fee, tip, rows, json })
}

impl Prepared {
    /// What `--dry-run` prints.
    pub(crate) fn dry_run(self) -> Outcome {
        let human = pairs(&self.rows) + "\n--dry-run: simulated only, nothing was sent.\n";
        Outcome { mined: None, json: self.json, human }
    }

    /// Shows the plan on stderr and asks (unless `--yes`).
    pub(crate) fn confirm(&self, yes: bool) -> Result<(), CliError> {
        if !yes {
            eprint!("{}", pairs(&self.rows));
        }
        crate::output::confirm(&format!("Send {}?", self.action), yes)
    }

    /// Signs, sends and waits for the receipt.
    pub(crate) async fn send(
        self,
        p: &DynProvider,
        signer: &PrivateKeySigner,
        receipt_timeout: Duration,
    ) -> Result<Outcome, CliError> {
        let from = signer.address();
        let chain_id = p.get_chain_id().await.map_err(|e| CliError::rpc("cannot read the chain id", e))?;
        let nonce = p
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(|e| CliError::rpc("cannot read the nonce", e))?;
        let req = self
            .req
            .with_chain_id(chain_id)
            .with_nonce(nonce)
            .with_gas_limit(self.gas_limit)
            .with_max_fee_per_gas(self.max_fee)
            .with_max_priority_fee_per_gas(self.tip);
        let envelope = req
            .build(&EthereumWallet::from(signer.clone()))
            .await
            .map_err(|e| CliError::Transaction(format!("cannot sign the transaction: {e}; check the key")))?;
        let hash = *envelope.tx_hash();
        let pending = p.send_raw_transaction(&envelope.encoded_2718()).await.map_err(|e| {
            CliError::rpc(format!("the node refused {}", self.action), classify_transport_error(&e))
        })?;
        let receipt = pending
            .with_timeout(Some(receipt_timeout))
            .get_receipt()
            .await
            .map_err(|e| {
                CliError::Transaction(format!(
                    "{hash} was sent but no receipt came within {}s ({e}); check `oracle-cli status` before sending again",
                    receipt_timeout.as_secs()
                ))
            })?;
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            return Err(CliError::Transaction(format!(
                "{hash} was mined in block {block} but reverted (the state changed after the simulation); check `oracle-cli status` and run again"
            )));
        }
        let mut json = self.json;
        if let Value::Object(map) = &mut json {
            map.insert("sent".into(), json!(true));
            map.insert("txHash".into(), json!(hash.to_string()));
            map.insert("block".into(), json!(block));
        }
        let mut rows = self.rows;
        rows.extend([("transaction", hash.to_string()), ("mined in block", block.to_string())]);
        let mined = Mined { hash, contract: receipt.contract_address };
        Ok(Outcome { mined: Some(mined), json, human: pairs(&rows) })
    }
}

/// The whole flow: prepare, then `--dry-run` stops; else confirm and send.
pub(crate) async fn execute(
    p: &DynProvider,
    signer: &PrivateKeySigner,
    plan: TxPlan,
    args: &TxArgs,
    default_cap_wei: u128,
    receipt_timeout: Duration,
) -> Result<Outcome, CliError> {
    let prepared = prepare(p, signer.address(), plan, args, default_cap_wei).await?;
    if args.dry_run {
        return Ok(prepared.dry_run());
    }
    prepared.confirm(args.yes)?;
    prepared.send(p, signer, receipt_timeout).await
}
