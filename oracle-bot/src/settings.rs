//! Where each setting comes from: defaults < an optional TOML file (`--config PATH` or
//! `ORACLE_CONFIG`) < the environment (the old bot's variables, unchanged) < command-line flags.
//!
//! Every setting has one name, its environment variable, and one key in the file
//! ([`SETTINGS`]); the file's sections group them (`[policy] deviation_threshold_pct = 1` is
//! `DEVIATION_THRESHOLD_PCT=1`). The configuration is then read from the layers exactly as it is
//! read from the environment, so the two can never mean different things, and each value keeps
//! its [`Origin`] for `--check-config` and for errors.
//!
//! Secrets never sit in the file: a secret setting `X` is read from the environment, or from a
//! file only its owner can read named by `X_FILE` (the convention of Docker and Kubernetes
//! secrets, Vault agent and secret-store CSI drivers), which the file may name.
//!
//! Typos are errors: an unknown key in the file, and an unknown variable that looks like one of
//! ours (one of our prefixes, or within two letters of a known name), stop the bot with the
//! nearest known name, instead of silently falling back to a default.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
};

use oracle_sources::SourceConfig;
use zeroize::Zeroizing;

use crate::ConfigError;

/// How a setting's value is shown and where it may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Shown as it is.
    Public,
    /// May hold credentials (a URL): shown without them.
    Credentials,
    /// Never shown and never in the file: from the environment or an owner-only `*_FILE`.
    Secret,
}

/// One setting: its variable, its key in the file, and how it is treated.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable (the old bot's name where it had one).
    pub var: &'static str,
    /// The key in the configuration file, `section.name` or `name`.
    pub key: &'static str,
    /// Whether it is a secret.
    pub secrecy: Secrecy,
    /// Whether a running bot takes a new value on SIGHUP.
    pub reloadable: bool,
}

const fn s(var: &'static str, key: &'static str) -> Setting {
    Setting { var, key, secrecy: Secrecy::Public, reloadable: false }
}
const fn reload(var: &'static str, key: &'static str) -> Setting {
    Setting { var, key, secrecy: Secrecy::Public, reloadable: true }
}
const fn secret(var: &'static str, key: &'static str) -> Setting {
    Setting { var, key, secrecy: Secrecy::Secret, reloadable: false }
}
const fn credentials(var: &'static str, key: &'static str) -> Setting {
    Setting { var, key, secrecy: Secrecy::Credentials, reloadable: false }
}

