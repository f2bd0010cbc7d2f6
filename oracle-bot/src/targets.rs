//! The targets one bot drives, from its configuration file's `[[chains]]` and `[[targets]]`
//! arrays (docs/configuration.md, "Many targets").
//!
//! A chain is a network the bot writes to: its RPC endpoints (one failover transport, shared by
//! every target on it), its chain id (checked at start-up when given) and, optionally, the
//! updater key of its targets. A target is one oracle contract on one chain: its name (its
//! election key's suffix and its `target` label), the two feeds it stores, optionally a key of
//! its own and a few policy overrides. Without these arrays the bot drives the one target of the
//! old variables (`ORACLE_ADDRESS` on `JEJU_RPC_URLS`), exactly as before.
//!
//! The arrays are read whole and every problem names its entry and key
//! (`targets[2] ("jeju-btc") oracle_address: ...`). Secrets never sit in the file: a key is an
//! owner-only file (`private_key_file`) or a keystore with an owner-only password file.

use std::{path::Path, time::Duration};

use alloy::primitives::Address;
use oracle_core::{
    FeedId, Policy, PolicyError, Price,
    evm::{
        GenericTarget, Input, Output, RpcUrl,
        keys::{KeySource, PasswordSource, load_signer},
    },
};

use crate::{
    ConfigError, UpdaterKey,
    config::quoted,
    settings::{FleetTables, Layers, Origin, edit_distance, scalar},
};

/// How many targets above its fair share (`ceil(targets / live bots)`) a bot may lead while the
/// others are alive (`FLEET_SLACK`). None by default: a fleet of N bots over M targets then
/// settles at about M/N each, which is what "losing a bot moves only its share" promises. A
/// slack lets a bot keep targets through a brief miscount of the fleet (a bot restarting) at
/// the price of an uneven spread.
pub const DEFAULT_FLEET_SLACK: usize = 0;

/// The longest name of a chain or target: names go into election keys, lock file names and
/// metric labels.
const MAX_NAME_LEN: usize = 64;

/// A chain the bot writes to.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Its name (`chain` label; targets refer to it).
    pub name: String,
    /// Its endpoints, in preference order.
    pub rpc_urls: Vec<RpcUrl>,
    /// Its chain id, checked at start-up when set.
    pub chain_id: Option<u64>,
}

/// What a target's policy changes from the bot's (`[policy]` and its variables). A reload
/// applies the bot's new policy with these on top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOverrides {
    /// `deviation_threshold_pct`, in basis points.
    pub deviation_threshold_bps: Option<u64>,
    /// `heartbeat_s`.
    pub heartbeat: Option<Duration>,
    /// `min_update_interval_s`.
    pub min_interval: Option<Duration>,
}

