//! The bot's configuration, read the bot's way ([`oracle_bot::BotConfig`]), for the parts a
//! command uses.
//!
//! The bot requires settings some commands do not need (its updater key, the Base endpoints,
//! a price source). A command that does not use one may run without it: the CLI then hands the
//! bot's reader an inert stand-in, and never uses that field (`Settings` says which are real).

use std::collections::HashMap;

use alloy::providers::DynProvider;
use oracle_bot::{BotConfig, settings::Layers};
use oracle_core::evm::{FailoverConfig, connect_failover};

use crate::CliError;

/// A valid key nobody uses (the private key 1): stands in for `PRICE_UPDATER_PRIVATE_KEY` when it
/// is not set and the command does not read it.
const INERT_KEY: &str = "0x0000000000000000000000000000000000000000000000000000000000000001";
/// Stands in for the Base endpoints of a command that does not read prices.
const INERT_URL: &str = "http://127.0.0.1:9";

/// What a command needs from the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Needs {
    /// The Base endpoints and a price source.
    pub(crate) sources: bool,
    /// Whether the command runs without `ORACLE_ADDRESS` (a deployment).
    pub(crate) oracle_optional: bool,
}

/// The bot's configuration and which of its parts are real.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The configuration.
    pub(crate) bot: BotConfig,
    /// Whether `PRICE_UPDATER_PRIVATE_KEY` was set (else `bot.updater_key` is a stand-in).
    pub(crate) has_updater_key: bool,
}

impl Settings {
    /// Reads the process environment.
    pub(crate) fn load(needs: Needs) -> Result<Self, CliError> {
        Self::from_vars(std::env::vars().collect(), needs)
    }

    /// Reads `vars` as the bot would: with the bot's configuration file when `ORACLE_CONFIG`
    /// names one (defaults < file < environment).
    pub(crate) fn from_vars(vars: HashMap<String, String>, needs: Needs) -> Result<Self, CliError> {
        let file = vars
            .get("ORACLE_CONFIG")
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from);
        let mut layers = Layers::read(file.as_deref(), &vars, &[])?;
        let set = |layers: &Layers, k: &str| layers.get(k).is_some_and(|v| !v.trim().is_empty());
        let has_updater_key =
            set(&layers, "PRICE_UPDATER_PRIVATE_KEY") || set(&layers, "PRICE_UPDATER_KEYSTORE");
        if !has_updater_key {
            layers.set_default("PRICE_UPDATER_PRIVATE_KEY", INERT_KEY);
        }
        if !needs.sources {
            if !set(&layers, "BASE_RPC_URLS") && !set(&layers, "BASE_RPC_URL") {
                layers.set_default("BASE_RPC_URLS", INERT_URL);
            }
            if layers.inline_feeds().is_none()
                && !set(&layers, "FEEDS_CONFIG")
                && !set(&layers, "ELIZAOS_TOKEN_BASE")
                && !set(&layers, "ELIZAOS_FIXED_PRICE_USD")
            {
                layers.set_default("ELIZAOS_FIXED_PRICE_USD", "1");
            }
        }
        if needs.oracle_optional && !set(&layers, "ORACLE_ADDRESS") {
            layers.set_default("ORACLE_ADDRESS", &alloy::primitives::Address::ZERO.to_string());
        }
        let bot = BotConfig::from_layers(&layers)?;
        Ok(Self { bot, has_updater_key })
    }

    /// A provider over the Jeju endpoints, failing over like the bot's.
    pub(crate) fn jeju(&self) -> Result<DynProvider, CliError> {
        self.provider("Jeju", &self.bot.jeju_rpc_urls)
    }

    /// A provider over the Base endpoints.
    pub(crate) fn base(&self) -> Result<DynProvider, CliError> {
        self.provider("Base", &self.bot.base_rpc_urls)
    }

    fn provider(&self, chain: &str, urls: &[oracle_core::evm::RpcUrl]) -> Result<DynProvider, CliError> {
        let config = FailoverConfig {
            request_timeout: self.bot.rpc_timeout,
            total_timeout: self.bot.rpc_total_timeout,
            max_lag_blocks: self.bot.rpc_max_lag_blocks,
            probe_interval: self.bot.rpc_probe_interval,
            ..FailoverConfig::new(chain)
        };
        let (provider, _) = connect_failover(urls, config)
            .map_err(|e| CliError::rpc(format!("cannot set up the {chain} endpoints"), e))?;
        Ok(provider)
    }

    /// The election backend, when the bots elect a leader.
    pub(crate) fn election(&self) -> Result<&oracle_bot::ElectionSettings, CliError> {
        self.bot.election.as_ref().ok_or_else(|| {
            CliError::Usage(
                "leader election is off (LEADER_ELECTION_ENABLED is not true): there is no leader to show or move; \
                 set the bots' LEADER_ELECTION_* variables in this shell too"
                    .into(),
            )
        })
    }

    /// The bots' base URLs: the `--bot` flags, else `ORACLE_BOT_URLS`.
    pub(crate) fn bot_urls(flags: &[String]) -> Vec<String> {
        if !flags.is_empty() {
            return flags.iter().map(|u| u.trim_end_matches('/').to_owned()).collect();
        }
        std::env::var("ORACLE_BOT_URLS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_without_sources_need_only_the_target() {
        let vars: HashMap<String, String> = [
            ("JEJU_RPC_URL", "http://127.0.0.1:8545"),
            ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::from_vars(vars.clone(), Needs::default()).unwrap();
        assert!(!s.has_updater_key);
        let err =
            Settings::from_vars(vars, Needs { sources: true, ..Needs::default() }).unwrap_err().to_string();
        assert!(err.contains("is required"), "{err}");
    }
}