/// Every setting the bot reads. `docs/configuration.md` documents each.
pub const SETTINGS: &[Setting] = &[
    s("BOT_ID", "bot_id"),
    reload("LOG_LEVEL", "log_level"),
    s("LOG_FORMAT", "log_format"),
    s("STATE_DIR", "state_dir"),
    // The source chain and its feeds.
    credentials("BASE_RPC_URLS", "source.rpc_urls"),
    credentials("BASE_RPC_URL", "source.rpc_url"),
    s("BASE_CHAIN_ID", "source.chain_id"),
    s("CHAINLINK_ETH_USD_ADDRESS", "source.chainlink_eth_usd"),
    s("CHAINLINK_MAX_AGE_S", "source.chainlink_max_age_s"),
    s("CHAINLINK_SEQUENCER_UPTIME_FEED", "source.sequencer_uptime_feed"),
    s("SEQUENCER_GRACE_PERIOD_S", "source.sequencer_grace_period_s"),
    s("ELIZAOS_TOKEN_BASE", "source.elizaos_token"),
    s("ELIZAOS_FIXED_PRICE_USD", "source.elizaos_fixed_price_usd"),
    s("UNISWAP_V3_FACTORY", "source.uniswap_v3_factory"),
    s("WETH_ADDRESS", "source.weth"),
    s("UNISWAP_TWAP_WINDOW_S", "source.twap_window_s"),
    s("UNISWAP_PRICE_MODE", "source.price_mode"),
    s("UNISWAP_MIN_DEPTH_WETH", "source.min_depth_weth"),
    s("UNISWAP_MIN_LIQUIDITY", "source.min_liquidity"),
    s("UNISWAP_MAX_DIVERGENCE_BPS", "source.max_divergence_bps"),
    s("FEEDS_CONFIG", "source.feeds_config"),
    // The target.
    credentials("JEJU_RPC_URLS", "target.rpc_urls"),
    credentials("JEJU_RPC_URL", "target.rpc_url"),
    s("JEJU_CHAIN_ID", "target.chain_id"),
    s("ORACLE_ADDRESS", "target.oracle_address"),
    secret("PRICE_UPDATER_PRIVATE_KEY", "target.private_key"),
    s("PRICE_UPDATER_KEYSTORE", "target.keystore"),
    secret("PRICE_UPDATER_KEYSTORE_PASSWORD", "target.keystore_password"),
    s("RECEIPT_TIMEOUT_S", "target.receipt_timeout_s"),
    s("STUCK_AFTER_S", "target.stuck_after_s"),
    s("STUCK_AFTER_BLOCKS", "target.stuck_after_blocks"),
    // What to send, and when.
    reload("UPDATE_INTERVAL_MS", "policy.update_interval_ms"),
    reload("DEVIATION_THRESHOLD_PCT", "policy.deviation_threshold_pct"),
    reload("HEARTBEAT_S", "policy.heartbeat_s"),
    reload("MIN_UPDATE_INTERVAL_S", "policy.min_update_interval_s"),
    reload("MAX_PRICE_DEVIATION_PCT", "policy.max_price_deviation_pct"),
    reload("MAX_PRICE_DEVIATION_CONFIRM_TICKS", "policy.max_price_deviation_confirm_ticks"),
    reload("MAX_GAS_PRICE_GWEI", "policy.max_gas_price_gwei"),
    s("GAS_PRICE_MULTIPLIER", "policy.gas_price_multiplier"),
    reload("LOW_BALANCE_ETH", "policy.low_balance_eth"),
    reload("MIN_BALANCE_ETH", "policy.min_balance_eth"),
    // RPC.
    s("RPC_TIMEOUT_MS", "rpc.timeout_ms"),
    s("RPC_TOTAL_TIMEOUT_MS", "rpc.total_timeout_ms"),
    s("RPC_MAX_LAG_BLOCKS", "rpc.max_lag_blocks"),
    s("RPC_PROBE_INTERVAL_MS", "rpc.probe_interval_ms"),
    s("MAX_RETRIES", "rpc.max_retries"),
    s("RETRY_DELAY_MS", "rpc.retry_delay_ms"),
    // Leader election.
    s("LEADER_ELECTION_ENABLED", "election.enabled"),
    s("LEADER_ELECTION_BACKEND", "election.backend"),
    s("LEADER_LOCK_PATH", "election.lock_path"),
    credentials("REDIS_URL", "election.redis_url"),
    s("LEADER_REDIS_KEY_PREFIX", "election.redis_key_prefix"),
    s("ETCD_ENDPOINTS", "election.etcd_endpoints"),
    s("LEADER_ETCD_ELECTION", "election.etcd_election"),
    s("ETCD_USERNAME", "election.etcd_username"),
    secret("ETCD_PASSWORD", "election.etcd_password"),
    s("ETCD_CA_CERT", "election.etcd_ca_cert"),
    s("ETCD_CLIENT_CERT", "election.etcd_client_cert"),
    s("ETCD_CLIENT_KEY", "election.etcd_client_key"),
    s("ETCD_TLS_DOMAIN", "election.etcd_tls_domain"),
    s("LEADER_LEASE_MS", "election.lease_ms"),
    s("LEADER_RENEW_INTERVAL_MS", "election.renew_interval_ms"),
    s("LEADER_RENEW_DEADLINE_MS", "election.renew_deadline_ms"),
    s("LEADER_MAX_TARGET_FAILURES", "election.max_target_failures"),
    s("LEADER_BACKOFF_MS", "election.backoff_ms"),
    s("FLEET_SLACK", "election.fleet_slack"),
    // HTTP endpoints.
    s("ENABLE_HEALTH_CHECK", "http.enabled"),
    s("HEALTH_CHECK_PORT", "http.port"),
    s("HEALTH_BIND_ADDR", "http.bind_addr"),
    // Alerts.
    secret("TELEGRAM_BOT_TOKEN", "alerts.telegram_bot_token"),
    s("TELEGRAM_CHAT_ID", "alerts.telegram_chat_id"),
    s("TELEGRAM_API_URL", "alerts.telegram_api_url"),
    secret("DISCORD_WEBHOOK_URL", "alerts.discord_webhook_url"),
    s("DISCORD_API_URL", "alerts.discord_api_url"),
    reload("ALERT_TELEGRAM_MIN_SEVERITY", "alerts.telegram_min_severity"),
    reload("ALERT_DISCORD_MIN_SEVERITY", "alerts.discord_min_severity"),
    s("ALERT_REMINDER_INTERVAL_S", "alerts.reminder_interval_s"),
    s("ALERT_RATE_LIMIT_PER_MIN", "alerts.rate_limit_per_min"),
    s("ALERT_SEND_TIMEOUT_MS", "alerts.send_timeout_ms"),
    s("ALERT_QUEUE_CAPACITY", "alerts.queue_capacity"),
    s("ALERT_FAILURE_THRESHOLD", "alerts.failure_threshold"),
];

