//! Configuration: defaults, required variables, malformed values, and secrets kept out of output.

use super::*;
use oracle_core::{GWEI, U256};

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn base() -> HashMap<String, String> {
    [
        ("PRICE_UPDATER_PRIVATE_KEY", KEY),
        ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        ("BASE_RPC_URLS", "http://127.0.0.1:8545, https://base.example.com/v2/SECRETKEY"),
        ("JEJU_RPC_URL", "http://127.0.0.1:9545"),
        ("ELIZAOS_FIXED_PRICE_USD", "0.10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(pairs: &[(&str, &str)]) -> Result<BotConfig, ConfigError> {
    let mut m = base();
    for (k, v) in pairs {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    BotConfig::from_map(&m)
}

#[test]
fn defaults_match_the_old_bot() {
    let c = with(&[]).unwrap();
    assert_eq!(c.update_interval, Duration::from_millis(300_000));
    assert_eq!(c.policy.min_interval(), Duration::from_secs(60));
    assert_eq!(c.policy.review_threshold_bps(), 1_000);
    assert_eq!(c.policy.deviation_threshold_bps(), 100);
    assert_eq!(c.policy.max_fee_per_gas(), 100 * GWEI);
    assert_eq!(c.gas_price_multiplier_permille, 1_200);
    assert_eq!(c.health_check_port, 3000);
    assert!(c.enable_health_check);
    assert!(!c.leader_election_enabled);
    assert_eq!(c.max_retries, 3);
    assert_eq!(c.retry_delay, Duration::from_millis(5000));
    assert_eq!(c.base_rpc_urls.len(), 2);
    assert_eq!(c.jeju_rpc_urls.len(), 1, "the single-URL variable is accepted");
    assert!(c.bot_id.starts_with("bot-"));
    assert_eq!(c.chainlink_eth_usd, BASE_CHAINLINK_ETH_USD.parse::<Address>().unwrap());
    assert!(with(&[("LEADER_ELECTION_ENABLED", "true")]).unwrap().leader_election_enabled);
    assert!(!with(&[("LEADER_ELECTION_ENABLED", "false")]).unwrap().leader_election_enabled);
    assert!(!with(&[("ENABLE_HEALTH_CHECK", "false")]).unwrap().enable_health_check);
    assert!(with(&[("ENABLE_HEALTH_CHECK", " true ")]).unwrap().enable_health_check, "trimmed");
    assert!(with(&[("ENABLE_HEALTH_CHECK", "")]).unwrap().enable_health_check, "blank is unset");
}

/// Booleans are exactly `true` or `false`: anything else (`1`, `yes`, `TRUE`) used to mean the
/// default silently (`LEADER_ELECTION_ENABLED=1` ran without election) and is now refused,
/// naming the variable.
#[test]
fn booleans_are_true_or_false_and_nothing_else() {
    for var in ["LEADER_ELECTION_ENABLED", "ENABLE_HEALTH_CHECK"] {
        for bad in ["1", "0", "yes", "no", "on", "off", "TRUE", "True", "FALSE", "False", "truee"] {
            let err = with(&[(var, bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { var: v, .. } if v == var), "{var}={bad}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("true") && text.contains("false") && text.contains(bad),
                "{var}={bad}: {text}"
            );
        }
    }
}

#[test]
fn decimals_are_exact() {
    let c = with(&[
        ("MAX_GAS_PRICE_GWEI", "0.5"),
        ("GAS_PRICE_MULTIPLIER", "1.25"),
        ("DEVIATION_THRESHOLD_PCT", "0.5"),
    ])
    .unwrap();
    assert_eq!(c.policy.max_fee_per_gas(), GWEI / 2);
    assert_eq!(c.gas_price_multiplier_permille, 1_250);
    assert_eq!(c.policy.deviation_threshold_bps(), 50);
    let c = with(&[("ELIZAOS_FIXED_PRICE_USD", "0.1")]).unwrap();
    let Feeds::FixedEliza { price, .. } = c.feeds else {
        panic!("expected the fixed stand-in: {:?}", c.feeds)
    };
    assert_eq!(price.mantissa(), U256::from(10_000_000u64));
}

#[test]
fn missing_variables_are_named() {
    for var in ["PRICE_UPDATER_PRIVATE_KEY", "ORACLE_ADDRESS"] {
        let mut m = base();
        m.remove(var);
        let err = BotConfig::from_map(&m).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { var: v, .. } if v == var), "{err}");
        assert!(err.to_string().contains(var));
    }
    let mut m = base();
    m.remove("BASE_RPC_URLS");
    let err = BotConfig::from_map(&m).unwrap_err().to_string();
    assert!(err.contains("BASE_RPC_URLS") && err.contains("BASE_RPC_URL"), "{err}");
}

#[test]
fn the_price_sources_are_chosen_explicitly() {
    let token = "0x000000000000000000000000000000000000e1a0";
    let mut m = base();
    m.remove("ELIZAOS_FIXED_PRICE_USD");
    let err = BotConfig::from_map(&m).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { var: "ELIZAOS_TOKEN_BASE", .. }), "{err}");
    assert!(err.to_string().contains("FEEDS_CONFIG"), "the error names the alternatives: {err}");

    m.insert("ELIZAOS_TOKEN_BASE".into(), token.into());
    let c = BotConfig::from_map(&m).unwrap();
    assert!(matches!(c.feeds, Feeds::JejuDefaults(_)), "{:?}", c.feeds);

    let err = with(&[("ELIZAOS_TOKEN_BASE", token)]).unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");

    m.insert("FEEDS_CONFIG".into(), "/nonexistent/feeds.toml".into());
    let err = BotConfig::from_map(&m).unwrap_err().to_string();
    assert!(err.contains("FEEDS_CONFIG") && err.contains("/nonexistent/feeds.toml"), "{err}");
    m.insert(
        "FEEDS_CONFIG".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../oracle-sources/examples/feeds.toml").into(),
    );
    assert!(matches!(BotConfig::from_map(&m).unwrap().feeds, Feeds::File { .. }));
}

