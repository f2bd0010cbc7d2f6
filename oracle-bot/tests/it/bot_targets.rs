//! Three `oracle-bot` processes sharing six targets (three `ManualPriceOracle`s on each of two
//! anvil chains, configured as `[[chains]]` and `[[targets]]`), electing per target through
//! Redis, etcd and the file backend: each bot leads its fair share (two), a price move lands
//! exactly once on every oracle, `kill -9` of one bot moves only its two targets to the others
//! (which keep their own), and the next move again lands exactly once on every oracle. Counted
//! on chain (`PricesUpdated` events per contract); every wait polls `/health` or the chain.
//! And targets sharing a key: led together by one bot, sending in turn through its nonce lane.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    os::unix::fs::PermissionsExt as _,
    path::Path,
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, U256},
    providers::DynProvider,
};
use oracle_tests::{
    Deployment, START_ELIZA, START_ETH, advance_time, anvil,
    bot::{
        BotProcess, env_for, eventually, http_get, with_etcd_election, with_file_election,
        with_redis_election,
    },
    chain::updates_of,
    deploy_oracle,
    election::{EtcdServer, RedisServer, serial},
    key_hex, oracle_prices, set_updater, wallet_provider,
};

const BOT: &str = env!("CARGO_BIN_EXE_oracle-bot");
const IDS: [&str; 3] = ["share-a", "share-b", "share-c"];

/// One target: its name, chain (index into the chains) and oracle.
struct Target {
    name: String,
    chain: usize,
    oracle: Address,
    /// Its updater: the chain's anvil account of this index.
    updater: usize,
}

/// The two target chains and their six oracles; the source chain is the deployment's.
struct Fleet {
    d: Deployment,
    /// The second target chain (the first is `d.target`).
    second: AnvilInstance,
    targets: Vec<Target>,
}

impl Fleet {
    fn chain(&self, i: usize) -> &AnvilInstance {
        if i == 0 { &self.d.target } else { &self.second }
    }

    fn admin(&self, i: usize) -> DynProvider {
        wallet_provider(self.chain(i), 0)
    }

    /// Deploys three oracles on each chain, each with an updater account of its own (1, 2, 3),
    /// so no two targets share a nonce sequence.
    async fn start() -> Self {
        Self::start_with(&(0..6).map(|i| (i % 2, 1 + i / 2)).collect::<Vec<_>>()).await
    }

    /// Deploys one oracle per `(chain, updater account)` of `layout`.
    async fn start_with(layout: &[(usize, usize)]) -> Self {
        let d = Deployment::start().await;
        let second = anvil(420_692);
        let mut fleet = Self { d, second, targets: Vec::new() };
        for (i, &(chain, updater)) in layout.iter().enumerate() {
            let admin = fleet.admin(chain);
            let owner = fleet.chain(chain).addresses()[0];
            let oracle = deploy_oracle(&admin, owner, START_ETH, START_ELIZA).await;
            set_updater(&admin, oracle, fleet.chain(chain).addresses()[updater]).await;
            fleet.targets.push(Target { name: format!("oracle-{i}"), chain, oracle, updater });
        }
        for chain in 0..2 {
            advance_time(&fleet.admin(chain), 120).await;
        }
        fleet
    }

