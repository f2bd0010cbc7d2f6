//! Many targets on two chains, shared by a fleet of three bots through Redis.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p oracle-examples --example many_targets`
//! (needs `anvil`: `scripts/setup.sh` installs it into `.tools/bin`, or set `ANVIL`; the test
//! suite starts a throwaway Redis and passes its URL).
//!
//! Six `ManualPriceOracle`s, three on each of two anvil chains, each with an updater key of its
//! own. Each bot drives all six in one process (`oracle_core::Targets`), reading the ETH/USD
//! source once per round for all of them, and elects per target through Redis under a fair-share
//! cap (`oracle_election::share`): each bot leads two. A price move lands on all six oracles,
//! each once, from the bot that leads it. Then one bot dies without a word: the two others take
//! its two targets, keep their own, and the next move lands on all six again. The example exits
//! non-zero if any of that does not happen.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, U256},
    providers::{DynProvider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use async_trait::async_trait;
use oracle_core::{
    Engine, FeedId, LeaderElector, LogAlerter, Observation, Policy, Price, PriceSource, SourceError, Targets,
    TickOutcome,
    evm::{ManualOracleSubmitter, RpcUrl, bindings::ManualPriceOracle},
};
use oracle_election::{
    ElectorConfig, LeaseConfig, RedisUrl,
    share::{Membership, Share, SharedElector},
};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// ETH/USD as the example sets it; elizaOS/USD fixed at $0.10.
#[derive(Debug)]
struct Market(Mutex<&'static str>);

#[async_trait]
impl PriceSource for Market {
    fn name(&self) -> &str {
        "market"
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let text = if *feed == FeedId::ELIZAOS_USD {
            "0.10"
        } else {
            *self.0.lock().unwrap_or_else(|p| p.into_inner())
        };
        let price = Price::parse(text, 8).map_err(|e| SourceError::Invalid {
            source_name: "market".into(),
            feed: feed.clone(),
            check: "parse",
            detail: e.to_string(),
        })?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), "market"))
    }
}

/// One target: its chain, its oracle, its updater account index.
struct Target {
    name: String,
    chain: usize,
    oracle: Address,
    updater: usize,
}

/// One bot: its share and its targets' engines.
struct Bot {
    share: Arc<Share>,
    targets: Targets,
}

async fn deploy(anvil: &AnvilInstance, updater: usize) -> Result<Address, Error> {
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(owner)).connect_http(anvil.endpoint_url());
    let three_thousand = U256::from(3_000u64) * U256::from(100_000_000u64);
    let oracle = ManualPriceOracle::deploy(
        provider.clone(),
        three_thousand,
        U256::from(10_000_000u64),
        anvil.addresses()[0],
    )
    .await?;
    oracle.setPriceUpdater(anvil.addresses()[updater]).send().await?.get_receipt().await?;
    Ok(*oracle.address())
}

async fn bot(
    id: &str,
    targets: &[Target],
    chains: &[AnvilInstance],
    market: &Arc<Market>,
    redis: &RedisUrl,
    lease: LeaseConfig,
) -> Result<Bot, Error> {
    let membership = Membership::redis(redis, "oracle-example-fleet", id, lease.duration())?;
    let share = Share::new(Arc::new(membership), targets.len(), 0);
    let mut all = Targets::new(Duration::from_secs(1));
    for t in targets {
        let chain = &chains[t.chain];
        let provider: DynProvider =
            oracle_core::evm::connect(&RpcUrl::parse(&chain.endpoint())?, Duration::from_secs(10))?;
        let submitter = ManualOracleSubmitter::builder()
            .provider(provider)
            .chain_name(format!("chain-{}", t.chain))
            .oracle(t.oracle)
            .signer(PrivateKeySigner::from(chain.keys()[t.updater].clone()))
            .poll_interval(Duration::from_millis(50))
            .connect()
            .await?;
        let config =
            ElectorConfig::Redis { url: redis.clone(), key_prefix: format!("oracle-example:{}", t.name) };
        let inner: Arc<dyn LeaderElector> = config.connect(id, lease).await?;
        let engine = Engine::builder()
            .target(t.name.clone())
            .source(FeedId::ETH_USD, market.clone())
            .source(FeedId::ELIZAOS_USD, market.clone())
            .elector(Arc::new(SharedElector::new(share.clone(), t.name.clone(), inner)))
            .submitter(Arc::new(submitter))
            .alerter(Arc::new(LogAlerter))
            .policy(Policy::builder().min_interval(Duration::ZERO).build()?)
            // The example's leases are short (1.5 s, a 1 s renew deadline): act only with 300 ms
            // of the term left, not the default 2 s.
            .lease_margin(Duration::from_millis(300))
            .build()?;
        all = all.target(t.name.clone(), Arc::new(engine));
    }
    Ok(Bot { share, targets: all })
}

