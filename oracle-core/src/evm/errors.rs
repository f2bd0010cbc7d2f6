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
