//! `[[chains]]` and `[[targets]]`: read whole, each error naming its entry and key, secrets
//! kept out, and the single target's settings refused alongside them.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, os::unix::fs::PermissionsExt as _};

use std::str::FromStr as _;

use alloy::signers::local::PrivateKeySigner;

use super::*;
use crate::BotConfig;

const KEY_A: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_B: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, key) in [("a.key", KEY_A), ("b.key", KEY_B)] {
            let path = dir.path().join(name);
            std::fs::write(&path, key).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Self { dir }
    }

    fn key(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Reads `toml` as the bot's file, with `env` on top of a source chain and a fixed price.
    fn read(&self, toml: &str, env: &[(&str, &str)]) -> Result<BotConfig, ConfigError> {
        let path = self.dir.path().join("bot.toml");
        std::fs::write(&path, toml).unwrap();
        let mut vars: HashMap<String, String> =
            [("BASE_RPC_URLS", "http://127.0.0.1:8545"), ("ELIZAOS_FIXED_PRICE_USD", "0.10")]
                .into_iter()
                .chain(env.iter().copied())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        vars.retain(|_, v| !v.is_empty());
        let layers = Layers::read(Some(&path), &vars, &[])?;
        BotConfig::from_layers(&layers)
    }

    fn two_chains(&self) -> String {
        format!(
            r#"
[policy]
deviation_threshold_pct = 1

[[chains]]
name = "jeju"
rpc_urls = ["http://127.0.0.1:9545", "https://rpc.example/v2/SECRETPATH"]
chain_id = 420691
private_key_file = "{a}"

[[chains]]
name = "base"
rpc_urls = "http://127.0.0.1:9546"

[[targets]]
name = "jeju-eth"
chain = "jeju"
oracle_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

[[targets]]
name = "base-eth"
chain = "base"
oracle_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
private_key_file = "{b}"
feeds = ["BTC/USD", "ETH/USD"]
deviation_threshold_pct = 0.5
heartbeat_s = 1800
"#,
            a = self.key("a.key"),
            b = self.key("b.key")
        )
    }
}

#[test]
fn chains_and_targets_are_read_whole() {
    let s = Setup::new();
    let c = s.read(&s.two_chains(), &[]).unwrap();
    let t = c.targets.as_ref().unwrap();
    assert_eq!((t.chains.len(), t.targets.len(), t.fleet_slack), (2, 2, DEFAULT_FLEET_SLACK));
    let (jeju, base) = (&t.targets[0], &t.targets[1]);
    assert_eq!(jeju.feeds, [FeedId::ETH_USD, FeedId::ELIZAOS_USD], "the default feeds");
    assert_eq!(base.feeds, [FeedId::new("BTC/USD"), FeedId::ETH_USD]);
    assert_ne!(jeju.updater_key.signer().address(), base.updater_key.signer().address(), "its own key");
    assert_eq!(jeju.policy, c.policy, "no overrides: the bot's policy");
    assert_eq!(
        (base.policy.deviation_threshold_bps(), base.policy.heartbeat()),
        (50, Duration::from_secs(1800))
    );
    assert_eq!(base.policy.min_interval(), c.policy.min_interval(), "what is not overridden is the bot's");
    // The single-target fields describe the first target.
    assert_eq!(c.oracle_address, jeju.oracle_address);
    assert_eq!((c.jeju_rpc_urls.len(), c.jeju_chain_id), (2, Some(420_691)));
    let shown = t.describe().join("\n");
    assert!(shown.contains("target base-eth: 0x5FbDB2315678afecb367f032d93F642f64180aa3 on base"), "{shown}");
    assert!(!shown.contains("SECRETPATH") && !shown.contains(&KEY_A[2..]), "{shown}");
    let debug = format!("{c:?}");
    assert!(!debug.contains(&KEY_A[2..]) && !debug.contains(&KEY_B[2..]), "no key in Debug");
}