/// Variables the bot reads that are not settings of its own.
const OTHER_VARS: &[&str] = &[
    "ORACLE_CONFIG",
    // systemd's `StateDirectory=`.
    "STATE_DIRECTORY",
    "RUST_LOG",
    "RUST_BACKTRACE",
    // oracle-cli's own, read from the same environment.
    "ORACLE_BOT_URLS",
    "ORACLE_CLI_PRIVATE_KEY",
    "ORACLE_CLI_KEY_FILE",
    "ORACLE_CLI_KEYSTORE",
    "ORACLE_CLI_PASSWORD_FILE",
];

/// Prefixes of our variables: one of these and an unknown name is a typo.
const PREFIXES: &[&str] = &[
    "ORACLE_",
    "LEADER_",
    "ALERT_",
    "UNISWAP_",
    "CHAINLINK_",
    "RPC_",
    "TELEGRAM_",
    "DISCORD_",
    "HEALTH_",
    "PRICE_UPDATER_",
    "BASE_RPC",
    "JEJU_",
    "ELIZAOS_",
    "SEQUENCER_",
    "STUCK_",
    "RECEIPT_",
    "FLEET_",
];

/// The setting whose variable is `var`.
pub fn setting(var: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.var == var)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not set: the built-in default.
    Default,
    /// The configuration file, at a key.
    File {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// The environment.
    Env,
    /// A command-line flag.
    Flag,
    /// An owner-only file named by `<VAR>_FILE` (set where `via` says).
    SecretFile {
        /// The file holding the value.
        path: PathBuf,
        /// Where `<VAR>_FILE` itself was set.
        via: Box<Origin>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, key } => write!(f, "file {} key {key}", path.display()),
            Self::Env => f.write_str("env"),
            Self::Flag => f.write_str("flag"),
            Self::SecretFile { path, via } => write!(f, "secret file {} (named by {via})", path.display()),
        }
    }
}

/// The layers a configuration is read from.
#[derive(Default)]
pub struct Layers {
    values: BTreeMap<&'static str, (Zeroizing<String>, Origin)>,
    /// Secrets' `<key>_file` paths named in the configuration file.
    secret_files: BTreeMap<&'static str, (PathBuf, Origin)>,
    /// Feeds written inline in the file's `[feeds]` table, and the file.
    inline_feeds: Option<(SourceConfig, PathBuf)>,
    /// The file's `[[chains]]` and `[[targets]]` arrays as written, and the file: read whole by
    /// [`crate::targets`], which names each entry in its errors.
    fleet: Option<FleetTables>,
}

/// The `[[chains]]` and `[[targets]]` arrays of a configuration file, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetTables {
    /// The file.
    pub path: PathBuf,
    /// `[[chains]]`, one table each.
    pub chains: Vec<toml::Value>,
    /// `[[targets]]`, one table each.
    pub targets: Vec<toml::Value>,
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("set", &self.values.keys().collect::<Vec<_>>())
            .field("inline_feeds", &self.inline_feeds.as_ref().map(|(_, p)| p))
            .field("targets", &self.fleet.as_ref().map(|f| f.targets.len()))
            .finish()
    }
}

/// A `--set VAR=VALUE` or named flag's value.
pub type Flag = (String, String);

