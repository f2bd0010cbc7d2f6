//! Turning alloy's errors into the typed [`SubmitError`]s the engine acts on.

use alloy::{
    contract::Error as ContractError,
    transports::{RpcError, TransportError},
};

// The fenced oracle's errors are a superset of the plain one's: one decoder serves both.
use super::{
    bindings::FencedPriceOracle::FencedPriceOracleErrors as OracleErrors,
    rpc::{endpoint_refusal, one_line},
};
use crate::{Rejection, SubmitError, secret::redact_urls};

/// The most characters of a transport's message kept in an error: whatever a server or a
/// library puts into it, the error stays one line of readable length.
const MAX_REASON_CHARS: usize = 300;

/// A transport's message as an error reason: URLs redacted, on one line, bounded.
fn reason(text: &str) -> String {
    one_line(&redact_urls(text), MAX_REASON_CHARS)
}

/// Classifies a failed contract call or transaction.
pub(crate) fn from_contract(err: &ContractError) -> SubmitError {
    if let Some(decoded) = err.as_decoded_interface_error::<OracleErrors>() {
        return SubmitError::Rejected(rejection(decoded));
    }
    if let Some(data) = err.as_revert_data() {
        let reason =
            alloy::sol_types::decode_revert_reason(&data).unwrap_or_else(|| format!("revert data {data}"));
        return SubmitError::Rejected(Rejection::Reverted { reason });
    }
    match err {
        ContractError::TransportError(e) => from_transport(e),
        ContractError::ZeroData(function, _) => SubmitError::InvalidResponse {
            reason: format!(
                "{function}() returned no data: there is no contract with that function at the address"
            ),
        },
        other => SubmitError::InvalidResponse { reason: reason(&other.to_string()) },
    }
}

/// Classifies a transport-level failure: the node refused, answered garbage, or is unreachable.
pub(crate) fn from_transport(err: &TransportError) -> SubmitError {
    match err {
        RpcError::ErrorResp(payload) => {
            let message = payload.message.to_string();
            if let Some(data) = payload.as_revert_data()
                && let Ok(decoded) = <OracleErrors as alloy::sol_types::SolInterface>::abi_decode(&data)
            {
                return SubmitError::Rejected(rejection(decoded));
            }
            if message.contains("execution reverted") || message.contains("revert") {
                return SubmitError::Rejected(Rejection::Reverted { reason: message });
            }
            // Rate limited, not synced, method missing: the endpoint could not serve the request,
            // which says nothing about the request; like an unreachable node, it is retried.
            if let Some(refusal) = endpoint_refusal(payload) {
                return SubmitError::Unreachable {
                    reason: format!(
                        "the node could not serve the request ({refusal}): JSON-RPC error {}: \"{}\"",
                        payload.code,
                        reason(&message)
                    ),
                };
            }
            SubmitError::from_node_message(&message)
        }
        RpcError::DeserError { err, .. } => {
            SubmitError::InvalidResponse { reason: format!("the node's answer could not be decoded: {err}") }
        }
        RpcError::NullResp => SubmitError::InvalidResponse { reason: "the node returned null".into() },
        // Other transports than ours (alloy's `Http`) put the whole body of an HTTP error into it.
        RpcError::Transport(kind) => match kind.as_http_error() {
            Some(http) => SubmitError::Unreachable {
                reason: format!("HTTP {}: \"{}\"", http.status, one_line(&redact_urls(&http.body), 80)),
            },
            None => SubmitError::Unreachable { reason: reason(&kind.to_string()) },
        },
        other => SubmitError::Unreachable { reason: reason(&other.to_string()) },
    }
}

fn rejection(decoded: OracleErrors) -> Rejection {
    match decoded {
        OracleErrors::NotAuthorized(_) => Rejection::NotAuthorized,
        OracleErrors::PriceOutOfBounds(_) => Rejection::PriceOutOfBounds,
        OracleErrors::PriceDeviationTooLarge(_) => Rejection::PriceDeviationTooLarge,
        OracleErrors::InvalidAddress(_) => Rejection::InvalidAddress,
        OracleErrors::OwnableUnauthorizedAccount(e) => Rejection::OwnerOnly { account: e.account },
        OracleErrors::StaleFencingToken(e) => Rejection::StaleFencingToken {
            token: e.token.saturating_to(),
            highest: e.highest.saturating_to(),
        },
        OracleErrors::FencingTokenRequired(_) => Rejection::FencingTokenRequired,
        OracleErrors::OwnableInvalidOwner(e) => {
            Rejection::Reverted { reason: format!("OwnableInvalidOwner({})", e.owner) }
        }
    }
}

// Behind `evm`: the strings are what EVM nodes (geth, reth, anvil) answer. An inherent impl here
// keeps the name `SubmitError::from_node_message` for EVM targets without putting node-specific
// parsing in the chain-agnostic core.
impl SubmitError {
    /// Classifies a node's refusal of a transaction by its message, for the strings geth,
    /// reth, anvil and their derivatives return. Unknown messages become [`SubmitError::Refused`].
    pub fn from_node_message(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        let message = message.to_owned();
        if m.contains("nonce too low") || m.contains("nonce has already been used") || m.contains("oldnonce")
        {
            Self::NonceTooLow { message }
        } else if m.contains("replacement transaction underpriced")
            || m.contains("replacement underpriced")
            || m.contains("could not replace existing tx")
        {
            Self::ReplacementUnderpriced { message }
        } else if m.contains("already known")
            || m.contains("already imported")
            || m.contains("known transaction")
            || m.contains("alreadyknown")
        {
            Self::AlreadyKnown
        } else if m.contains("insufficient funds") {
            Self::InsufficientFunds { message }
        } else if m.contains("less than block base fee")
            || m.contains("fee cap less than block base fee")
            || m.contains("feecaptoolow")
            || m.contains("max fee per gas less than")
        {
            Self::FeeCapBelowBaseFee { message }
        } else {
            Self::Refused { reason: message }
        }
    }
}

#[cfg(test)]
mod node_message_tests {
    use crate::SubmitError;

    /// Refusal messages as nodes return them: anvil's (recorded from anvil 1.7.1) and geth's.
    #[test]
    fn node_messages_are_classified() {
        let cases: &[(&str, &str)] = &[
            ("nonce too low", "nonce"),
            ("nonce too low: next nonce 5, tx nonce 4", "nonce"),
            ("replacement transaction underpriced", "replacement"),
            ("already known", "known"),
            ("transaction already imported", "known"),
            (
                "insufficient funds for gas * price + value: balance 0, tx cost 38644000, overshot 38644000",
                "funds",
            ),
            ("Insufficient funds for gas * price + value", "funds"),
            (
                "max fee per gas less than block base fee: address 0xabc, maxFeePerGas: 1, baseFee: 7",
                "basefee",
            ),
            ("max fee per gas less than block base fee", "basefee"),
            ("intrinsic gas too low", "other"),
        ];
        for (message, kind) in cases {
            let got = SubmitError::from_node_message(message);
            let ok = matches!(
                (*kind, &got),
                ("nonce", SubmitError::NonceTooLow { .. })
                    | ("replacement", SubmitError::ReplacementUnderpriced { .. })
                    | ("known", SubmitError::AlreadyKnown)
                    | ("funds", SubmitError::InsufficientFunds { .. })
                    | ("basefee", SubmitError::FeeCapBelowBaseFee { .. })
                    | ("other", SubmitError::Refused { .. })
            );
            assert!(ok, "{message:?} classified as {got:?}");
        }
    }
}
