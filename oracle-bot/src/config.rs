//! The bot's configuration, read from the old bot's environment variables (same names, same
//! defaults) plus a few new ones. `docs/configuration.md` lists every variable.

use std::{collections::HashMap, fmt, time::Duration};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use oracle_alerts::{DiscordAlerter, TelegramChat};
use oracle_core::{
    Policy, PolicyError, Price, Severity,
    evm::{
        RpcUrl,
        keys::{KeySource, PasswordSource, load_signer},
    },
};
use oracle_election::{ElectorConfig, LeaseConfig};
use oracle_sources::{JejuDefaults, PriceMode, SourceConfig, jeju_defaults};
use zeroize::Zeroizing;

use crate::settings::{Layers, Origin};

/// Where the bot keeps its state when neither `STATE_DIR` nor systemd's `STATE_DIRECTORY` says.
pub const DEFAULT_STATE_DIR: &str = "/tmp/oracle-bot-state";

/// Chainlink's ETH/USD aggregator on Base mainnet.
pub const BASE_CHAINLINK_ETH_USD: &str = "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70";

/// A configuration problem, naming the variable and what was expected. Never contains a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{var} is required but not set{hint}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What to set it to.
        hint: String,
    },
    /// A variable is set to something unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What was expected (and, for non-secrets, what was found), and where it was set.
        reason: String,
    },
    /// A name that is no setting: a typo would otherwise silently leave the default in place.
    #[error("unknown setting {name} in {origin}{hint}")]
    Unknown {
        /// The name as written.
        name: String,
        /// Where (`the environment`, `the file PATH`, `--set`).
        origin: String,
        /// The nearest known name, if any.
        hint: String,
    },
    /// The configuration file cannot be used.
    #[error("configuration file {}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

/// The workspace's one secret type: zeroed on drop, never printed.
pub use oracle_core::secret::Secret;

/// The updater key: prints its address, never the key.
#[derive(Clone)]
pub struct UpdaterKey(PrivateKeySigner);

impl UpdaterKey {
    pub(crate) fn new(signer: PrivateKeySigner) -> Self {
        Self(signer)
    }

    /// The signer, for the submitter.
    pub fn signer(&self) -> &PrivateKeySigner {
        &self.0
    }
}

impl fmt::Debug for UpdaterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpdaterKey({})", self.0.address())
    }
}

/// Where the bot's prices come from.
#[derive(Debug, Clone)]
pub enum Feeds {
    /// `FEEDS_CONFIG`: feeds and sources declared in a TOML file.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Its contents.
        config: SourceConfig,
    },
    /// `ELIZAOS_TOKEN_BASE`: ETH/USD from Chainlink; elizaOS/USD = the elizaOS/WETH Uniswap V3
    /// TWAP × ETH/USD.
    JejuDefaults(JejuDefaults),
    /// `ELIZAOS_FIXED_PRICE_USD`: ETH/USD from Chainlink and a fixed elizaOS price: a stand-in,
    /// not a market price.
    FixedEliza {
        /// The ETH/USD aggregator.
        chainlink: Address,
        /// Its oldest accepted round.
        max_age: Duration,
        /// The L2 sequencer-uptime feed and grace period, if any.
        sequencer: Option<(Address, Duration)>,
        /// The fixed elizaOS/USD price.
        price: Price,
    },
}

/// Leader election settings (`LEADER_ELECTION_BACKEND` and friends; see `oracle_election::env`).
#[derive(Debug, Clone)]
pub struct ElectionSettings {
    /// The backend.
    pub elector: ElectorConfig,
    /// The lease timing.
    pub lease: LeaseConfig,
    /// Consecutive ticks failing against the target before the leader steps down
    /// (`LEADER_MAX_TARGET_FAILURES`, default 3).
    pub max_target_failures: u32,
    /// How long a leader that stepped down stays a follower (`LEADER_BACKOFF_MS`, default 30000).
    pub backoff: Duration,
}

/// How alerts reach Telegram and Discord (`TELEGRAM_API_URL`, `DISCORD_API_URL`, `ALERT_*`). The
/// channels themselves are on when their old variables are set (`TELEGRAM_BOT_TOKEN` with
/// `TELEGRAM_CHAT_ID`, `DISCORD_WEBHOOK_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// The Bot API's base URL (`TELEGRAM_API_URL`, default `https://api.telegram.org`).
    pub telegram_api_url: String,
    /// Discord's base URL (`DISCORD_API_URL`, default `https://discord.com`).
    pub discord_api_url: String,
    /// The least severe alert sent to Telegram (`ALERT_TELEGRAM_MIN_SEVERITY`, default `info`).
    pub telegram_min_severity: Severity,
    /// The least severe alert sent to Discord (`ALERT_DISCORD_MIN_SEVERITY`, default `info`).
    pub discord_min_severity: Severity,
    /// How often an open condition is repeated (`ALERT_REMINDER_INTERVAL_S`, default 3600; 0:
    /// never).
    pub reminder_interval: Option<Duration>,
    /// Messages per minute per channel at most (`ALERT_RATE_LIMIT_PER_MIN`, default 18).
    pub rate_limit_per_min: u32,
    /// The limit of one delivery attempt (`ALERT_SEND_TIMEOUT_MS`, default 10000).
    pub send_timeout: Duration,
    /// Alerts a channel holds while it cannot send (`ALERT_QUEUE_CAPACITY`, default 100).
    pub queue_capacity: usize,
    /// Failed ticks in a row before "Oracle updates failing" (`ALERT_FAILURE_THRESHOLD`,
    /// default 5).
    pub failure_threshold: u32,
}

