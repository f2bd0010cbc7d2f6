//! Property test of the bot's environment configuration through its public API
//! (`BotConfig::from_map`): any map of variables gives a configuration or an error naming a
//! variable, never a panic, and no secret (the updater key, RPC URL keys, the Telegram token, the
//! Discord webhook) shows in the error or in the configuration's `Debug`.
//!
//! Cases: `PROPTEST_CASES` (default 256); see docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use oracle_bot::{BotConfig, ConfigError};
use proptest::prelude::*;

const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const URL_SECRET: &str = "rpcK3ySecret";
const TOKEN: &str = "123456:TeleGramSecretToken";
const HOOK: &str = "https://discord.com/api/webhooks/1/HookSecret";

/// Every variable the bot reads, and a few it does not.
const VARS: &[&str] = &[
    "ALERT_DISCORD_MIN_SEVERITY",
    "ALERT_FAILURE_THRESHOLD",
    "ALERT_QUEUE_CAPACITY",
    "ALERT_RATE_LIMIT_PER_MIN",
    "ALERT_REMINDER_INTERVAL_S",
    "ALERT_SEND_TIMEOUT_MS",
    "ALERT_TELEGRAM_MIN_SEVERITY",
    "BASE_RPC_URL",
    "BASE_RPC_URLS",
    "BOT_ID",
    "CHAINLINK_ETH_USD_ADDRESS",
    "CHAINLINK_MAX_AGE_S",
    "CHAINLINK_SEQUENCER_UPTIME_FEED",
    "DEVIATION_THRESHOLD_PCT",
    "DISCORD_API_URL",
    "ELIZAOS_FIXED_PRICE_USD",
    "ELIZAOS_TOKEN_BASE",
    "ENABLE_HEALTH_CHECK",
    "FEEDS_CONFIG",
    "GAS_PRICE_MULTIPLIER",
    "HEALTH_CHECK_PORT",
    "HEARTBEAT_S",
    "JEJU_RPC_URL",
    "JEJU_RPC_URLS",
    "LEADER_BACKOFF_MS",
    "LEADER_ELECTION_ENABLED",
    "LEADER_MAX_TARGET_FAILURES",
    "LOW_BALANCE_ETH",
    "MAX_GAS_PRICE_GWEI",
    "MAX_PRICE_DEVIATION_CONFIRM_TICKS",
    "MAX_PRICE_DEVIATION_PCT",
    "MAX_RETRIES",
    "MIN_BALANCE_ETH",
    "MIN_UPDATE_INTERVAL_S",
    "ORACLE_ADDRESS",
    "RECEIPT_TIMEOUT_S",
    "RETRY_DELAY_MS",
    "RPC_MAX_LAG_BLOCKS",
    "RPC_PROBE_INTERVAL_MS",
    "RPC_TIMEOUT_MS",
    "RPC_TOTAL_TIMEOUT_MS",
    "SEQUENCER_GRACE_PERIOD_S",
    "STUCK_AFTER_BLOCKS",
    "STUCK_AFTER_S",
    "TELEGRAM_API_URL",
    "TELEGRAM_CHAT_ID",
    "UNISWAP_MAX_DIVERGENCE_BPS",
    "UNISWAP_MIN_DEPTH_WETH",
    "UNISWAP_MIN_LIQUIDITY",
    "UNISWAP_PRICE_MODE",
    "UNISWAP_TWAP_WINDOW_S",
    "UPDATE_INTERVAL_MS",
    "WETH_ADDRESS",
    "LEADER_LEASE_MS",
    "NOT_A_SETTING",
];

/// Values for any variable; with `pasted_secrets`, also a keyed URL and the updater key, as if an
/// operator pasted them into the wrong variable.
fn value(pasted_secrets: bool) -> impl Strategy<Value = String> {
    let pasted = prop_oneof![
        Just(format!("https://user:{URL_SECRET}@rpc.example.com/v2/{URL_SECRET}?key={URL_SECRET}")),
        Just(format!("http://127.0.0.1:8545,https://x.example/{URL_SECRET}")),
        Just(KEY.to_owned()),
    ];
    let plain = prop_oneof![
        Just(String::new()),
        any::<u64>().prop_map(|v| v.to_string()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("1e9".to_owned()),
        Just("0.5".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("true".to_owned()),
        Just("0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70".to_owned()),
        Just("http://127.0.0.1:8545".to_owned()),
        "\\PC{0,24}",
    ];
    if pasted_secrets { prop_oneof![3 => plain, 1 => pasted].boxed() } else { plain.boxed() }
}

fn env(pasted_secrets: bool) -> impl Strategy<Value = HashMap<String, String>> {
    (
        prop::collection::vec((prop::sample::select(VARS), value(pasted_secrets)), 0..14),
        prop::option::of(prop_oneof![
            Just(KEY.to_owned()),
            Just(format!("{KEY}zz")),
            Just(KEY[2..].to_owned())
        ]),
        any::<bool>(),
    )
        .prop_map(|(pairs, key, chat)| {
            let mut map: HashMap<String, String> = [
                ("JEJU_RPC_URL", format!("https://rpc.example.com/{URL_SECRET}")),
                ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3".to_owned()),
                ("ELIZAOS_FIXED_PRICE_USD", "0.10".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(key) = key {
                map.insert("PRICE_UPDATER_PRIVATE_KEY".into(), key);
            }
            if chat {
                map.insert("TELEGRAM_BOT_TOKEN".into(), TOKEN.into());
                map.insert("DISCORD_WEBHOOK_URL".into(), HOOK.into());
            }
            map.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
            map
        })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn check(vars: &HashMap<String, String>) -> Result<(), TestCaseError> {
    let shown = match BotConfig::from_map(vars) {
        Ok(config) => format!("{config:?}"),
        Err(e) => {
            let named: &str = match &e {
                ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } => var,
                ConfigError::Unknown { name, .. } => name,
                ConfigError::File { .. } => "configuration file",
            };
            prop_assert!(e.to_string().contains(named) && !named.is_empty(), "{e}");
            format!("{e} {e:?}")
        }
    };
    for secret in [&KEY[2..], URL_SECRET, "TeleGramSecretToken", "HookSecret"] {
        prop_assert!(!shown.contains(secret), "{secret} shown in: {shown}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// The secret variables' values never show, whatever else is set.
    #[test]
    fn any_environment_is_a_config_or_names_a_variable_without_secrets(vars in env(false)) {
        check(&vars)?;
    }

    /// A secret pasted into a variable that is not secret (a keyed RPC URL or the updater key in
    /// `CHAINLINK_ETH_USD_ADDRESS`) is not quoted back in its error: values that look like a key
    /// are not shown, URLs are shown without their path, query and user info.
    #[test]
    fn secrets_pasted_into_the_wrong_variable_are_not_quoted(vars in env(true)) {
        check(&vars)?;
    }
}