#[test]
fn malformed_values_say_what_was_expected() {
    for (var, value, expected) in [
        ("UPDATE_INTERVAL_MS", "5s", "whole number of milliseconds"),
        ("UPDATE_INTERVAL_MS", "0", "above 0"),
        ("HEALTH_CHECK_PORT", "70000", "TCP port"),
        ("MAX_GAS_PRICE_GWEI", "lots", "gas price in gwei"),
        ("GAS_PRICE_MULTIPLIER", "0.9", "at least 1.0"),
        ("ORACLE_ADDRESS", "0x1234", "20-byte hex address"),
        ("ELIZAOS_TOKEN_BASE", "nope", "20-byte hex address"),
        ("JEJU_RPC_URL", "ws://127.0.0.1:1", "scheme"),
        ("BASE_RPC_URLS", " , ", "no URL in the list"),
        ("ELIZAOS_FIXED_PRICE_USD", "0.000000001", "at most 8 decimals"),
        ("MIN_UPDATE_INTERVAL_S", "99999", "must not exceed HEARTBEAT_S"),
        ("ELIZAOS_FIXED_PRICE_USD", "0", "above 0"),
        ("CHAINLINK_SEQUENCER_UPTIME_FEED", "0x12", "20-byte hex address"),
        ("RPC_TIMEOUT_MS", "0", "above 0"),
        ("RECEIPT_TIMEOUT_S", "0", "above 0"),
        ("HEARTBEAT_S", "0", "above 0"),
        ("MAX_GAS_PRICE_GWEI", "0", "above 0"),
        ("DEVIATION_THRESHOLD_PCT", "0.00", "above 0"),
        ("MAX_PRICE_DEVIATION_PCT", "0", "above 0"),
        // Rules the policy checks itself, attributed to the setting that broke them.
        ("LOW_BALANCE_ETH", "0.0001", "must not be below MIN_BALANCE_ETH (0.001"),
        ("MAX_PRICE_DEVIATION_CONFIRM_TICKS", "0", "at least 1 confirming tick"),
    ] {
        let err = with(&[(var, value)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{var}={value}: {text}");
        assert!(text.contains(var), "{var}={value}: {text}");
    }
}

#[test]
fn secrets_stay_out_of_errors_and_debug() {
    let bad_key = "0xdeadbeefdeadbeefdeadbeefdeadbeef";
    let err = with(&[("PRICE_UPDATER_PRIVATE_KEY", bad_key)]).unwrap_err().to_string();
    assert!(err.contains("PRICE_UPDATER_PRIVATE_KEY") && !err.contains("deadbeef"), "{err}");

    let c = with(&[
        ("TELEGRAM_BOT_TOKEN", "123:TOKENSECRET"),
        ("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/HOOKSECRET"),
    ])
    .unwrap();
    let debug = format!("{c:?}");
    for secret in ["ac0974bec39a17e3", "TOKENSECRET", "HOOKSECRET", "SECRETKEY"] {
        assert!(!debug.contains(secret), "Debug shows {secret}: {debug}");
    }
    assert!(debug.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), "the address is fine to show");
}

#[test]
fn prices_are_guarded_by_default() {
    let jeju = |pairs: &[(&str, &str)]| {
        let mut m = base();
        m.remove("ELIZAOS_FIXED_PRICE_USD");
        m.insert("ELIZAOS_TOKEN_BASE".into(), "0x000000000000000000000000000000000000e1a0".into());
        for (k, v) in pairs {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
        BotConfig::from_map(&m)
    };
    let uniswap_and_chainlink = |c: &BotConfig| {
        let Feeds::JejuDefaults(d) = &c.feeds else { panic!("{:?}", c.feeds) };
        let text = d.config().to_toml_string().unwrap();
        (text.contains("min_depth = \"50\""), text.contains("0xbcf85224fc0756b9fa45aa7892530b47e10b6433"))
    };
    // Base's sequencer-uptime feed and a 50 WETH depth floor, unless said otherwise.
    let c = jeju(&[]).unwrap();
    assert_eq!(uniswap_and_chainlink(&c), (true, true));
    assert_eq!(c.policy.confirm_ticks(), 2, "a large move waits for one more tick");
    let c = jeju(&[("CHAINLINK_SEQUENCER_UPTIME_FEED", "off"), ("UNISWAP_MIN_DEPTH_WETH", "12.5")]).unwrap();
    let Feeds::JejuDefaults(d) = &c.feeds else { panic!() };
    let text = d.config().to_toml_string().unwrap();
    assert!(!text.contains("sequencer_uptime_feed") && text.contains("min_depth = \"12.5"), "{text}");
    // The old raw floor is refused with what replaced it.
    let err = jeju(&[("UNISWAP_MIN_LIQUIDITY", "1")]).unwrap_err().to_string();
    assert!(err.contains("UNISWAP_MIN_DEPTH_WETH"), "{err}");
    let err = jeju(&[("MAX_PRICE_DEVIATION_CONFIRM_TICKS", "0")]).unwrap_err().to_string();
    assert!(err.contains("confirming tick"), "{err}");
}

#[test]
fn alert_settings_have_documented_defaults() {
    let a = with(&[]).unwrap().alerts;
    assert_eq!(a.telegram_api_url, "https://api.telegram.org");
    assert_eq!(a.discord_api_url, "https://discord.com");
    assert_eq!((a.telegram_min_severity, a.discord_min_severity), (Severity::Info, Severity::Info));
    assert_eq!(a.reminder_interval, Some(Duration::from_secs(3600)));
    assert_eq!(a.rate_limit_per_min, 18);
    assert_eq!(a.send_timeout, Duration::from_millis(10_000));
    assert_eq!(a.queue_capacity, 100);
    assert_eq!(a.failure_threshold, 5);
    let a = with(&[
        ("ALERT_REMINDER_INTERVAL_S", "0"),
        ("ALERT_TELEGRAM_MIN_SEVERITY", "critical"),
        ("TELEGRAM_CHAT_ID", "@oracle_ops"),
        ("TELEGRAM_API_URL", "http://127.0.0.1:8081"),
    ])
    .unwrap()
    .alerts;
    assert_eq!(a.reminder_interval, None, "0 turns reminders off");
    assert_eq!(a.telegram_min_severity, Severity::Critical);
    assert_eq!(a.telegram_api_url, "http://127.0.0.1:8081");
}

#[test]
fn bad_alert_settings_name_the_variable_and_never_quote_a_webhook() {
    for (var, value) in [
        ("ALERT_TELEGRAM_MIN_SEVERITY", "page"),
        ("ALERT_DISCORD_MIN_SEVERITY", "CRITICAL"),
        ("ALERT_REMINDER_INTERVAL_S", "1h"),
        ("ALERT_RATE_LIMIT_PER_MIN", "0"),
        ("ALERT_SEND_TIMEOUT_MS", "0"),
        ("ALERT_QUEUE_CAPACITY", "0"),
        ("ALERT_FAILURE_THRESHOLD", "0"),
        ("TELEGRAM_CHAT_ID", "ops-room"),
        ("TELEGRAM_API_URL", "ftp://api.example"),
        ("DISCORD_API_URL", "http://user:pass@proxy.example"),
    ] {
        match with(&[(var, value)]) {
            Err(ConfigError::Invalid { var: named, .. }) => assert_eq!(named, var, "{value}"),
            other => panic!("{var}={value}: {other:?}"),
        }
    }
    let err = with(&[("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/SECRETPART")]).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { var: "DISCORD_WEBHOOK_URL", .. }), "{err}");
    assert!(!err.to_string().contains("SECRETPART"), "{err}");
    let ok = with(&[(
        "DISCORD_WEBHOOK_URL",
        "https://discord.com/api/webhooks/1234567890123456789/Xy9_kLmN0pQrStUvWxYz-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIj",
    )])
    .unwrap();
    assert!(!format!("{ok:?}").contains("Xy9_kLmN0p"), "the webhook is redacted in Debug");
}