/// Everything the bot needs, validated.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// This bot's id (`BOT_ID`, random when unset).
    pub bot_id: String,
    /// Source chain endpoints, in preference order (`BASE_RPC_URLS` or `BASE_RPC_URL`).
    pub base_rpc_urls: Vec<RpcUrl>,
    /// Target chain endpoints, in preference order (`JEJU_RPC_URLS` or `JEJU_RPC_URL`).
    pub jeju_rpc_urls: Vec<RpcUrl>,
    /// The source chain's id, checked at start-up when set (`BASE_CHAIN_ID`).
    pub base_chain_id: Option<u64>,
    /// The target chain's id, checked at start-up when set (`JEJU_CHAIN_ID`).
    pub jeju_chain_id: Option<u64>,
    /// The oracle contract (`ORACLE_ADDRESS`).
    pub oracle_address: Address,
    /// The elizaOS token on Base (`ELIZAOS_TOKEN_BASE`), for the Uniswap source.
    pub elizaos_token_base: Option<Address>,
    /// The updater key (`PRICE_UPDATER_PRIVATE_KEY`).
    pub updater_key: UpdaterKey,
    /// The Chainlink ETH/USD aggregator on the source chain (`CHAINLINK_ETH_USD_ADDRESS`).
    pub chainlink_eth_usd: Address,
    /// The oldest Chainlink round accepted (`CHAINLINK_MAX_AGE_S`, default 3600).
    pub chainlink_max_age: Duration,
    /// Where the prices come from (`FEEDS_CONFIG`, `ELIZAOS_TOKEN_BASE` or
    /// `ELIZAOS_FIXED_PRICE_USD`).
    pub feeds: Feeds,
    /// Time between ticks (`UPDATE_INTERVAL_MS`, default 300000).
    pub update_interval: Duration,
    /// The update policy (`DEVIATION_THRESHOLD_PCT`, `HEARTBEAT_S`, `MIN_UPDATE_INTERVAL_S`,
    /// `MAX_PRICE_DEVIATION_PCT`, `MAX_GAS_PRICE_GWEI`).
    pub policy: Policy,
    /// Fee multiplier in permille (`GAS_PRICE_MULTIPLIER`, default 1.2).
    pub gas_price_multiplier_permille: u64,
    /// Per-request, per-endpoint RPC timeout (`RPC_TIMEOUT_MS`, default 10000).
    pub rpc_timeout: Duration,
    /// Limit of one request across all endpoints (`RPC_TOTAL_TIMEOUT_MS`, default 30000).
    pub rpc_total_timeout: Duration,
    /// An endpoint this many blocks behind the best is unhealthy (`RPC_MAX_LAG_BLOCKS`, default 5).
    pub rpc_max_lag_blocks: u64,
    /// How often endpoints are probed (`RPC_PROBE_INTERVAL_MS`, default 5000).
    pub rpc_probe_interval: Duration,
    /// How long one update may take from broadcast to receipt, replacements included
    /// (`RECEIPT_TIMEOUT_S`, default 120).
    pub receipt_timeout: Duration,
    /// A sent transaction is stuck when not mined this long after sending (`STUCK_AFTER_S`,
    /// default 30) ...
    pub stuck_after: Duration,
    /// ... or after this many blocks (`STUCK_AFTER_BLOCKS`, default 3); then it is replaced.
    pub stuck_blocks: u64,
    /// Where the bot keeps what must survive a restart: the in-flight journal of the update it
    /// sent and has not seen resolved (`STATE_DIR`; default systemd's `$STATE_DIRECTORY`, else
    /// [`DEFAULT_STATE_DIR`]).
    pub state_dir: std::path::PathBuf,
    /// Whether leader election is on (`LEADER_ELECTION_ENABLED`: `true` or `false`, default off).
    pub leader_election_enabled: bool,
    /// The election's backend, lease timing and health gate, when election is on.
    pub election: Option<ElectionSettings>,
    /// Whether `/health` and `/metrics` are served (`ENABLE_HEALTH_CHECK`: `true` or `false`,
    /// default on).
    pub enable_health_check: bool,
    /// Their port (`HEALTH_CHECK_PORT`, default 3000).
    pub health_check_port: u16,
    /// The address they listen on (`HEALTH_BIND_ADDR`, default `0.0.0.0`; `127.0.0.1` keeps them
    /// on loopback).
    pub health_bind_addr: std::net::IpAddr,
    /// Retries of a failed read within a tick (`MAX_RETRIES`, default 3).
    pub max_retries: u32,
    /// Delay between those retries (`RETRY_DELAY_MS`, default 5000).
    pub retry_delay: Duration,
    /// Telegram bot token (`TELEGRAM_BOT_TOKEN`).
    pub telegram_bot_token: Option<Secret>,
    /// Telegram chat (`TELEGRAM_CHAT_ID`).
    pub telegram_chat_id: Option<String>,
    /// Discord webhook (`DISCORD_WEBHOOK_URL`).
    pub discord_webhook_url: Option<Secret>,
    /// How alerts are delivered.
    pub alerts: AlertSettings,
    /// The targets of the file's `[[chains]]` and `[[targets]]`, when it has them; then the
    /// single-target fields above (`oracle_address`, `jeju_rpc_urls`, `jeju_chain_id`,
    /// `updater_key`) describe the first target, and the bot drives every one.
    pub targets: Option<crate::targets::TargetsConfig>,
}