    /// The configuration file: both chains, the six targets, each target's key in an owner-only
    /// file.
    fn write_config(&self, dir: &Path) -> std::path::PathBuf {
        let mut toml = String::new();
        for (i, name) in ["alpha", "beta"].iter().enumerate() {
            let chain = self.chain(i);
            toml += &format!(
                "[[chains]]\nname = \"{name}\"\nrpc_urls = [\"{}\"]\nchain_id = {}\n\n",
                chain.endpoint(),
                chain.chain_id()
            );
        }
        for t in &self.targets {
            let key = dir.join(format!("{}.key", t.name));
            std::fs::write(&key, key_hex(self.chain(t.chain), t.updater)).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            toml += &format!(
                "[[targets]]\nname = \"{}\"\nchain = \"{}\"\noracle_address = \"{}\"\nprivate_key_file = \"{}\"\n\n",
                t.name,
                ["alpha", "beta"][t.chain],
                t.oracle,
                key.display()
            );
        }
        let path = dir.join("bot.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// The ETH/USD stored on every oracle.
    async fn stored(&self) -> Vec<U256> {
        let mut out = Vec::new();
        for t in &self.targets {
            out.push(oracle_prices(&self.admin(t.chain), t.oracle).await.0);
        }
        out
    }

    /// Every oracle's `PricesUpdated` events: (eth, timestamp) each, oldest first.
    async fn events(&self) -> BTreeMap<String, Vec<(U256, u64)>> {
        let mut out = BTreeMap::new();
        for t in &self.targets {
            let updates = updates_of(&self.admin(t.chain), t.oracle).await;
            out.insert(t.name.clone(), updates.iter().map(|u| (u.eth, u.timestamp)).collect());
        }
        out
    }
}

/// A running bot and its endpoints.
struct Member {
    process: BotProcess,
    url: String,
}

impl Member {
    async fn start(env: &HashMap<String, String>, config: &Path) -> Self {
        let mut process = BotProcess::spawn_with_args(BOT, env, &["--config", &config.display().to_string()]);
        let url = process.endpoints().await;
        Self { process, url }
    }

    /// `/health`, or `None` while it does not answer.
    async fn health(&self) -> Option<serde_json::Value> {
        let (_, body) = http_get(format!("{}/health", self.url)).await?;
        Some(serde_json::from_str(&body).expect("/health is JSON"))
    }
}

/// The targets each bot's `/health` says it leads, once every bot answers and every target is
/// healthy.
async fn leads(bots: &[&Member], n: usize) -> Option<Vec<BTreeSet<String>>> {
    let mut out = Vec::new();
    for b in bots {
        let h = b.health().await?;
        let targets = h["targets"].as_object()?;
        if targets.len() != n || targets.values().any(|t| t["healthy"] != true) {
            return None;
        }
        let led: BTreeSet<String> =
            targets.iter().filter(|(_, t)| t["isLeader"] == true).map(|(n, _)| n.clone()).collect();
        assert_eq!(h["leads"].as_u64(), Some(led.len() as u64), "leads counts the targets led");
        for t in targets.values() {
            assert!(t["chain"] == "alpha" || t["chain"] == "beta", "each target names its chain: {t}");
        }
        out.push(led);
    }
    Some(out)
}

/// Waits until every target's events show exactly `n` updates, the last at `eth`, and every bot
/// has read the last one back (so a duplicate, had one been sent, would have landed by now);
/// returns the events.
async fn landed_once(
    fleet: &Fleet,
    bots: &[&Member],
    n: usize,
    eth: u128,
) -> BTreeMap<String, Vec<(U256, u64)>> {
    eventually("the move on every oracle", || async {
        fleet.stored().await.iter().all(|p| *p == U256::from(eth)).then_some(())
    })
    .await;
    let events = fleet.events().await;
    eventually("every bot reads every oracle's last update back", || async {
        for b in bots {
            let h = b.health().await?;
            for (name, updates) in &events {
                let (_, written) = updates.last()?;
                if h["targets"][name]["lastUpdate"] != written * 1000 {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    let events = fleet.events().await;
    for (name, updates) in &events {
        assert_eq!(updates.len(), n, "{name}: {n} moves, {n} updates, no duplicates: {updates:?}");
        assert_eq!(updates.last().map(|u| u.0), Some(U256::from(eth)), "{name}: the last move stored");
    }
    events
}

/// A bot's environment: the file's targets, election by `elect`, state under `dir`.
fn bot_env(
    fleet: &Fleet,
    dir: &Path,
    id: &str,
    elect: &impl Fn(&mut HashMap<String, String>),
) -> HashMap<String, String> {
    {
        let mut env = env_for(&fleet.d, id);
        // The single target's settings: the file's targets replace them.
        for var in ["JEJU_RPC_URL", "ORACLE_ADDRESS", "PRICE_UPDATER_PRIVATE_KEY"] {
            env.remove(var);
        }
        elect(&mut env);
        env.insert("MIN_UPDATE_INTERVAL_S".into(), "0".into());
        env.insert("STATE_DIR".into(), dir.join(format!("state-{id}")).display().to_string());
        // One bot logs JSON: each target's lines carry its target and chain.
        if id == IDS[1] {
            env.insert("LOG_FORMAT".into(), "json".into());
        }
        env
    }
}

/// The scenario of the module docs, with `elect` turning election on.
async fn three_bots_share_six_targets(elect: impl Fn(&mut HashMap<String, String>)) {
    let fleet = Fleet::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fleet.write_config(dir.path());
    let mut bots = Vec::new();
    for id in IDS {
        bots.push(Member::start(&bot_env(&fleet, dir.path(), id, &elect), &config).await);
    }

    // Each bot leads its fair share, two; every target has exactly one leader.
    let before = eventually("each bot leads 2 of the 6 targets", || async {
        let held = leads(&bots.iter().collect::<Vec<_>>(), 6).await?;
        let all: BTreeSet<&String> = held.iter().flatten().collect();
        (held.iter().all(|h| h.len() == 2) && all.len() == 6).then_some(held)
    })
    .await;

    // A move lands once per target, from the bot that leads it.
    fleet.d.set_eth(3_100_00000000).await;
    landed_once(&fleet, &bots.iter().collect::<Vec<_>>(), 1, 3_100_00000000).await;
    for (i, b) in bots.iter().enumerate() {
        let h = b.health().await.unwrap();
        for (name, t) in h["targets"].as_object().unwrap() {
            let want = u64::from(before[i].contains(name));
            assert_eq!(t["totalUpdates"], want, "{}: {name} was landed by its leader only", IDS[i]);
        }
    }

    // /metrics labels every engine series with its target and chain; JSON log lines of a
    // target's tick carry both.
    for t in &fleet.targets {
        let (_, text) = http_get(format!("{}/metrics", bots[1].url)).await.unwrap();
        let chain = ["alpha", "beta"][t.chain];
        let labelled = text.lines().any(|l| {
            l.starts_with("oracle_is_leader{")
                && l.contains(&format!("target=\"{}\"", t.name))
                && l.contains(&format!("chain=\"{chain}\""))
        });
        assert!(labelled, "oracle_is_leader of {} labelled with target and chain:\n{text}", t.name);
    }
    let json = bots[1].process.log();
    let line =
        json.lines().find(|l| l.contains("became leader")).expect("a JSON line of a target's election");
    let line: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    let span = &line["spans"][0];
    assert!(
        span["target"].as_str().is_some_and(|t| t.starts_with("oracle-")) && span["chain"].is_string(),
        "the line carries the target and chain: {line}"
    );

    // kill -9 of one bot: its two targets move to the others, which keep their own.
    let mut dead = bots.remove(0);
    dead.process.kill9().await;
    let after = eventually("the two live bots lead all 6 targets", || async {
        let held = leads(&bots.iter().collect::<Vec<_>>(), 6).await?;
        let all: BTreeSet<&String> = held.iter().flatten().collect();
        (all.len() == 6 && held[0].is_disjoint(&held[1])).then_some(held)
    })
    .await;
    if std::env::var_os("BOT_TARGETS_DEBUG").is_some() {
        for b in &mut bots {
            let log = b.process.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| {
                    l.contains("fair share")
                        || l.contains("became leader")
                        || l.contains("gives up")
                        || l.contains("WARN")
                })
                .collect();
            eprintln!("{}:\n{}", b.process.id, lines.join("\n"));
        }
        eprintln!("before {before:?}\nafter {after:?}");
    }
    for (i, held) in after.iter().enumerate() {
        assert!(
            before[i + 1].is_subset(held),
            "{} kept its targets {:?}: now {held:?}",
            IDS[i + 1],
            before[i + 1]
        );
        assert_eq!(held.len(), 3, "{} leads its new share: {held:?}", IDS[i + 1]);
    }
    let moved: BTreeSet<String> = after
        .iter()
        .flatten()
        .filter(|t| !before[1].contains(*t) && !before[2].contains(*t))
        .cloned()
        .collect();
    assert_eq!(moved, before[0], "only the dead bot's targets moved");

    // The next move lands once per target again, from the two live bots.
    fleet.d.set_eth(3_200_00000000).await;
    landed_once(&fleet, &bots.iter().collect::<Vec<_>>(), 2, 3_200_00000000).await;
    drop(dead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_share_six_targets_through_redis() {
    let _one = serial().await;
    let redis = RedisServer::start().await;
    let url = redis.url();
    three_bots_share_six_targets(|env| with_redis_election(env, &url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_share_six_targets_through_etcd() {
    let _one = serial().await;
    let etcd = EtcdServer::start().await;
    let endpoint = etcd.endpoint();
    three_bots_share_six_targets(|env| with_etcd_election(env, &endpoint)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_on_one_host_share_six_targets_through_the_file_backend() {
    let _one = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    three_bots_share_six_targets(|env| with_file_election(env, &lock)).await;
}

/// Targets on one chain that share an updater key are one election unit (one bot leads them
/// together: two bots sending with one key would replace each other's transactions) and send in
/// turn through the bot's nonce lane. Four targets: two on `alpha` share account 1, one on
/// `alpha` and one on `beta` have keys of their own; three units over three bots, one each. A
/// move lands once on all four (account 1 sends exactly two transactions, none replaced away);
/// `kill -9` of the pair's leader moves the pair, together, to one bot; the next move again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_sharing_a_key_are_led_together_and_send_in_turn() {
    use alloy::providers::Provider as _;
    let _one = serial().await;
    let redis = RedisServer::start().await;
    let url = redis.url();
    let elect = |env: &mut HashMap<String, String>| with_redis_election(env, &url);
    let fleet = Fleet::start_with(&[(0, 1), (0, 1), (0, 2), (1, 1)]).await;
    // A block a second, not one per transaction: the pair's updates are pending together, and
    // without the lane the second would find the first at its nonce.
    {
        use alloy::providers::ext::AnvilApi as _;
        fleet.admin(0).anvil_set_auto_mine(false).await.unwrap();
        fleet.admin(0).anvil_set_interval_mining(1).await.unwrap();
    }
    let pair: BTreeSet<String> = ["oracle-0".to_owned(), "oracle-1".to_owned()].into();
    let dir = tempfile::tempdir().unwrap();
    let config = fleet.write_config(dir.path());
    let mut bots = Vec::new();
    for id in IDS {
        bots.push(Member::start(&bot_env(&fleet, dir.path(), id, &elect), &config).await);
    }
    let sent_by_shared_key =
        || async { fleet.admin(0).get_transaction_count(fleet.chain(0).addresses()[1]).await.unwrap() };

    // Every target led by exactly one bot, the pair by the same one.
    let together = |held: &[BTreeSet<String>]| {
        let led: Vec<&String> = held.iter().flatten().collect();
        let distinct: BTreeSet<&String> = led.iter().copied().collect();
        led.len() == 4 && distinct.len() == 4 && held.iter().any(|h| h.is_superset(&pair))
    };
    let before = eventually("one unit per bot, the pair led by one bot", || async {
        let held = leads(&bots.iter().collect::<Vec<_>>(), 4).await?;
        (together(&held) && held.iter().all(|h| !h.is_empty())).then_some(held)
    })
    .await;
    let nonce_before = sent_by_shared_key().await;

    fleet.d.set_eth(3_100_00000000).await;
    landed_once(&fleet, &bots.iter().collect::<Vec<_>>(), 1, 3_100_00000000).await;
    assert_eq!(sent_by_shared_key().await, nonce_before + 2, "one transaction per target of the shared key");

    // kill -9 of the pair's leader: the pair moves, together, to one live bot.
    let pair_bot = before.iter().position(|h| *h == pair).unwrap();
    let mut dead = bots.remove(pair_bot);
    dead.process.kill9().await;
    eventually("the two live bots lead all 4 targets, the pair together", || async {
        let held = leads(&bots.iter().collect::<Vec<_>>(), 4).await?;
        together(&held).then_some(())
    })
    .await;

    fleet.d.set_eth(3_200_00000000).await;
    landed_once(&fleet, &bots.iter().collect::<Vec<_>>(), 2, 3_200_00000000).await;
    assert_eq!(sent_by_shared_key().await, nonce_before + 4, "again one transaction per target");
    // In turn: no update of the pair ever met its sibling's transaction at its nonce (without
    // the lane, the second is refused as an underpriced replacement, or replaces the first,
    // which then lands elsewhere).
    for b in bots.iter_mut().chain([&mut dead]) {
        let log = b.process.log();
        assert!(
            !log.contains("does not track is pending")
                && !log.contains("nonce used by a transaction that is not ours")
                && !log.contains("replacement transaction underpriced"),
            "{}: the pair's updates never met at one nonce:\n{log}",
            b.process.id
        );
    }
    drop(dead);
}

/// `--check-config --online` with `[[targets]]` checks every chain and every target: all six
/// pass; a target whose key is not its oracle's updater fails, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_checks_cover_every_target() {
    let fleet = Fleet::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fleet.write_config(dir.path());
    let env = bot_env(&fleet, dir.path(), "online", &|_: &mut HashMap<String, String>| {});
    let run = || async {
        let out = tokio::process::Command::new(BOT)
            .args(["--config", &config.display().to_string(), "--check-config", "--online"])
            .env_clear()
            .envs(&env)
            .output()
            .await
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = run().await;
    assert_eq!(code, Some(0), "{out}{err}");
    for t in &fleet.targets {
        assert!(out.contains(&format!("updater key: target {}: ", t.name)), "{} is checked:\n{out}", t.name);
    }
    assert!(out.contains("chain alpha: chain id") && out.contains("chain beta: chain id"), "{out}");

    // oracle-4's key file now holds account 5's key, which is not its oracle's updater.
    let t = &fleet.targets[4];
    std::fs::write(dir.path().join(format!("{}.key", t.name)), key_hex(fleet.chain(t.chain), 5)).unwrap();
    let (code, out, err) = run().await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("updater key") && err.contains("target oracle-4") && err.contains("setPriceUpdater"),
        "{err}"
    );
}

alloy::sol! {
    #[sol(rpc)]
    interface Rounds {
        function latest() external view returns (uint80, int256, int256, uint64);
    }
}

/// A generic target from the file (`update`, `inputs`, `getter`, `outputs`, `decimals`): one bot
/// drives a `ManualPriceOracle` and a `RoundPriceFeed` (numbered rounds, signed 18-decimal
/// prices, elizaOS/USD before ETH/USD) on one chain; a move lands on both, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_target_from_the_file_is_kept_fresh() {
    use alloy::{primitives::I256, sol_types::SolValue as _};
    let fleet = Fleet::start_with(&[(0, 1), (1, 1)]).await;
    let chain = fleet.chain(0);
    let e10 = I256::try_from(10_000_000_000u64).unwrap();
    let args = (
        chain.addresses()[2],
        I256::try_from(START_ELIZA).unwrap() * e10,
        I256::try_from(START_ETH).unwrap() * e10,
    )
        .abi_encode_params();
    let rounds = oracle_tests::deploy(
        &fleet.admin(0),
        oracle_tests::artifact_bytecode(
            &oracle_tests::repo_root().join("contracts/artifacts/RoundPriceFeed.json"),
        ),
        args,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fleet.write_config(dir.path());
    let key = dir.path().join("rounds.key");
    std::fs::write(&key, key_hex(chain, 2)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml += &format!(
        r#"[[targets]]
name = "rounds"
chain = "alpha"
oracle_address = "{rounds}"
private_key_file = "{}"
update = "function submit(uint80 round, int256 eliza, int256 eth, uint64 observed)"
inputs = ["round", "price:ELIZAOS/USD", "price:ETH/USD", "timestamp"]
getter = "function latest() view returns (uint80, int256, int256, uint64)"
outputs = ["round", "price:ELIZAOS/USD", "price:ETH/USD", "updated_at"]
decimals = 18
"#,
        key.display()
    );
    std::fs::write(&config, toml).unwrap();
    let bot = Member::start(
        &bot_env(&fleet, dir.path(), "generic", &|_: &mut HashMap<String, String>| {}),
        &config,
    )
    .await;
    eventually("the three targets healthy", || async {
        let h = bot.health().await?;
        let t = h["targets"].as_object()?;
        (t.len() == 3 && t.values().all(|t| t["healthy"] == true)).then_some(())
    })
    .await;

    fleet.d.set_eth(3_100_00000000).await;
    let feed = Rounds::new(rounds, fleet.admin(0));
    let want = I256::try_from(3_100_00000000u64).unwrap() * e10;
    let latest = eventually("the move on the generic target", || async {
        let latest = feed.latest().call().await.ok()?;
        (latest._2 == want).then_some(latest)
    })
    .await;
    assert_eq!(latest._0, alloy::primitives::aliases::U80::from(1u8), "its first round");
    landed_once(&fleet, &[&bot], 1, 3_100_00000000).await;
    let h = bot.health().await.unwrap();
    assert_eq!(h["targets"]["rounds"]["totalUpdates"], 1, "one update on the generic target: {h}");
}
