//! Turning alloy's errors into the typed [`SubmitError`]s the engine acts on.

use alloy::{
    contract::Error as ContractError,
    transports::{RpcError, TransportError},
};

// The fenced oracle's errors are a superset of the plain one's: one decoder serves both.
use super::{bindings::FencedPriceOracle::FencedPriceOracleErrors as OracleErrors, rpc::redact_urls};
use crate::{Rejection, SubmitError};

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
        other => SubmitError::InvalidResponse { reason: redact_urls(&other.to_string()) },
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
            SubmitError::from_node_message(&message)
        }
        RpcError::DeserError { err, .. } => {
            SubmitError::InvalidResponse { reason: format!("the node's answer could not be decoded: {err}") }
        }
        RpcError::NullResp => SubmitError::InvalidResponse { reason: "the node returned null".into() },
        other => SubmitError::Unreachable { reason: redact_urls(&other.to_string()) },
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