impl PolicyOverrides {
    /// `base` with these overrides.
    pub fn apply(&self, base: &Policy) -> Result<Policy, PolicyError> {
        if self.is_empty() {
            return Ok(base.clone());
        }
        Policy::builder()
            .deviation_threshold_bps(self.deviation_threshold_bps.unwrap_or(base.deviation_threshold_bps()))
            .review_threshold_bps(base.review_threshold_bps())
            .confirm_ticks(base.confirm_ticks())
            .min_interval(self.min_interval.unwrap_or(base.min_interval()))
            .heartbeat(self.heartbeat.unwrap_or(base.heartbeat()))
            .max_fee_per_gas(base.max_fee_per_gas())
            .min_balance_wei(base.min_balance_wei())
            .low_balance_wei(base.low_balance_wei())
            .build()
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One oracle contract the bot keeps fresh.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Its name: its election key's suffix, its `target` label, its key in `/health`.
    pub name: String,
    /// The chain it is on (a [`ChainConfig::name`]).
    pub chain: String,
    /// The contract: a `ManualPriceOracle`, or the contract `generic` describes.
    pub oracle_address: Address,
    /// The feeds it stores: a `ManualPriceOracle`'s two, in the contract's order (default
    /// ETH/USD, ELIZAOS/USD); a generic contract's, from its `inputs`.
    pub feeds: Vec<FeedId>,
    /// A contract of another shape (`update`, `inputs`, `getter`, `outputs`, `decimals`):
    /// `oracle_core::evm::GenericTarget`. `None`: a `ManualPriceOracle`.
    pub generic: Option<GenericTarget>,
    /// Its updater key: its own, else its chain's, else the bot's (`PRICE_UPDATER_*`).
    pub updater_key: UpdaterKey,
    /// Its policy overrides.
    pub overrides: PolicyOverrides,
    /// Its policy: the bot's with the overrides.
    pub policy: Policy,
}

/// The chains and targets of the configuration file.
#[derive(Debug, Clone)]
pub struct TargetsConfig {
    /// The chains, in the file's order.
    pub chains: Vec<ChainConfig>,
    /// The targets, in the file's order.
    pub targets: Vec<TargetConfig>,
    /// Targets above the fair share a bot may lead (`FLEET_SLACK`, default
    /// [`DEFAULT_FLEET_SLACK`]).
    pub fleet_slack: usize,
}

impl TargetsConfig {
    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// Reads and validates the file's arrays. `default_key` is the bot's own key (the
    /// `PRICE_UPDATER_*` settings), when set; `policy` the bot's policy.
    pub(crate) fn read(
        tables: &FleetTables,
        default_key: Option<&UpdaterKey>,
        policy: &Policy,
        fleet_slack: usize,
    ) -> Result<Self, ConfigError> {
        let path = tables.path.as_path();
        let file = |reason: String| ConfigError::File { path: path.to_owned(), reason };
        if tables.targets.is_empty() {
            return Err(file(
                "[[chains]] without any [[targets]]: add the oracles to update, or remove [[chains]]".into(),
            ));
        }
        if tables.chains.is_empty() {
            return Err(file(
                "[[targets]] without any [[chains]]: every target names the chain it is on".into(),
            ));
        }
        let mut chains: Vec<(ChainConfig, Option<UpdaterKey>)> = Vec::new();
        for (i, value) in tables.chains.iter().enumerate() {
            let entry = Entry::new(path, "chains", i, value, CHAIN_KEYS)?;
            let name = entry.name()?;
            if chains.iter().any(|(c, _)| c.name == name) {
                return Err(
                    entry.error("name", format!("a second chain named {name:?}: names must be unique"))
                );
            }
            let rpc_urls = entry.urls("rpc_urls")?;
            let chain_id = entry.number("chain_id")?;
            let key = entry.key()?;
            chains.push((ChainConfig { name, rpc_urls, chain_id }, key));
        }
        let mut targets: Vec<TargetConfig> = Vec::new();
        for (i, value) in tables.targets.iter().enumerate() {
            let entry = Entry::new(path, "targets", i, value, TARGET_KEYS)?;
            let name = entry.name()?;
            if targets.iter().any(|t| t.name == name) {
                return Err(
                    entry.error("name", format!("a second target named {name:?}: names must be unique"))
                );
            }
            let chain = entry.required("chain", "the name of one of the [[chains]]")?;
            let Some((_, chain_key)) = chains.iter().find(|(c, _)| c.name == chain) else {
                let known: Vec<&str> = chains.iter().map(|(c, _)| c.name.as_str()).collect();
                return Err(entry.error(
                    "chain",
                    format!("no chain named {} (the chains: {})", quoted(&chain), known.join(", ")),
                ));
            };
            let text = entry.required("oracle_address", "the ManualPriceOracle's 0x-prefixed address")?;
            let oracle_address = text.parse::<Address>().map_err(|_| {
                entry.error(
                    "oracle_address",
                    format!("expected a 0x-prefixed 20-byte hex address, got {}", quoted(&text)),
                )
            })?;
            if let Some(other) =
                targets.iter().find(|t| t.chain == chain && t.oracle_address == oracle_address)
            {
                return Err(entry.error(
                    "oracle_address",
                    format!(
                        "target {:?} updates the same oracle on the same chain: one target per contract",
                        other.name
                    ),
                ));
            }
            let generic = entry.generic()?;
            let feeds = match &generic {
                Some(g) if entry.table.contains_key("feeds") => {
                    return Err(entry.error(
                        "feeds",
                        format!(
                            "a generic target's feeds are its inputs' ({}): remove feeds",
                            names(&g.feeds())
                        ),
                    ));
                }
                Some(g) => g.feeds(),
                None => entry.feeds()?.to_vec(),
            };
            let updater_key = match (entry.key()?, chain_key, default_key) {
                (Some(own), _, _) => own,
                (None, Some(chain), _) => chain.clone(),
                (None, None, Some(bot)) => bot.clone(),
                (None, None, None) => {
                    return Err(entry.error(
                        "private_key_file",
                        format!("no updater key: set private_key_file (or keystore) here or on chain {chain:?}, or the bot's PRICE_UPDATER_PRIVATE_KEY"),
                    ));
                }
            };
            let overrides = entry.overrides()?;
            let policy = overrides.apply(policy).map_err(|e| entry.error("policy", e.to_string()))?;
            targets.push(TargetConfig {
                name,
                chain,
                oracle_address,
                feeds,
                generic,
                updater_key,
                overrides,
                policy,
            });
        }
        if let Some((unused, _)) = chains.iter().find(|(c, _)| !targets.iter().any(|t| t.chain == c.name)) {
            return Err(file(format!("chain {:?} has no target: remove it or add its targets", unused.name)));
        }
        Ok(Self { chains: chains.into_iter().map(|(c, _)| c).collect(), targets, fleet_slack })
    }