#[test]
fn the_bots_key_is_the_default_and_a_target_without_any_key_is_named() {
    let s = Setup::new();
    let toml = s.two_chains().replace(&format!("private_key_file = \"{}\"\n", s.key("b.key")), "");
    let err = s.read(&toml, &[]).unwrap_err().to_string();
    assert!(err.contains("targets[1] (\"base-eth\") private_key_file: no updater key"), "{err}");
    let c = s.read(&toml, &[("FLEET_SLACK", "1"), ("PRICE_UPDATER_PRIVATE_KEY", KEY_B)]).unwrap();
    let t = c.targets.unwrap();
    assert_eq!(t.fleet_slack, 1);
    let bot = PrivateKeySigner::from_str(KEY_B).unwrap().address();
    assert_eq!(t.targets[1].updater_key.signer().address(), bot, "the bot's key where none is given");
    assert_ne!(t.targets[0].updater_key.signer().address(), bot, "the chain's key first");
}

#[test]
fn errors_name_the_entry_and_the_key_and_never_a_secret() {
    let s = Setup::new();
    let good = s.two_chains();
    let cases: &[(&str, &str, &str)] = &[
        ("chain = \"base\"", "chain = \"bsae\"", "targets[1] (\"base-eth\") chain: no chain named \"bsae\""),
        ("name = \"base-eth\"", "name = \"jeju-eth\"", "a second target named \"jeju-eth\""),
        ("name = \"base-eth\"", "name = \"base eth\"", "targets[1] (\"base eth\") name: expected"),
        ("heartbeat_s = 1800", "heartbeat_s = 10", "targets[1] (\"base-eth\") policy:"),
        (
            "heartbeat_s = 1800",
            "heartbeat_sec = 1800",
            "heartbeat_sec: is not a key of [[targets]]; did you mean heartbeat_s?",
        ),
        (
            "feeds = [\"BTC/USD\", \"ETH/USD\"]",
            "feeds = [\"BTC/USD\"]",
            "targets[1] (\"base-eth\") feeds: expected the two",
        ),
        (
            "oracle_address = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\nprivate_key_file",
            &format!("oracle_address = \"{KEY_B}\"\nprivate_key_file"),
            "oracle_address: expected a 0x-prefixed 20-byte hex address, got a value that looks like a private key (not shown)",
        ),
        (
            "heartbeat_s = 1800",
            &format!("private_key = \"{KEY_B}\""),
            "private_key: is a secret and does not go in the configuration file",
        ),
        ("chain_id = 420691", "chain_id = \"x\"", "chains[0] (\"jeju\") chain_id: expected a whole number"),
    ];
    for (from, to, expected) in cases {
        assert!(good.contains(from), "{from}");
        let err = s.read(&good.replacen(from, to, 1), &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{to}: {err}");
        assert!(err.contains("bot.toml"), "the file is named: {err}");
        assert!(!err.contains(&KEY_B[2..]), "no secret in {err}");
    }
    let unused = format!("{good}\n[[chains]]\nname = \"spare\"\nrpc_urls = \"http://127.0.0.1:1\"\n");
    let err = s.read(&unused, &[]).unwrap_err().to_string();
    assert!(err.contains("chain \"spare\" has no target"), "{err}");
}

#[test]
fn the_single_targets_settings_are_refused_alongside_targets() {
    let s = Setup::new();
    let err = s
        .read(&s.two_chains(), &[("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3")])
        .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { var: "ORACLE_ADDRESS", .. }), "{err}");
    let err = s.read(&s.two_chains(), &[("JEJU_RPC_URL", "http://127.0.0.1:9545")]).unwrap_err().to_string();
    assert!(err.contains("JEJU_RPC_URL is invalid: is set (env)"), "{err}");
}

