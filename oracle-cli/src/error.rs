//! The CLI's one error type and its exit codes.

use std::path::PathBuf;

/// The process exit codes (documented in `docs/cli.md`).
pub mod exit {
    /// Done.
    pub const OK: i32 = 0;
    /// Something failed (an RPC endpoint, a server, a transaction that reverted once mined):
    /// retrying may help.
    pub const FAILURE: i32 = 1;
    /// The command line or the configuration is wrong: fix it and run again.
    pub const USAGE: i32 = 2;
    /// A safety check refused the action (not the owner, out of bounds, fee above the cap, the
    /// contract has no such function, the simulation reverted): nothing was sent.
    pub const REFUSED: i32 = 3;
    /// The operator answered "no" at the confirmation prompt: nothing was sent.
    pub const DECLINED: i32 = 4;
}

/// Why a command did not do what was asked. Every message ends with what to do next, and none
/// contains a key or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The configuration (the bot's environment variables) is wrong.
    #[error("configuration: {0}; fix the variable (docs/configuration.md) and run again")]
    Config(#[from] oracle_bot::ConfigError),
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The signing key could not be loaded.
    #[error("{0}")]
    Key(#[from] oracle_core::evm::keys::KeyError),
    /// A key was given on the command line without `--allow-key-argument`.
    #[error(
        "a private key on the command line ends up in the shell history and in `ps`: use ORACLE_CLI_PRIVATE_KEY, --key-file or --keystore (or add --allow-key-argument if you really must)"
    )]
    KeyOnCommandLine,
    /// No key source was given for a command that signs.
    #[error(
        "this command signs a transaction: give the owner's key with --keystore FILE (password from --password-file or a prompt), --key-file FILE (mode 600) or ORACLE_CLI_PRIVATE_KEY"
    )]
    NoKey,
    /// The signer is not the account the action needs.
    #[error(
        "{signer} is not the oracle's owner ({owner}): only the owner may {action}; load the owner's key (see `oracle-cli status` for the owner)"
    )]
    NotOwner {
        /// The loaded signer.
        signer: alloy::primitives::Address,
        /// The oracle's owner.
        owner: alloy::primitives::Address,
        /// What was attempted.
        action: &'static str,
    },
    /// A price is outside the contract's bounds.
    #[error(
        "{feed} {price} is outside the oracle's bounds [{min}, {max}]: nothing was sent; check the price (8 decimals, in dollars)"
    )]
    OutOfBounds {
        /// The feed.
        feed: &'static str,
        /// The price asked.
        price: String,
        /// The lowest accepted.
        min: String,
        /// The highest accepted.
        max: String,
    },
    /// The simulation reverted.
    #[error("the simulation of {action} reverted: {reason}; nothing was sent")]
    SimulationReverted {
        /// What was simulated.
        action: String,
        /// The decoded reason.
        reason: String,
    },
    /// The network asks more than the fee cap.
    #[error(
        "the network asks {asked_gwei} gwei/gas, above the cap of {cap_gwei} gwei/gas: nothing was sent; wait, or raise the cap with --max-fee-gwei"
    )]
    FeeAboveCap {
        /// What the network asks.
        asked_gwei: String,
        /// The cap.
        cap_gwei: String,
    },
    /// The contract has no such function.
    #[error("{0}")]
    Unsupported(String),
    /// Another safety rule refused the action.
    #[error("{0}")]
    Refused(String),
    /// The operator did not confirm.
    #[error("not confirmed: nothing was sent")]
    Declined,
    /// A chain could not be reached or answered garbage.
    #[error("{what}: {reason}; check the RPC endpoint (JEJU_RPC_URLS / BASE_RPC_URLS) and try again")]
    Rpc {
        /// What was being done.
        what: String,
        /// Why it failed (URLs redacted).
        reason: String,
    },
    /// A sent transaction failed or was not mined.
    #[error("{0}")]
    Transaction(String),
    /// The election backend failed.
    #[error("leader election backend: {0}; check LEADER_ELECTION_BACKEND and its server, then try again")]
    Election(#[from] oracle_election::ElectionError),
    /// A price source failed.
    #[error("{0}")]
    Sources(String),
    /// A file could not be read or written.
    #[error("cannot use {path}: {reason}; check the path and permissions", path = path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Something else did not happen as expected; the message says what to check.
    #[error("{0}")]
    Failed(String),
    /// The drill did not observe a failover.
    #[error("{0}")]
    Drill(String),
}

impl CliError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) | Self::Usage(_) | Self::KeyOnCommandLine | Self::NoKey | Self::Key(_) => {
                exit::USAGE
            }
            Self::NotOwner { .. }
            | Self::OutOfBounds { .. }
            | Self::SimulationReverted { .. }
            | Self::FeeAboveCap { .. }
            | Self::Unsupported(_)
            | Self::Refused(_) => exit::REFUSED,
            Self::Declined => exit::DECLINED,
            Self::Rpc { .. }
            | Self::Transaction(_)
            | Self::Election(_)
            | Self::Sources(_)
            | Self::File { .. }
            | Self::Failed(_)
            | Self::Drill(_) => exit::FAILURE,
        }
    }

    /// A short stable name for `--json` output.
    pub fn kind(&self) -> &'static str {
        match exit_kind(self.exit_code()) {
            Some(k) => k,
            None => "failure",
        }
    }

    pub(crate) fn rpc(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Rpc { what: what.into(), reason: oracle_core::secret::redact_urls(&reason.to_string()) }
    }
}

fn exit_kind(code: i32) -> Option<&'static str> {
    match code {
        exit::USAGE => Some("usage"),
        exit::REFUSED => Some("refused"),
        exit::DECLINED => Some("declined"),
        exit::FAILURE => Some("failure"),
        _ => None,
    }
}