/// Reads settings from the layers (file, environment, flags).
struct Vars<'a>(&'a Layers);

impl Vars<'_> {
    /// A set, non-blank variable.
    fn get(&self, var: &str) -> Option<String> {
        self.0.get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn require(&self, var: &'static str, hint: &str) -> Result<String, ConfigError> {
        self.get(var).ok_or_else(|| ConfigError::Missing { var, hint: hint.to_owned() })
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                var,
                reason: format!("expected {expected}, got {}", quoted(&v)),
            }),
        }
    }

    /// A boolean: exactly `true` or `false` (lower case), or `default` when unset.
    ///
    /// The old bot compared with one word (`=== 'true'`, `!== 'false'`), so `1`, `yes` or `TRUE`
    /// silently meant the default: `LEADER_ELECTION_ENABLED=1` ran two bots without election.
    /// Anything but the two words is now refused. Lower case only: accepting `FALSE` would flip
    /// `ENABLE_HEALTH_CHECK=FALSE` from "on" (the old bot's reading) to "off" without a word,
    /// while refusing it makes the operator look once.
    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                var,
                reason: format!("expected true or false (lower case), got {}", quoted(other)),
            }),
        }
    }

    fn duration(&self, var: &'static str, default: u64, unit_ms: bool) -> Result<Duration, ConfigError> {
        let unit = if unit_ms { "milliseconds" } else { "seconds" };
        let v: u64 = self.parse(var, default, &format!("a whole number of {unit}"))?;
        Ok(if unit_ms { Duration::from_millis(v) } else { Duration::from_secs(v) })
    }

    /// A decimal number (`"1.2"`) as an exact fixed-point value.
    fn decimal(
        &self,
        var: &'static str,
        default: &str,
        decimals: u8,
        expected: &str,
    ) -> Result<Price, ConfigError> {
        let text = self.get(var).unwrap_or_else(|| default.to_owned());
        Price::parse(&text, decimals).map_err(|_| ConfigError::Invalid {
            var,
            reason: format!("expected {expected}, got {}", quoted(&text)),
        })
    }

    fn address(&self, var: &'static str, text: &str) -> Result<Address, ConfigError> {
        text.parse::<Address>().map_err(|_| ConfigError::Invalid {
            var,
            reason: format!("expected a 0x-prefixed 20-byte hex address, got {}", quoted(text)),
        })
    }

    fn urls(&self, list: &'static str, single: &'static str) -> Result<Vec<RpcUrl>, ConfigError> {
        let (var, text) = match (self.get(list), self.get(single)) {
            (Some(t), _) => (list, t),
            (None, Some(t)) => (single, t),
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: list,
                    hint: format!(" (or {single}): comma-separated http(s) URLs"),
                });
            }
        };
        let urls = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, u)| {
                RpcUrl::parse(u).map_err(|e| ConfigError::Invalid { var, reason: format!("URL #{i}: {e}") })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(ConfigError::Invalid { var, reason: "no URL in the list".into() });
        }
        Ok(urls)
    }
}

/// A value found in a setting, quoted for an error message, unless it may be a secret pasted
/// into the wrong setting: a URL is shown without its user info, path and query (providers put
/// keys there), and a value with a run of 64 hex digits (a private key) is not shown at all.
pub(crate) fn quoted(value: &str) -> String {
    let mut run = 0usize;
    let key_like = value.chars().any(|c| {
        run = if c.is_ascii_hexdigit() { run.saturating_add(1) } else { 0 };
        run >= 64
    });
    if key_like {
        return "a value that looks like a private key (not shown)".to_owned();
    }
    if value.contains("://") {
        return format!("{:?}", crate::settings::without_credentials(value));
    }
    format!("{value:?}")
}

