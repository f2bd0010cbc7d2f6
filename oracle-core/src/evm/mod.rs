//! EVM targets on alloy: the [`ManualOracleSubmitter`] for Jeju's `ManualPriceOracle`, RPC
//! connections that never print their keys, and key parsing that never echoes the key.
//!
//! ```no_run
//! use oracle_core::evm::{ManualOracleSubmitter, RpcUrl, connect, parse_private_key};
//! # async fn demo() -> Result<(), oracle_core::evm::EvmError> {
//! let provider = connect(&RpcUrl::parse("http://127.0.0.1:8545")?, std::time::Duration::from_secs(10))?;
//! let submitter = ManualOracleSubmitter::builder()
//!     .provider(provider)
//!     .oracle("0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap())
//!     .signer(parse_private_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")?)
//!     .connect()
//!     .await?;
//! # Ok(()) }
//! ```

pub mod bindings;
mod errors;
mod generic;
mod journal;
pub mod keys;
mod lane;
mod rpc;
mod submitter;
mod tx;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};

/// Classifies a transport error from a node (a refused transaction, a revert, garbage, an
/// unreachable endpoint) into the [`SubmitError`](crate::SubmitError) the engine acts on.
pub fn classify_transport_error(err: &alloy::transports::TransportError) -> crate::SubmitError {
    errors::from_transport(err)
}

pub use self::{
    generic::{DEFAULT_GENERIC_DECIMALS, GenericTarget, GenericTargetBuilder, Input, Output},
    journal::JournalError,
    lane::{DEFAULT_LANE_WAIT, NonceLane},
    rpc::{
        DEFAULT_COALESCE_WINDOW, DEFAULT_MAX_BATCH, EndpointStats, FailoverConfig, FailoverTransport,
        MAX_ANSWER_BYTES, NotJsonRpc, RpcUrl, connect, connect_failover, describe_metrics,
    },
    submitter::{ManualOracleSubmitter, ManualOracleSubmitterBuilder, ORACLE_DECIMALS},
};

/// Why an EVM target could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// An RPC URL does not parse (the URL itself is never repeated: it may hold a key).
    #[error("not a valid RPC URL ({0})")]
    RpcUrlSyntax(url::ParseError),
    /// An RPC URL has a scheme other than `http`/`https`.
    #[error("RPC URL scheme {scheme:?} is not supported: use http:// or https://")]
    RpcUrlScheme {
        /// The scheme found.
        scheme: String,
    },
    /// An RPC URL has no host.
    #[error("RPC URL has no host")]
    RpcUrlNoHost,
    /// A failover transport was given no endpoint.
    #[error("{chain}: no RPC endpoint given")]
    NoEndpoint {
        /// The chain.
        chain: String,
    },
    /// The HTTP client could not be built (its TLS backend failed to load).
    #[error("cannot build the HTTP client: {reason}")]
    HttpClient {
        /// Why.
        reason: String,
    },
    /// A private key is not 64 hex digits (the key itself is never repeated).
    #[error(
        "not a private key: expected 64 hex digits (32 bytes, optional 0x prefix), got {chars} characters"
    )]
    KeyFormat {
        /// How many characters were given (after `0x`).
        chars: usize,
    },
    /// A private key is zero or above the secp256k1 curve order.
    #[error("not a valid secp256k1 private key (zero or above the curve order)")]
    KeyOutOfRange,
    /// The submitter builder was not given a provider.
    #[error("the submitter needs a provider")]
    MissingProvider,
    /// The submitter builder was not given the oracle's address.
    #[error("the submitter needs the oracle address")]
    MissingOracleAddress,
    /// The submitter builder was not given a signer.
    #[error("the submitter needs a signer")]
    MissingSigner,
    /// The gas price multiplier is below 1.0 (it would bid under the network's price).
    #[error("the gas price multiplier must be at least 1.0, got {}.{:03}", permille / 1000, permille % 1000)]
    FeeMultiplierBelowOne {
        /// The multiplier in thousandths.
        permille: u64,
    },
    /// A generic target's description does not hold together (a signature that does not parse,
    /// roles that do not match the arguments or their types, a price written but not read back).
    #[error("generic target: {reason}")]
    GenericTarget {
        /// What is wrong, naming the argument, output or signature.
        reason: String,
    },
    /// The chain's RPC endpoint did not answer.
    #[error("cannot reach the {chain} RPC endpoint: {reason}")]
    Unreachable {
        /// The chain.
        chain: String,
        /// What went wrong (URLs redacted).
        reason: String,
    },
    /// Nothing is deployed at the address.
    #[error("no contract is deployed at {address} on {chain} (chain id {chain_id}): check the address")]
    NoContract {
        /// The chain.
        chain: String,
        /// Its chain id.
        chain_id: u64,
        /// The address.
        address: Address,
    },
    /// The code at the address is not the expected contract.
    #[error("the contract at {address} does not behave like a ManualPriceOracle: {reason}")]
    NotAnOracle {
        /// The address.
        address: Address,
        /// Which call failed and how.
        reason: String,
    },
}

/// Parses a secp256k1 private key given as 64 hex digits (optionally `0x`-prefixed).
///
/// The error says what was expected and never repeats the input.
pub fn parse_private_key(text: &str) -> Result<PrivateKeySigner, EvmError> {
    let hex = text.trim();
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EvmError::KeyFormat { chars: hex.len() });
    }
    hex.parse::<PrivateKeySigner>().map_err(|_| EvmError::KeyOutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_are_named_without_echo() {
        for bad in ["", "0x1234", "zz".repeat(32).as_str(), &"0".repeat(64), &"f".repeat(64)] {
            let err = parse_private_key(bad).unwrap_err().to_string();
            assert!(err.contains("private key"), "{err}");
            if bad.len() > 8 {
                assert!(!err.contains(bad), "the error must not echo the key: {err}");
            }
        }
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let signer = parse_private_key(key).unwrap();
        assert_eq!(signer.address().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert!(!format!("{signer:?}").contains("ac0974bec39a17e3"), "Debug must not show the key");
    }
}
