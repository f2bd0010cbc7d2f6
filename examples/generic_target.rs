//! Pushing prices to a contract of another shape: the generic EVM target.
//!
//! `cargo run -p oracle-examples --example generic_target` (needs `anvil`: `scripts/setup.sh`
//! installs it into `.tools/bin`, or set `ANVIL`).
//!
//! The contract is `contracts/test-helpers/RoundPriceFeed.sol`: numbered rounds that must follow
//! each other, signed 18-decimal prices with BTC before ETH, and the observation time as an
//! argument:
//!
//! ```solidity
//! function submit(uint80 round, int256 btc, int256 eth, uint64 observed) external;
//! function latest() external view returns (uint80, int256, int256, uint64);
//! ```
//!
//! The engine and the EVM submitter are the ones the bot runs (simulation before every send,
//! capped fees, replacement of a stuck transaction); only the description of the contract is
//! new. The example starts anvil, deploys the contract, moves the prices twice and checks each
//! round on chain; it exits non-zero if anything is off.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    node_bindings::Anvil,
    primitives::{Address, Bytes, I256, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol,
    sol_types::{SolCall, SolValue},
};
use async_trait::async_trait;
use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter, Observation, Policy, Price, PriceSource, SourceError,
    TickOutcome,
    evm::{GenericTarget, Input, ManualOracleSubmitter, Output, RpcUrl},
};

sol! {
    function latest() external view returns (uint80, int256, int256, uint64);
}

/// A source whose prices the example sets (an exchange's API, in real life).
#[derive(Default)]
struct Quotes(Mutex<Vec<(FeedId, &'static str)>>);

impl Quotes {
    fn set(&self, feed: FeedId, price: &'static str) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.retain(|(f, _)| *f != feed);
        q.push((feed, price));
    }
}

#[async_trait]
impl PriceSource for Quotes {
    fn name(&self) -> &str {
        "quotes"
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let quote =
            self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(f, _)| f == feed).map(|q| q.1);
        let invalid = |detail: String| SourceError::Invalid {
            source_name: "quotes".into(),
            feed: feed.clone(),
            check: "quote",
            detail,
        };
        let text = quote.ok_or_else(|| invalid("no quote".into()))?;
        let price = Price::parse(text, 8).map_err(|e| invalid(e.to_string()))?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), "quotes"))
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn btc() -> FeedId {
    FeedId::new("BTC/USD")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let anvil_bin =
        std::env::var_os("ANVIL").map(PathBuf::from).unwrap_or_else(|| repo.join(".tools/bin/anvil"));
    let anvil = Anvil::at(anvil_bin).try_spawn()?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let reporter = PrivateKeySigner::from(anvil.keys()[1].clone());

    // Deploy RoundPriceFeed(reporter, 95,000 BTC, 3,000 ETH) from its compiled artifact.
    let artifact: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        repo.join("contracts/artifacts/RoundPriceFeed.json"),
    )?)?;
    let bytecode: Bytes = artifact["bytecode"].as_str().ok_or("the artifact has no bytecode")?.parse()?;
    let e18 = U256::from(10u8).pow(U256::from(18u8));
    let args = (
        reporter.address(),
        I256::try_from(U256::from(95_000u64) * e18)?,
        I256::try_from(U256::from(3_000u64) * e18)?,
    )
        .abi_encode_params();
    let deployer =
        ProviderBuilder::new().wallet(EthereumWallet::from(owner)).connect_http(anvil.endpoint_url());
    let tx = TransactionRequest::default().with_deploy_code([bytecode.to_vec(), args].concat());
    let feed: Address = deployer
        .send_transaction(tx)
        .await?
        .get_receipt()
        .await?
        .contract_address
        .ok_or("no contract deployed")?;
    println!("RoundPriceFeed at {feed}");

    // The contract, described.
    let target = GenericTarget::builder()
        .update("function submit(uint80 round, int256 btc, int256 eth, uint64 observed)")
        .inputs([Input::Round, Input::Price(btc()), Input::Price(FeedId::ETH_USD), Input::Timestamp])
        .getter("function latest() view returns (uint80, int256, int256, uint64)")
        .outputs([Output::Round, Output::Price(btc()), Output::Price(FeedId::ETH_USD), Output::UpdatedAt])
        .decimals(18)
        .build()?;
    let provider = oracle_core::evm::connect(&RpcUrl::parse(&anvil.endpoint())?, Duration::from_secs(10))?;
    let submitter = ManualOracleSubmitter::builder()
        .provider(provider.clone())
        .chain_name("anvil")
        .oracle(feed)
        .signer(reporter)
        .poll_interval(Duration::from_millis(50))
        .generic(target)
        .connect()
        .await?;

    let quotes = Arc::new(Quotes::default());
    quotes.set(btc(), "95000");
    quotes.set(FeedId::ETH_USD, "3000");
    let engine = Engine::builder()
        .source(btc(), quotes.clone())
        .source(FeedId::ETH_USD, quotes.clone())
        .elector(Arc::new(AlwaysLeader::new("example")))
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(Policy::builder().min_interval(Duration::ZERO).build()?)
        .build()?;

    let report = engine.tick().await;
    println!("prices unchanged: {}", report.outcome.label());
    if matches!(report.outcome, TickOutcome::Submitted(_)) {
        return Err("an unchanged price was submitted".into());
    }

    for (round, btc_quote, eth_quote) in [(1u8, "97000.5", "3000"), (2, "97000.5", "2900.25")] {
        quotes.set(btc(), btc_quote);
        quotes.set(FeedId::ETH_USD, eth_quote);
        let report = engine.tick().await;
        let TickOutcome::Submitted(landed) = &report.outcome else {
            return Err(format!("round {round}: expected an update, got {:?}", report.outcome).into());
        };
        let raw = provider
            .call(TransactionRequest::default().with_to(feed).with_input(latestCall {}.abi_encode()))
            .await?;
        let stored = latestCall::abi_decode_returns(&raw)?;
        let as_e18 =
            |q: &str| -> Result<I256, Error> { Ok(I256::try_from(Price::parse(q, 18)?.mantissa())?) };
        println!(
            "round {} in block {}: BTC {} ETH {} (tx {})",
            stored._0, landed.block, stored._1, stored._2, landed.tx_hash
        );
        if stored._0 != alloy::primitives::aliases::U80::from(round)
            || stored._1 != as_e18(btc_quote)?
            || stored._2 != as_e18(eth_quote)?
        {
            return Err(format!(
                "round {round}: the contract holds round {} BTC {} ETH {}",
                stored._0, stored._1, stored._2
            )
            .into());
        }
    }
    println!("two rounds pushed to a differently shaped contract");
    Ok(())
}