/// Rounds of every bot until `done` says so (at most `limit` rounds).
async fn rounds(bots: &[&Bot], limit: usize, done: impl Fn(&[&Bot]) -> bool) -> Result<usize, Error> {
    for _ in 0..limit {
        let mut submitted = 0;
        for b in bots {
            let round = b.targets.tick().await;
            submitted += round.iter().filter(|(_, r)| matches!(r.outcome, TickOutcome::Submitted(_))).count();
        }
        if done(bots) {
            return Ok(submitted);
        }
        // The fleet's tick interval: rounds are paced, as the bots' would be.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the fleet did not settle".into())
}

async fn stored_eth(chains: &[AnvilInstance], t: &Target) -> Result<U256, Error> {
    let provider = ProviderBuilder::new().connect_http(chains[t.chain].endpoint_url());
    Ok(ManualPriceOracle::new(t.oracle, provider).getPrices().call().await?.ethUsd)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let anvil_bin =
        std::env::var_os("ANVIL").map(PathBuf::from).unwrap_or_else(|| repo.join(".tools/bin/anvil"));
    let redis = RedisUrl::parse(&std::env::var("REDIS_URL").map_err(|_| "set REDIS_URL")?)?;
    let chains = [
        Anvil::at(&anvil_bin).chain_id(1001).try_spawn()?,
        Anvil::at(&anvil_bin).chain_id(1002).try_spawn()?,
    ];
    let mut targets = Vec::new();
    for i in 0..6 {
        let (chain, updater) = (i % 2, 1 + i / 2);
        let oracle = deploy(&chains[chain], updater).await?;
        targets.push(Target { name: format!("oracle-{i}"), chain, oracle, updater });
    }
    let lease = LeaseConfig::builder()
        .duration(Duration::from_millis(1500))
        .renew_interval(Duration::from_millis(200))
        .renew_deadline(Duration::from_millis(1000))
        .build()?;
    let market = Arc::new(Market(Mutex::new("3000")));
    let (a, b, c) = (
        bot("bot-a", &targets, &chains, &market, &redis, lease).await?,
        bot("bot-b", &targets, &chains, &market, &redis, lease).await?,
        bot("bot-c", &targets, &chains, &market, &redis, lease).await?,
    );

    let fair = |bots: &[&Bot]| bots.iter().all(|b| b.share.held().len() == 2);
    rounds(&[&a, &b, &c], 200, fair).await?;
    let before: Vec<BTreeSet<String>> = [&a, &b, &c].iter().map(|b| b.share.held()).collect();
    println!("fair shares: {before:?}");

    *market.0.lock().unwrap_or_else(|p| p.into_inner()) = "3100";
    let landed = rounds(&[&a, &b, &c], 1, |_| true).await?;
    println!("a move to $3100: {landed} updates");
    for t in &targets {
        if stored_eth(&chains, t).await? != U256::from(310_000_000_000u64) {
            return Err(format!("{} did not get the move", t.name).into());
        }
    }
    if landed != targets.len() {
        return Err(format!("{landed} updates for {} targets", targets.len()).into());
    }

    // bot-c dies without releasing anything.
    drop(c);
    let covered = |bots: &[&Bot]| bots.iter().map(|b| b.share.held().len()).sum::<usize>() == 6;
    rounds(&[&a, &b], 300, covered).await?;
    let after: Vec<BTreeSet<String>> = [&a, &b].iter().map(|b| b.share.held()).collect();
    println!("after bot-c died: {after:?}");
    for (i, held) in after.iter().enumerate() {
        if !before[i].is_subset(held) {
            return Err(format!("bot {i} lost targets it held: {:?} -> {held:?}", before[i]).into());
        }
    }
    *market.0.lock().unwrap_or_else(|p| p.into_inner()) = "3200";
    let landed = rounds(&[&a, &b], 1, |_| true).await?;
    for t in &targets {
        if stored_eth(&chains, t).await? != U256::from(320_000_000_000u64) {
            return Err(format!("{} did not get the second move", t.name).into());
        }
    }
    println!("a move to $3200: {landed} updates from the two live bots; only bot-c's targets moved");
    Ok(())
}