/// A severity name: `info`, `warning`, `error` or `critical`.
fn severity(v: &Vars<'_>, var: &'static str) -> Result<Severity, ConfigError> {
    match v.get(var).as_deref() {
        None | Some("info") => Ok(Severity::Info),
        Some("warning") => Ok(Severity::Warning),
        Some("error") => Ok(Severity::Error),
        Some("critical") => Ok(Severity::Critical),
        Some(other) => Err(ConfigError::Invalid {
            var,
            reason: format!("expected info, warning, error or critical, got {}", quoted(other)),
        }),
    }
}

/// The alert settings, and the old variables' values checked (a chat id that is not one, a
/// webhook URL of the wrong shape: neither is quoted, the URL being a secret).
fn alert_settings(v: &Vars<'_>) -> Result<AlertSettings, ConfigError> {
    if let Some(chat) = v.get("TELEGRAM_CHAT_ID") {
        chat.parse::<TelegramChat>().map_err(|e| ConfigError::Invalid {
            var: "TELEGRAM_CHAT_ID",
            reason: format!("{e}, got {}", quoted(&chat)),
        })?;
    }
    if let Some(url) = v.get("DISCORD_WEBHOOK_URL") {
        DiscordAlerter::builder(&Secret::new(url))
            .map_err(|e| ConfigError::Invalid { var: "DISCORD_WEBHOOK_URL", reason: e.to_string() })?;
    }
    let api_url = |var: &'static str, default: &str| -> Result<String, ConfigError> {
        let text = v.get(var).unwrap_or_else(|| default.to_owned());
        oracle_alerts::parse_api_url("the URL", &text)
            .map_err(|e| ConfigError::Invalid { var, reason: format!("{e} (got {})", quoted(&text)) })?;
        Ok(text)
    };
    let reminder = v.duration("ALERT_REMINDER_INTERVAL_S", 3600, false)?;
    let rate_limit_per_min: u32 =
        v.parse("ALERT_RATE_LIMIT_PER_MIN", 18, "a whole number of messages per minute")?;
    positive("ALERT_RATE_LIMIT_PER_MIN", rate_limit_per_min == 0)?;
    let send_timeout = v.duration("ALERT_SEND_TIMEOUT_MS", 10_000, true)?;
    positive("ALERT_SEND_TIMEOUT_MS", send_timeout.is_zero())?;
    let queue_capacity: usize = v.parse("ALERT_QUEUE_CAPACITY", 100, "a whole number of alerts")?;
    positive("ALERT_QUEUE_CAPACITY", queue_capacity == 0)?;
    let failure_threshold: u32 = v.parse("ALERT_FAILURE_THRESHOLD", 5, "a whole number of ticks")?;
    positive("ALERT_FAILURE_THRESHOLD", failure_threshold == 0)?;
    Ok(AlertSettings {
        telegram_api_url: api_url("TELEGRAM_API_URL", oracle_alerts::DEFAULT_TELEGRAM_API_URL)?,
        discord_api_url: api_url("DISCORD_API_URL", oracle_alerts::DEFAULT_DISCORD_API_URL)?,
        telegram_min_severity: severity(v, "ALERT_TELEGRAM_MIN_SEVERITY")?,
        discord_min_severity: severity(v, "ALERT_DISCORD_MIN_SEVERITY")?,
        reminder_interval: Some(reminder).filter(|d| !d.is_zero()),
        rate_limit_per_min,
        send_timeout,
        queue_capacity,
        failure_threshold,
    })
}

/// Fails with "must be above 0" naming `var` when `is_zero`.
/// The setting that broke a policy rule, and the rule in the settings' own words and units.
fn policy_error(e: &PolicyError, [low_balance, min_balance]: [Price; 2]) -> ConfigError {
    let above_0 = "must be above 0".to_owned();
    let (var, reason) = match e {
        PolicyError::ZeroDeviationThreshold => ("DEVIATION_THRESHOLD_PCT", above_0),
        PolicyError::ZeroHeartbeat => ("HEARTBEAT_S", above_0),
        PolicyError::ZeroGasPriceCap => ("MAX_GAS_PRICE_GWEI", above_0),
        PolicyError::MinIntervalAboveHeartbeat { min_interval, heartbeat } => (
            "MIN_UPDATE_INTERVAL_S",
            format!(
                "the minimum interval ({}s) must not exceed HEARTBEAT_S ({}s)",
                min_interval.as_secs(),
                heartbeat.as_secs()
            ),
        ),
        PolicyError::LowBalanceBelowMinimum { .. } => (
            "LOW_BALANCE_ETH",
            format!("the warning level ({low_balance}) must not be below MIN_BALANCE_ETH ({min_balance})"),
        ),
        PolicyError::ZeroConfirmTicks => (
            "MAX_PRICE_DEVIATION_CONFIRM_TICKS",
            "large moves need at least 1 confirming tick (1 sends at once)".to_owned(),
        ),
        // A rule added to the policy later: its own message, attributed to the policy.
        other => ("the update policy", other.to_string()),
    };
    ConfigError::Invalid { var, reason }
}