impl Layers {
    /// Reads the layers: the file (if any), the environment `env` (every variable, to catch
    /// typos) and the flags. Unknown names anywhere are errors.
    pub fn read(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        flags: &[Flag],
    ) -> Result<Self, ConfigError> {
        let mut layers = Self::default();
        if let Some(path) = file {
            layers.read_file(path)?;
        }
        for (name, value) in env {
            if let Some(setting) = setting(name) {
                layers.values.insert(setting.var, (Zeroizing::new(value.clone()), Origin::Env));
            } else if name.ends_with("_FILE")
                && setting(name.trim_end_matches("_FILE")).is_some_and(|s| s.secrecy != Secrecy::Public)
            {
                // A secret's `_FILE`: resolved below.
            } else if let Some(hint) = unknown_var(name) {
                return Err(ConfigError::Unknown {
                    name: name.clone(),
                    origin: "the environment".into(),
                    hint,
                });
            }
        }
        for (name, value) in flags {
            let Some(setting) = setting(name) else {
                return Err(ConfigError::Unknown {
                    name: name.clone(),
                    origin: "--set".into(),
                    hint: nearest(name).map(|n| format!("; did you mean {n}?")).unwrap_or_default(),
                });
            };
            if setting.secrecy == Secrecy::Secret {
                return Err(ConfigError::Invalid {
                    var: setting.var,
                    reason: "a secret cannot be given as a flag (it would show in `ps`): set it in the environment or in an owner-only file named by its _FILE variable".into(),
                });
            }
            layers.values.insert(setting.var, (Zeroizing::new(value.clone()), Origin::Flag));
        }
        // Secrets from `<VAR>_FILE`, from the environment or the file.
        for setting in SETTINGS.iter().filter(|s| s.secrecy != Secrecy::Public) {
            let file_var = format!("{}_FILE", setting.var);
            let named = env
                .get(&file_var)
                .map(|p| (PathBuf::from(p), Origin::Env))
                .or_else(|| layers.file_secret_path(setting));
            let Some((path, via)) = named else { continue };
            if layers.values.get(setting.var).is_some_and(|(_, o)| *o == Origin::Env) {
                return Err(ConfigError::Invalid {
                    var: setting.var,
                    reason: format!("set either {} or {file_var}, not both", setting.var),
                });
            }
            let value = oracle_core::evm::keys::read_secret_file(&path)
                .map_err(|e| ConfigError::Invalid { var: setting.var, reason: e.to_string() })?;
            layers.values.insert(setting.var, (value, Origin::SecretFile { path, via: Box::new(via) }));
        }
        Ok(layers)
    }