    /// The first target's oracle, its chain's endpoints and id, and its key: what the
    /// single-target fields of [`BotConfig`](crate::BotConfig) hold with targets.
    pub(crate) fn first(&self) -> Result<(Address, Vec<RpcUrl>, Option<u64>, UpdaterKey), ConfigError> {
        let first = self.targets.first().and_then(|t| Some((t, self.chain(&t.chain)?)));
        let (target, chain) = first.ok_or_else(|| ConfigError::Invalid {
            var: "[[targets]]",
            reason: "no target on a configured chain".into(),
        })?;
        Ok((target.oracle_address, chain.rpc_urls.clone(), chain.chain_id, target.updater_key.clone()))
    }

    /// One line per chain and target, for `--check-config` and the start-up log: names,
    /// addresses and endpoints without credentials; never a key.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.chains {
            // `RpcUrl` displays without its secret parts (path, query, user info).
            let urls: Vec<String> = c.rpc_urls.iter().map(ToString::to_string).collect();
            let id = c.chain_id.map_or_else(|| "not pinned".to_owned(), |id| id.to_string());
            lines.push(format!("chain {}: chain id {id}, endpoints {}", c.name, urls.join(", ")));
        }
        for t in &self.targets {
            let overrides = if t.overrides.is_empty() { "" } else { ", policy overridden" };
            let kind =
                t.generic.as_ref().map(|g| format!(" (generic: {})", g.function_name())).unwrap_or_default();
            lines.push(format!(
                "target {}: {}{kind} on {}, feeds {}, updater {}{overrides}",
                t.name,
                t.oracle_address,
                t.chain,
                names(&t.feeds),
                t.updater_key.signer().address()
            ));
        }
        lines
    }
}

/// With [[targets]], the old single target's own settings must be unset: two ways of naming the
/// oracles would leave an operator guessing which one the bot updates.
pub(crate) fn single_target_unset(layers: &Layers, fleet: &FleetTables) -> Result<(), ConfigError> {
    for var in ["ORACLE_ADDRESS", "JEJU_RPC_URLS", "JEJU_RPC_URL", "JEJU_CHAIN_ID"] {
        let set = layers.get(var).is_some_and(|v| !v.trim().is_empty());
        // A tool's inert stand-in (`Layers::set_default`) is not the operator's setting.
        if set && layers.origin(var) != Origin::Default {
            return Err(ConfigError::Invalid {
                var,
                reason: format!(
                    "is set ({}), but {} has [[targets]], which replace the single target: describe this oracle or chain as a [[targets]] or [[chains]] entry and unset it",
                    layers.origin(var),
                    fleet.path.display()
                ),
            });
        }
    }
    Ok(())
}

const CHAIN_KEYS: &[&str] =
    &["name", "rpc_urls", "chain_id", "private_key_file", "keystore", "keystore_password_file"];
const TARGET_KEYS: &[&str] = &[
    "name",
    "chain",
    "oracle_address",
    "feeds",
    "private_key_file",
    "keystore",
    "keystore_password_file",
    "deviation_threshold_pct",
    "heartbeat_s",
    "min_update_interval_s",
    "update",
    "inputs",
    "getter",
    "outputs",
    "decimals",
];

/// The keys that describe a generic target; `update` makes a target generic.
const GENERIC_KEYS: &[&str] = &["update", "inputs", "getter", "outputs", "decimals"];

/// Feed names joined for a message.
fn names(feeds: &[FeedId]) -> String {
    feeds.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// One table of an array, with what its errors say about where it is.
struct Entry<'a> {
    path: &'a Path,
    /// `targets[2]`, then `targets[2] ("name")` once the name is known.
    at: String,
    table: &'a toml::Table,
}