#[test]
fn without_targets_the_bot_is_the_single_target_one() {
    let s = Setup::new();
    let c = s
        .read(
            "[policy]\nheartbeat_s = 3000\n",
            &[
                ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
                ("JEJU_RPC_URL", "http://127.0.0.1:9545"),
                ("PRICE_UPDATER_PRIVATE_KEY", KEY_A),
            ],
        )
        .unwrap();
    assert!(c.targets.is_none());
    let err = s
        .read("", &[("JEJU_RPC_URL", "http://127.0.0.1:9545"), ("PRICE_UPDATER_PRIVATE_KEY", KEY_A)])
        .unwrap_err();
    assert!(matches!(err, ConfigError::Missing { var: "ORACLE_ADDRESS", .. }), "as before: {err}");
}

#[test]
fn a_change_to_the_targets_needs_a_restart() {
    let s = Setup::new();
    let path = s.dir.path().join("bot.toml");
    std::fs::write(&path, s.two_chains()).unwrap();
    let before = Layers::read(Some(&path), &HashMap::new(), &[]).unwrap();
    std::fs::write(&path, s.two_chains().replace("heartbeat_s = 1800", "heartbeat_s = 1700")).unwrap();
    let after = Layers::read(Some(&path), &HashMap::new(), &[]).unwrap();
    let (reloadable, restart) = crate::settings::changes(&before, &after);
    assert!(reloadable.is_empty());
    assert_eq!(restart, ["[[chains]]/[[targets]]"]);
}

/// A `[[targets]]` entry describing a contract of another shape (`RoundPriceFeed`'s).
const GENERIC: &str = r#"
[[targets]]
name = "jeju-rounds"
chain = "jeju"
oracle_address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
update = "function submit(uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt)"
inputs = ["round", "price:BTC/USD", "price:ETH/USD", "timestamp"]
getter = "function latest() view returns (uint80, int256, int256, uint64)"
outputs = ["round", "price:BTC/USD", "price:ETH/USD", "updated_at"]
decimals = 18
"#;

#[test]
fn a_generic_target_is_described_by_its_signatures_and_roles() {
    let s = Setup::new();
    let c = s.read(&format!("{}{GENERIC}", s.two_chains()), &[]).unwrap();
    let t = c.targets.unwrap();
    let rounds = t.targets.iter().find(|t| t.name == "jeju-rounds").unwrap();
    let generic = rounds.generic.as_ref().expect("a generic target");
    assert_eq!(generic.function_name(), "submit");
    assert_eq!(generic.decimals(), 18);
    assert_eq!(rounds.feeds, [FeedId::new("BTC/USD"), FeedId::ETH_USD], "its feeds are its inputs'");
    assert!(t.describe().iter().any(|l| l.contains("jeju-rounds") && l.contains("generic: submit")));
    assert!(t.targets.iter().filter(|t| t.name != "jeju-rounds").all(|t| t.generic.is_none()));

    let cases: &[(&str, &str, &str)] = &[
        ("\"round\", \"price:BTC", "\"rounds\", \"price:BTC", "inputs: \"rounds\" is not a role"),
        ("\"updated_at\"]", "\"updated\"]", "outputs: \"updated\" is not a role"),
        (
            "update = \"function submit(",
            "feeds = [\"A\", \"B\"]\nupdate = \"function submit(",
            "remove feeds",
        ),
        (
            "update = \"function submit(uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt)\"\n",
            "",
            "inputs: describes a generic target, which needs update",
        ),
        (
            "inputs = [\"round\", \"price:BTC/USD\", \"price:ETH/USD\", \"timestamp\"]",
            "inputs = [\"round\"]",
            "(\"jeju-rounds\") update:",
        ),
        ("decimals = 18", "decimals = 300", "decimals: 300 is more than 255"),
    ];
    for (from, to, expected) in cases {
        assert!(GENERIC.contains(from), "{from}");
        let err = s
            .read(&format!("{}{}", s.two_chains(), GENERIC.replacen(from, to, 1)), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{to}: {err}");
        assert!(err.contains("jeju-rounds"), "the entry is named: {err}");
    }
}