    /// The environment alone (the old bot's way).
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::read(None, env, &[])
    }

    /// A secret's `<key>_file` in the configuration file, as a path and its origin.
    fn file_secret_path(&self, setting: &Setting) -> Option<(PathBuf, Origin)> {
        self.secret_files.get(setting.var).cloned()
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_error = |reason: String| ConfigError::File { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read it: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // The message only, without the source excerpt: a line may hold a mistyped secret.
            let at = e
                .span()
                .map(|span| line_of(&text, span.start))
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            file_error(format!("not valid TOML{at}: {}", e.message()))
        })?;
        for (name, value) in table {
            match value {
                toml::Value::Table(section) if name == "feeds" => {
                    let text = toml::to_string(&section).map_err(|e| file_error(format!("[feeds]: {e}")))?;
                    let feeds = SourceConfig::from_toml_str(&text)
                        .map_err(|e| file_error(format!("[feeds]: {e}")))?;
                    self.inline_feeds = Some((feeds, path.to_owned()));
                }
                toml::Value::Array(items) if name == "targets" || name == "chains" => {
                    let fleet = self.fleet.get_or_insert_with(|| FleetTables {
                        path: path.to_owned(),
                        chains: Vec::new(),
                        targets: Vec::new(),
                    });
                    if name == "targets" { fleet.targets = items } else { fleet.chains = items }
                }
                toml::Value::Table(section) => {
                    for (key, value) in section {
                        self.file_value(path, &format!("{name}.{key}"), value)?;
                    }
                }
                value => self.file_value(path, &name, value)?,
            }
        }
        Ok(())
    }

    fn file_value(&mut self, path: &Path, key: &str, value: toml::Value) -> Result<(), ConfigError> {
        let origin = Origin::File { path: path.to_owned(), key: key.to_owned() };
        if let Some(secret_key) = key.strip_suffix("_file")
            && let Some(setting) =
                SETTINGS.iter().find(|s| s.key == secret_key && s.secrecy != Secrecy::Public)
        {
            let text = scalar(&value).ok_or_else(|| ConfigError::File {
                path: path.to_owned(),
                reason: format!("{key} must be a path"),
            })?;
            self.secret_files.insert(setting.var, (PathBuf::from(text), origin));
            return Ok(());
        }
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            let hint = nearest_key(key).map(|k| format!("; did you mean {k}?")).unwrap_or_default();
            return Err(ConfigError::Unknown {
                name: key.to_owned(),
                origin: format!("the file {}", path.display()),
                hint,
            });
        };
        if setting.secrecy == Secrecy::Secret {
            return Err(ConfigError::File {
                path: path.to_owned(),
                reason: format!(
                    "{key} is a secret and does not go in the configuration file: set {key}_file to a file only the bot's user can read, or {} in the environment",
                    setting.var
                ),
            });
        }
        let text = scalar(&value).ok_or_else(|| ConfigError::File {
            path: path.to_owned(),
            reason: format!("{key} must be a string, number, boolean or a list of them"),
        })?;
        self.values.insert(setting.var, (Zeroizing::new(text), origin));
        Ok(())
    }

    /// Gives `var` a value when no layer sets it, as a default (a tool that does not use a
    /// required setting hands the reader an inert stand-in). Unknown names are ignored.
    pub fn set_default(&mut self, var: &str, value: &str) {
        if let Some(setting) = setting(var)
            && self.values.get(setting.var).is_none_or(|(v, _)| v.trim().is_empty())
        {
            self.values.insert(setting.var, (Zeroizing::new(value.to_owned()), Origin::Default));
        }
    }

    /// The value of `var`, from the highest layer that sets it.
    pub fn get(&self, var: &str) -> Option<String> {
        self.values.get(var).map(|(v, _)| v.to_string())
    }

    /// Where `var`'s value came from.
    pub fn origin(&self, var: &str) -> Origin {
        self.values.get(var).map_or(Origin::Default, |(_, o)| o.clone())
    }

    /// The feeds written in the file's `[feeds]` table.
    pub fn inline_feeds(&self) -> Option<&(SourceConfig, PathBuf)> {
        self.inline_feeds.as_ref()
    }

    /// The file's `[[chains]]` and `[[targets]]`, when it has either.
    pub fn fleet(&self) -> Option<&FleetTables> {
        self.fleet.as_ref()
    }

    /// Every setting with its shown value (secrets redacted, credentials stripped) and origin,
    /// in the table's order; unset ones show `None` and [`Origin::Default`].
    pub fn report(&self) -> Vec<(&'static Setting, Option<String>, Origin)> {
        SETTINGS
            .iter()
            .map(|s| {
                let shown = self.values.get(s.var).map(|(v, _)| match s.secrecy {
                    Secrecy::Public => v.to_string(),
                    Secrecy::Credentials => without_credentials(v),
                    Secrecy::Secret => "<redacted>".to_owned(),
                });
                (s, shown, self.origin(s.var))
            })
            .collect()
    }
}

/// The settings whose values differ between `before` and `after`: those a running bot takes
/// (SIGHUP), and those that need a restart. Names only: secrets are compared, never shown.
pub fn changes(before: &Layers, after: &Layers) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut reloadable = Vec::new();
    let mut restart = Vec::new();
    for setting in SETTINGS {
        let (a, b) =
            (before.values.get(setting.var).map(|(v, _)| v), after.values.get(setting.var).map(|(v, _)| v));
        if a != b {
            if setting.reloadable { reloadable.push(setting.var) } else { restart.push(setting.var) }
        }
    }
    if before.inline_feeds.as_ref().map(|(f, _)| format!("{f:?}"))
        != after.inline_feeds.as_ref().map(|(f, _)| format!("{f:?}"))
    {
        restart.push("[feeds]");
    }
    // Adding, removing or changing a target changes the engines, the elections and the fleet's
    // share: only a restart builds them anew.
    if before.fleet.as_ref().map(|f| (&f.chains, &f.targets))
        != after.fleet.as_ref().map(|f| (&f.chains, &f.targets))
    {
        restart.push("[[chains]]/[[targets]]");
    }
    (reloadable, restart)
}