impl<'a> Entry<'a> {
    fn new(
        path: &'a Path,
        array: &str,
        index: usize,
        value: &'a toml::Value,
        known: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut at = format!("{array}[{index}]");
        let toml::Value::Table(table) = value else {
            return Err(ConfigError::File {
                path: path.to_owned(),
                reason: format!("{at} must be a table ([[{array}]])"),
            });
        };
        if let Some(toml::Value::String(name)) = table.get("name") {
            at = format!("{at} ({})", quoted(name));
        }
        let entry = Self { path, at, table };
        for key in table.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let reason = if matches!(key.as_str(), "private_key" | "keystore_password") {
                format!(
                    "is a secret and does not go in the configuration file: set {key}_file to a file only the bot's user can read"
                )
            } else {
                let near =
                    known.iter().min_by_key(|k| edit_distance(key, k)).filter(|k| edit_distance(key, k) <= 4);
                format!(
                    "is not a key of [[{array}]]{}",
                    near.map(|n| format!("; did you mean {n}?")).unwrap_or_default()
                )
            };
            return Err(entry.error(key, reason));
        }
        Ok(entry)
    }

    fn error(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::File { path: self.path.to_owned(), reason: format!("{} {key}: {reason}", self.at) }
    }

    /// A key's value as text (lists joined with commas), `None` when absent.
    fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.table
            .get(key)
            .map(|v| {
                scalar(v).ok_or_else(|| self.error(key, "must be a string, number or a list of them".into()))
            })
            .transpose()
            .map(|t| t.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
    }

    fn required(&self, key: &str, what: &str) -> Result<String, ConfigError> {
        self.text(key)?.ok_or_else(|| self.error(key, format!("is required: {what}")))
    }

    fn name(&self) -> Result<String, ConfigError> {
        let name = self.required("name", "letters, digits, '-', '_' or '.'")?;
        let valid = name.len() <= MAX_NAME_LEN
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !valid {
            return Err(self.error(
                "name",
                format!(
                    "expected at most {MAX_NAME_LEN} letters, digits, '-', '_' or '.' (not first), got {}",
                    quoted(&name)
                ),
            ));
        }
        Ok(name)
    }

    fn number(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.text(key)?
            .map(|t| {
                t.parse().map_err(|_| self.error(key, format!("expected a whole number, got {}", quoted(&t))))
            })
            .transpose()
    }

    fn urls(&self, key: &str) -> Result<Vec<RpcUrl>, ConfigError> {
        let text = self.required(key, "the chain's http(s) endpoints, in preference order")?;
        text.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .enumerate()
            .map(|(i, u)| RpcUrl::parse(u).map_err(|e| self.error(key, format!("URL #{i}: {e}"))))
            .collect()
    }

    /// The key named by `private_key_file`, or `keystore` with `keystore_password_file`.
    fn key(&self) -> Result<Option<UpdaterKey>, ConfigError> {
        let file = self.text("private_key_file")?;
        let keystore = self.text("keystore")?;
        let password = self.text("keystore_password_file")?;
        let (key, source) = match (file, keystore, password) {
            (None, None, None) => return Ok(None),
            (Some(_), Some(_), _) => {
                return Err(
                    self.error("keystore", "set either private_key_file or keystore, not both".into())
                );
            }
            (Some(path), None, None) => ("private_key_file", KeySource::File(path.into())),
            (Some(_) | None, None, Some(_)) => {
                return Err(self.error(
                    "keystore_password_file",
                    "is the password of a keystore: set keystore too".into(),
                ));
            }
            (None, Some(_), None) => {
                return Err(self.error(
                    "keystore_password_file",
                    "is required with keystore: an owner-only file holding its password".into(),
                ));
            }
            (None, Some(path), Some(password)) => (
                "keystore",
                KeySource::Keystore { path: path.into(), password: PasswordSource::File(password.into()) },
            ),
        };
        // The loader's errors name the file and the problem, never the key or the password.
        load_signer(&source).map(|s| Some(UpdaterKey::new(s))).map_err(|e| self.error(key, e.to_string()))
    }

    fn feeds(&self) -> Result<[FeedId; 2], ConfigError> {
        let Some(value) = self.table.get("feeds") else {
            return Ok([FeedId::ETH_USD, FeedId::ELIZAOS_USD]);
        };
        let names: Option<Vec<&str>> = match value {
            toml::Value::Array(items) => items.iter().map(toml::Value::as_str).collect(),
            _ => None,
        };
        match names.as_deref() {
            Some([a, b]) if !a.trim().is_empty() && !b.trim().is_empty() && a != b => {
                Ok([FeedId::new(a.trim()), FeedId::new(b.trim())])
            }
            _ => Err(self.error(
                "feeds",
                "expected the two distinct feeds the contract stores, in its order, e.g. [\"ETH/USD\", \"ELIZAOS/USD\"]".into(),
            )),
        }
    }

    /// A list of strings, `None` when absent.
    fn strings(&self, key: &str, what: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(value) = self.table.get(key) else { return Ok(None) };
        let items: Option<Vec<String>> = match value {
            toml::Value::Array(items) => {
                items.iter().map(|i| i.as_str().map(|s| s.trim().to_owned())).collect()
            }
            _ => None,
        };
        items.map(Some).ok_or_else(|| self.error(key, format!("expected a list of strings: {what}")))
    }

    /// The generic contract's description, when `update` is set (every other generic key then
    /// required but `decimals`); an error when a generic key comes without `update`.
    fn generic(&self) -> Result<Option<GenericTarget>, ConfigError> {
        let Some(update) = self.text("update")? else {
            if let Some(key) = GENERIC_KEYS.iter().find(|k| self.table.contains_key(**k)) {
                return Err(self.error(
                    key,
                    "describes a generic target, which needs update (the function's signature); without it the target is a ManualPriceOracle".into(),
                ));
            }
            return Ok(None);
        };
        const INPUTS: &str =
            "one per argument of update: \"price:<feed>\", \"timestamp\", \"round\" or \"fencing_token\"";
        const OUTPUTS: &str =
            "one per output of getter: \"price:<feed>\", \"updated_at\", \"round\" or \"ignore\"";
        let inputs = self
            .strings("inputs", INPUTS)?
            .ok_or_else(|| self.error("inputs", format!("is required with update: {INPUTS}")))?
            .iter()
            .map(|role| match (role.as_str(), role.strip_prefix("price:").map(str::trim)) {
                (_, Some(feed)) if !feed.is_empty() => Ok(Input::Price(FeedId::new(feed))),
                ("timestamp", _) => Ok(Input::Timestamp),
                ("round", _) => Ok(Input::Round),
                ("fencing_token", _) => Ok(Input::FencingToken),
                _ => Err(self.error("inputs", format!("{} is not a role: {INPUTS}", quoted(role)))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let getter = self.required("getter", "the view function's signature, with its outputs")?;
        let outputs = self
            .strings("outputs", OUTPUTS)?
            .ok_or_else(|| self.error("outputs", format!("is required with update: {OUTPUTS}")))?
            .iter()
            .map(|role| match (role.as_str(), role.strip_prefix("price:").map(str::trim)) {
                (_, Some(feed)) if !feed.is_empty() => Ok(Output::Price(FeedId::new(feed))),
                ("updated_at", _) => Ok(Output::UpdatedAt),
                ("round", _) => Ok(Output::Round),
                ("ignore", _) => Ok(Output::Ignore),
                _ => Err(self.error("outputs", format!("{} is not a role: {OUTPUTS}", quoted(role)))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder =
            GenericTarget::builder().update(update).inputs(inputs).getter(getter).outputs(outputs);
        if let Some(decimals) = self.number("decimals")? {
            let decimals = u8::try_from(decimals)
                .map_err(|_| self.error("decimals", format!("{decimals} is more than 255")))?;
            builder = builder.decimals(decimals);
        }
        builder.build().map(Some).map_err(|e| self.error("update", e.to_string()))
    }

    fn overrides(&self) -> Result<PolicyOverrides, ConfigError> {
        let deviation_threshold_bps = self
            .text("deviation_threshold_pct")?
            .map(|t| {
                Price::parse(&t, 2).ok().and_then(|p| u64::try_from(p.mantissa()).ok()).ok_or_else(|| {
                    self.error(
                        "deviation_threshold_pct",
                        format!(
                            "expected a percentage with at most 2 decimals, e.g. 0.5, got {}",
                            quoted(&t)
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(PolicyOverrides {
            deviation_threshold_bps,
            heartbeat: self.number("heartbeat_s")?.map(Duration::from_secs),
            min_interval: self.number("min_update_interval_s")?.map(Duration::from_secs),
        })
    }
}

#[cfg(test)]
#[path = "targets_tests.rs"]
mod tests;