fn positive(var: &'static str, is_zero: bool) -> Result<(), ConfigError> {
    if is_zero {
        return Err(ConfigError::Invalid { var, reason: "must be above 0".into() });
    }
    Ok(())
}

fn random_bot_id() -> String {
    // Unique enough to tell bots apart in logs; not a secret.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("bot-{:08x}", (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) as u32)
}

impl BotConfig {
    /// Reads the process environment (the old bot's way: no file, no flags).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_map(&env)
    }

    /// Reads from a map of variables, for tests and embedders.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::from_env_map(vars)?)
    }

    /// Reads from the layers (defaults < file < environment < flags); an error names the
    /// setting and where its value came from.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars(layers)).map_err(|e| match e {
            ConfigError::Invalid { var, reason } => match layers.origin(var) {
                Origin::Default | Origin::Env => ConfigError::Invalid { var, reason },
                origin => ConfigError::Invalid { var, reason: format!("{reason} (set by {origin})") },
            },
            other => other,
        })
    }

    /// The feed sources: a TOML file, the Jeju defaults from the elizaOS token, or Chainlink plus
    /// a fixed elizaOS price, in that order of precedence; exactly one must be chosen.
    fn feeds(
        v: &Vars<'_>,
        token: Option<Address>,
        chainlink: Address,
        max_age: Duration,
        sequencer: Option<(Address, Duration)>,
    ) -> Result<Feeds, ConfigError> {
        let file = v.get("FEEDS_CONFIG");
        let fixed = v.get("ELIZAOS_FIXED_PRICE_USD");
        if let Some((config, path)) = v.0.inline_feeds() {
            if file.is_some() {
                return Err(ConfigError::Invalid {
                    var: "FEEDS_CONFIG",
                    reason: format!(
                        "the configuration file {} has a [feeds] table already: use one or the other",
                        path.display()
                    ),
                });
            }
            return Ok(Feeds::File { path: path.clone(), config: config.clone() });
        }
        if let Some(path) = file {
            // The file's error names the path: quoted as any value found (a secret pasted here
            // must not come back in the message).
            let config =
                SourceConfig::from_file(std::path::Path::new(&path)).map_err(|e| ConfigError::Invalid {
                    var: "FEEDS_CONFIG",
                    reason: e.to_string().replace(&path, quoted(&path).trim_matches('"')),
                })?;
            return Ok(Feeds::File { path: path.into(), config });
        }
        match (token, fixed) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                var: "ELIZAOS_FIXED_PRICE_USD",
                reason: "set either ELIZAOS_TOKEN_BASE (market price from Uniswap V3) or ELIZAOS_FIXED_PRICE_USD (a fixed stand-in), not both".into(),
            }),
            (Some(token), None) => {
                let mut d = jeju_defaults(token).chainlink_eth_usd(chainlink).chainlink_max_age(max_age);
                if let Some(factory) = v.get("UNISWAP_V3_FACTORY") {
                    d = d.factory(v.address("UNISWAP_V3_FACTORY", &factory)?);
                }
                if let Some(weth) = v.get("WETH_ADDRESS") {
                    d = d.weth(v.address("WETH_ADDRESS", &weth)?);
                }
                let window = v.duration("UNISWAP_TWAP_WINDOW_S", 1800, false)?;
                positive("UNISWAP_TWAP_WINDOW_S", window.is_zero())?;
                d = d.window(window);
                d = d.mode(match v.get("UNISWAP_PRICE_MODE").as_deref() {
                    None | Some("twap") => PriceMode::Twap,
                    Some("spot") => PriceMode::Spot,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            var: "UNISWAP_PRICE_MODE",
                            reason: format!("expected twap or spot, got {}", quoted(other)),
                        });
                    }
                });
                if v.get("UNISWAP_MIN_LIQUIDITY").is_some() {
                    return Err(ConfigError::Invalid {
                        var: "UNISWAP_MIN_LIQUIDITY",
                        reason: "replaced by UNISWAP_MIN_DEPTH_WETH: the floor is now the pools' depth in WETH, \
                                 time-weighted over the TWAP window (raw liquidity units meant nothing an operator could check)"
                            .into(),
                    });
                }
                if let Some(text) = v.get("UNISWAP_MIN_DEPTH_WETH") {
                    let depth = Price::parse(&text, 18).map_err(|_| ConfigError::Invalid {
                        var: "UNISWAP_MIN_DEPTH_WETH",
                        reason: format!("expected WETH with at most 18 decimals, e.g. 50, got {}", quoted(&text)),
                    })?;
                    d = d.min_depth(depth);
                }
                d = d.max_divergence_bps(v.parse("UNISWAP_MAX_DIVERGENCE_BPS", 1000u64, "basis points, e.g. 1000")?);
                d = match sequencer {
                    Some((feed, grace)) => d.sequencer_uptime_feed(feed, grace),
                    None => d.without_sequencer_check(),
                };
                Ok(Feeds::JejuDefaults(d))
            }
            (None, Some(text)) => {
                let price = Price::parse(&text, 8).map_err(|_| ConfigError::Invalid {
                    var: "ELIZAOS_FIXED_PRICE_USD",
                    reason: format!("expected a USD price with at most 8 decimals, e.g. 0.10, got {}", quoted(&text)),
                })?;
                positive("ELIZAOS_FIXED_PRICE_USD", price.is_zero())?;
                Ok(Feeds::FixedEliza { chainlink, max_age, sequencer, price })
            }
            (None, None) => Err(ConfigError::Missing {
                var: "ELIZAOS_TOKEN_BASE",
                hint: ": the elizaOS token on Base, priced from its Uniswap V3 pools (or set FEEDS_CONFIG, or ELIZAOS_FIXED_PRICE_USD for a fixed stand-in)".into(),
            }),
        }
    }

    /// The updater key: the key itself (`PRICE_UPDATER_PRIVATE_KEY`, or an owner-only file
    /// named by `PRICE_UPDATER_PRIVATE_KEY_FILE`), or an encrypted keystore
    /// (`PRICE_UPDATER_KEYSTORE` with `PRICE_UPDATER_KEYSTORE_PASSWORD[_FILE]`).
    fn updater_key(v: &Vars<'_>) -> Result<UpdaterKey, ConfigError> {
        let key = v.get("PRICE_UPDATER_PRIVATE_KEY").map(Zeroizing::new);
        let keystore = v.get("PRICE_UPDATER_KEYSTORE");
        let source = match (key, keystore) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: "PRICE_UPDATER_KEYSTORE",
                    reason:
                        "set either the key (PRICE_UPDATER_PRIVATE_KEY or its _FILE) or a keystore, not both"
                            .into(),
                });
            }
            (Some(key), None) => KeySource::Env(key),
            (None, Some(path)) => {
                let password = v.get("PRICE_UPDATER_KEYSTORE_PASSWORD").map(Zeroizing::new).ok_or(
                    ConfigError::Missing {
                        var: "PRICE_UPDATER_KEYSTORE_PASSWORD_FILE",
                        hint: ": an owner-only file holding the keystore's password".into(),
                    },
                )?;
                KeySource::Keystore { path: path.into(), password: PasswordSource::Value(password) }
            }
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "PRICE_UPDATER_PRIVATE_KEY",
                    hint:
                        " (or PRICE_UPDATER_PRIVATE_KEY_FILE, or PRICE_UPDATER_KEYSTORE): the updater's key"
                            .into(),
                });
            }
        };
        let var = if matches!(source, KeySource::Keystore { .. }) {
            "PRICE_UPDATER_KEYSTORE"
        } else {
            "PRICE_UPDATER_PRIVATE_KEY"
        };
        load_signer(&source).map(UpdaterKey).map_err(|e| ConfigError::Invalid { var, reason: e.to_string() })
    }

    fn from_vars(v: &Vars<'_>) -> Result<Self, ConfigError> {
        let lookup = &|k: &str| v.0.get(k);
        let fleet = v.0.fleet();
        // With [[targets]], the bot's own key is only a default for targets without one.
        let has_key =
            v.get("PRICE_UPDATER_PRIVATE_KEY").is_some() || v.get("PRICE_UPDATER_KEYSTORE").is_some();
        let default_key = if fleet.is_none() || has_key { Some(Self::updater_key(v)?) } else { None };
        if let Some(fleet) = fleet {
            crate::targets::single_target_unset(v.0, fleet)?;
        }
        let oracle_address = match fleet {
            // Replaced by the first target's below.
            Some(_) => Address::ZERO,
            None => {
                let oracle_text = v.require("ORACLE_ADDRESS", ": the ManualPriceOracle contract on Jeju")?;
                v.address("ORACLE_ADDRESS", &oracle_text)?
            }
        };
        let elizaos_token_base =
            v.get("ELIZAOS_TOKEN_BASE").map(|t| v.address("ELIZAOS_TOKEN_BASE", &t)).transpose()?;
        let chainlink_text =
            v.get("CHAINLINK_ETH_USD_ADDRESS").unwrap_or_else(|| BASE_CHAINLINK_ETH_USD.into());
        let chainlink_eth_usd = v.address("CHAINLINK_ETH_USD_ADDRESS", &chainlink_text)?;
        let chainlink_max_age = v.duration("CHAINLINK_MAX_AGE_S", 3600, false)?;
        positive("CHAINLINK_MAX_AGE_S", chainlink_max_age.is_zero())?;
        // On by default with Base's feed: prices from an L2 whose sequencer is down look fresh
        // and are not. Off only when asked, by name.
        let grace = v.duration("SEQUENCER_GRACE_PERIOD_S", 3600, false)?;
        let sequencer = match v.get("CHAINLINK_SEQUENCER_UPTIME_FEED").as_deref() {
            None => Some((oracle_sources::BASE_SEQUENCER_UPTIME_FEED, grace)),
            Some("off") => None,
            Some(t) => Some((v.address("CHAINLINK_SEQUENCER_UPTIME_FEED", t)?, grace)),
        };
        let feeds = Self::feeds(v, elizaos_token_base, chainlink_eth_usd, chainlink_max_age, sequencer)?;

        let deviation = v.decimal(
            "DEVIATION_THRESHOLD_PCT",
            "1",
            2,
            "a percentage with at most 2 decimals, e.g. 1 or 0.5",
        )?;
        let review =
            v.decimal("MAX_PRICE_DEVIATION_PCT", "10", 2, "a percentage with at most 2 decimals, e.g. 10")?;
        let gas_cap = v.decimal("MAX_GAS_PRICE_GWEI", "100", 9, "a gas price in gwei, e.g. 100 or 0.5")?;
        let multiplier =
            v.decimal("GAS_PRICE_MULTIPLIER", "1.2", 3, "a multiplier with at most 3 decimals, e.g. 1.2")?;
        let low_balance = v.decimal("LOW_BALANCE_ETH", "0.01", 18, "an amount of ETH, e.g. 0.01")?;
        let min_balance = v.decimal("MIN_BALANCE_ETH", "0.001", 18, "an amount of ETH, e.g. 0.001")?;
        let to_u64 = |var: &'static str, p: Price| -> Result<u64, ConfigError> {
            u64::try_from(p.mantissa()).map_err(|_| ConfigError::Invalid { var, reason: "too large".into() })
        };
        let to_u128 = |var: &'static str, p: Price| -> Result<u128, ConfigError> {
            u128::try_from(p.mantissa()).map_err(|_| ConfigError::Invalid { var, reason: "too large".into() })
        };
        // The policy checks its own rules (`PolicyError`); only the review threshold's floor is
        // the bot's (the policy accepts 0: every move reviewed).
        positive("MAX_PRICE_DEVIATION_PCT", review.is_zero())?;
        let min_interval = v.duration("MIN_UPDATE_INTERVAL_S", 60, false)?;
        let heartbeat = v.duration("HEARTBEAT_S", 3300, false)?;
        let policy = Policy::builder()
            .deviation_threshold_bps(to_u64("DEVIATION_THRESHOLD_PCT", deviation)?)
            .review_threshold_bps(to_u64("MAX_PRICE_DEVIATION_PCT", review)?)
            .confirm_ticks(v.parse(
                "MAX_PRICE_DEVIATION_CONFIRM_TICKS",
                2u32,
                "a whole number of ticks, at least 1",
            )?)
            .min_interval(min_interval)
            .heartbeat(heartbeat)
            .max_fee_per_gas(to_u128("MAX_GAS_PRICE_GWEI", gas_cap)?)
            .min_balance_wei(min_balance.mantissa())
            .low_balance_wei(low_balance.mantissa())
            .build()
            .map_err(|e| policy_error(&e, [low_balance, min_balance]))?;
        let gas_price_multiplier_permille = to_u64("GAS_PRICE_MULTIPLIER", multiplier)?;
        if gas_price_multiplier_permille < 1_000 {
            return Err(ConfigError::Invalid {
                var: "GAS_PRICE_MULTIPLIER",
                reason: format!("must be at least 1.0, got {multiplier}"),
            });
        }
        let update_interval = v.duration("UPDATE_INTERVAL_MS", 300_000, true)?;
        positive("UPDATE_INTERVAL_MS", update_interval.is_zero())?;
        let rpc_timeout = v.duration("RPC_TIMEOUT_MS", 10_000, true)?;
        positive("RPC_TIMEOUT_MS", rpc_timeout.is_zero())?;
        let rpc_total_timeout = v.duration("RPC_TOTAL_TIMEOUT_MS", 30_000, true)?;
        positive("RPC_TOTAL_TIMEOUT_MS", rpc_total_timeout.is_zero())?;
        let rpc_max_lag_blocks: u64 = v.parse("RPC_MAX_LAG_BLOCKS", 5, "a whole number of blocks")?;
        let rpc_probe_interval = v.duration("RPC_PROBE_INTERVAL_MS", 5_000, true)?;
        positive("RPC_PROBE_INTERVAL_MS", rpc_probe_interval.is_zero())?;
        let receipt_timeout = v.duration("RECEIPT_TIMEOUT_S", 120, false)?;
        positive("RECEIPT_TIMEOUT_S", receipt_timeout.is_zero())?;
        let stuck_after = v.duration("STUCK_AFTER_S", 30, false)?;
        positive("STUCK_AFTER_S", stuck_after.is_zero())?;
        let stuck_blocks: u64 = v.parse("STUCK_AFTER_BLOCKS", 3, "a whole number of blocks")?;
        positive("STUCK_AFTER_BLOCKS", stuck_blocks == 0)?;
        let chainlink_max_age = v.duration("CHAINLINK_MAX_AGE_S", 3600, false)?;
        positive("CHAINLINK_MAX_AGE_S", chainlink_max_age.is_zero())?;

        let leader_election_enabled = v.flag("LEADER_ELECTION_ENABLED", false)?;
        let election = if leader_election_enabled {
            let invalid = |e: oracle_election::ElectionError| ConfigError::Invalid {
                var: "LEADER_ELECTION_*",
                reason: e.to_string(),
            };
            Some(ElectionSettings {
                elector: ElectorConfig::from_env(lookup).map_err(invalid)?,
                lease: LeaseConfig::from_env(lookup).map_err(invalid)?,
                max_target_failures: v.parse("LEADER_MAX_TARGET_FAILURES", 3, "a whole number of ticks")?,
                backoff: v.duration("LEADER_BACKOFF_MS", 30_000, true)?,
            })
        } else {
            None
        };

        let fleet_slack: usize =
            v.parse("FLEET_SLACK", crate::targets::DEFAULT_FLEET_SLACK, "a whole number of targets, e.g. 0")?;
        let targets = fleet
            .map(|f| crate::targets::TargetsConfig::read(f, default_key.as_ref(), &policy, fleet_slack))
            .transpose()?;
        // With targets, the single-target fields describe the first one (tools that read one
        // oracle, such as oracle-cli, use it).
        let (oracle_address, jeju_rpc_urls, jeju_chain_id, updater_key) = match targets.as_ref() {
            Some(all) => all.first()?,
            None => (
                oracle_address,
                v.urls("JEJU_RPC_URLS", "JEJU_RPC_URL")?,
                v.get("JEJU_CHAIN_ID").map(|_| v.parse("JEJU_CHAIN_ID", 0u64, "a chain id")).transpose()?,
                default_key.ok_or(ConfigError::Missing {
                    var: "PRICE_UPDATER_PRIVATE_KEY",
                    hint:
                        " (or PRICE_UPDATER_PRIVATE_KEY_FILE, or PRICE_UPDATER_KEYSTORE): the updater's key"
                            .into(),
                })?,
            ),
        };

        Ok(Self {
            bot_id: v.get("BOT_ID").unwrap_or_else(random_bot_id),
            base_rpc_urls: v.urls("BASE_RPC_URLS", "BASE_RPC_URL")?,
            jeju_rpc_urls,
            base_chain_id: v
                .get("BASE_CHAIN_ID")
                .map(|_| v.parse("BASE_CHAIN_ID", 0u64, "a chain id, e.g. 8453"))
                .transpose()?,
            jeju_chain_id,
            oracle_address,
            elizaos_token_base,
            updater_key,
            chainlink_eth_usd,
            chainlink_max_age,
            feeds,
            update_interval,
            policy,
            gas_price_multiplier_permille,
            rpc_timeout,
            rpc_total_timeout,
            rpc_max_lag_blocks,
            rpc_probe_interval,
            receipt_timeout,
            stuck_after,
            stuck_blocks,
            // systemd's `StateDirectory=` sets `STATE_DIRECTORY` (possibly a `:`-separated list).
            state_dir: v
                .get("STATE_DIR")
                .or_else(|| v.get("STATE_DIRECTORY").and_then(|d| d.split(':').next().map(str::to_owned)))
                .unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned())
                .into(),
            leader_election_enabled,
            election,
            enable_health_check: v.flag("ENABLE_HEALTH_CHECK", true)?,
            health_check_port: v.parse("HEALTH_CHECK_PORT", 3000, "a TCP port (0-65535)")?,
            health_bind_addr: v.parse(
                "HEALTH_BIND_ADDR",
                std::net::IpAddr::from([0, 0, 0, 0]),
                "an IP address, e.g. 127.0.0.1 or ::",
            )?,
            max_retries: v.parse("MAX_RETRIES", 3, "a whole number")?,
            retry_delay: v.duration("RETRY_DELAY_MS", 5_000, true)?,
            telegram_bot_token: v.get("TELEGRAM_BOT_TOKEN").map(Secret::new),
            telegram_chat_id: v.get("TELEGRAM_CHAT_ID"),
            discord_webhook_url: v.get("DISCORD_WEBHOOK_URL").map(Secret::new),
            alerts: alert_settings(v)?,
            targets,
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