/// A list of URLs shown as `scheme://host:port` each: user info, path and query may hold keys
/// (an RPC provider's API key, a Redis password). Anything that does not parse is `<redacted>`.
pub(crate) fn without_credentials(list: &str) -> String {
    list.split(',')
        .map(|item| match url::Url::parse(item.trim()) {
            Ok(u) if u.host_str().is_some() => oracle_core::secret::redact_url(&u),
            _ => oracle_core::secret::REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A TOML scalar (or list of scalars, joined with commas as the variables are) as text.
pub(crate) fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => {
            items.iter().map(scalar).collect::<Option<Vec<_>>>().map(|v| v.join(","))
        }
        toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// Why `name` looks like a mistyped setting, or `None` when it is someone else's variable.
fn unknown_var(name: &str) -> Option<String> {
    if OTHER_VARS.contains(&name) {
        return None;
    }
    // Kubernetes' service links (`<SERVICE>_PORT_…`, `<SERVICE>_SERVICE_HOST`) are not ours.
    if name.contains("_SERVICE_") || name.ends_with("_PORT") || name.contains("_PORT_") {
        return None;
    }
    let near = nearest(name);
    let ours = PREFIXES.iter().any(|p| name.starts_with(p));
    match (ours, near) {
        (_, Some(n)) if edit_distance(name, n) <= 2 => Some(format!("; did you mean {n}?")),
        (true, near) => Some(near.map(|n| format!("; the nearest is {n}")).unwrap_or_default()),
        (false, _) => None,
    }
}

/// The known variable nearest to `name`.
fn nearest(name: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|s| s.var)
        .min_by_key(|v| edit_distance(name, v))
        .filter(|v| edit_distance(name, v) <= 6)
}

/// The known file key nearest to `key`.
fn nearest_key(key: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .min_by_key(|k| edit_distance(key, k))
        .filter(|k| edit_distance(key, k) <= 6)
}

/// Levenshtein distance (names are short ASCII).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            without_credentials("https://base.example/v2/KEY,redis://:hunter2@redis:6379/0,not a url"),
            "https://base.example,redis://redis:6379,<redacted>"
        );
    }

    #[test]
    fn typos_are_caught_and_other_peoples_variables_are_not() {
        assert!(unknown_var("DEVIATON_THRESHOLD_PCT").is_some_and(|h| h.contains("DEVIATION_THRESHOLD_PCT")));
        assert!(unknown_var("LEADER_LEASE_SECONDS").is_some(), "our prefix");
        assert_eq!(unknown_var("HOME"), None);
        assert_eq!(unknown_var("REDIS_SERVICE_HOST"), None, "a Kubernetes service link");
        assert_eq!(unknown_var("ORACLE_CONFIG"), None);
    }

    #[test]
    fn file_values_map_to_variables_and_secrets_stay_out() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bot.toml");
        let write = |text: &str| std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        write(
            "bot_id = \"a\"\n[source]\nrpc_urls = [\"http://x:1\", \"http://y:2\"]\n[policy]\nheartbeat_s = 100\n",
        );
        let env = HashMap::from([("HEARTBEAT_S".to_owned(), "200".to_owned())]);
        let layers = Layers::read(Some(&path), &env, &[("BOT_ID".into(), "b".into())])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layers.get("BASE_RPC_URLS").as_deref(), Some("http://x:1,http://y:2"));
        assert_eq!(
            (layers.get("HEARTBEAT_S").as_deref(), layers.origin("HEARTBEAT_S")),
            (Some("200"), Origin::Env)
        );
        assert_eq!((layers.get("BOT_ID").as_deref(), layers.origin("BOT_ID")), (Some("b"), Origin::Flag));
        write("[alerts]\ntelegram_bot_token = \"123:SECRET\"\n");
        let err = Layers::read(Some(&path), &HashMap::new(), &[]).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("alerts.telegram_bot_token is a secret") && !err.contains("SECRET\""), "{err}");
    }
}
