//! Judging a JSON-RPC answer before anyone reads it: is it an answer to *this* request, of the
//! shape the method returns, and consistent with what the endpoint said before?
//!
//! A provider's answer is outside input. One that parses as JSON-RPC can still be wrong for the
//! request: a batch answer with ids missing, duplicated or foreign, a `"result"` of the wrong type
//! for the method, a block number lower than one the endpoint already reported (the node went
//! backwards, or a proxy in front of it mixes up nodes), or a chain id that changed. Each of these
//! is the endpoint's failure, counted and failed over like a timeout, instead of surfacing later as
//! a decoding error nobody charges to the endpoint.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy::rpc::json_rpc::{Id, RequestPacket, ResponsePacket, SerializedRequest};
use serde_json::value::RawValue;

use super::http::one_line;

/// What the result of a method must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A hex quantity: `"0x"` and 1 to 64 hex digits.
    Quantity,
    /// Hex data: `"0x"` and an even number of hex digits.
    Data,
    /// A 32-byte hash.
    Hash,
    /// A JSON object, or `null` when the thing asked for does not exist (yet).
    ObjectOrNull,
    /// A JSON object.
    Object,
}

/// The result shape of the methods this project calls; `None` for the others (not checked).
fn shape_of(method: &str) -> Option<Shape> {
    Some(match method {
        "eth_blockNumber"
        | "eth_chainId"
        | "eth_gasPrice"
        | "eth_maxPriorityFeePerGas"
        | "eth_getBalance"
        | "eth_getTransactionCount"
        | "eth_estimateGas"
        | "eth_blobBaseFee" => Shape::Quantity,
        "eth_call" | "eth_getCode" | "eth_getStorageAt" => Shape::Data,
        "eth_sendRawTransaction" => Shape::Hash,
        "eth_getTransactionReceipt"
        | "eth_getBlockByNumber"
        | "eth_getBlockByHash"
        | "eth_getTransactionByHash" => Shape::ObjectOrNull,
        "eth_feeHistory" => Shape::Object,
        _ => return None,
    })
}

/// Methods whose JSON-RPC error can never be a real answer about the request (they cannot revert
/// and take no input a node could refuse): an error object is the endpoint's failure.
fn errors_are_failures(method: &str) -> bool {
    matches!(
        method,
        "eth_blockNumber" | "eth_chainId" | "eth_gasPrice" | "eth_maxPriorityFeePerGas" | "eth_feeHistory"
    )
}

fn is_hex_digits(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `raw` (a result's JSON text) has the shape `shape`.
fn has_shape(raw: &RawValue, shape: Shape) -> bool {
    let text = raw.get().trim();
    let string = || serde_json::from_str::<&str>(text).ok();
    match shape {
        Shape::Quantity => {
            string().and_then(|s| s.strip_prefix("0x")).is_some_and(|d| is_hex_digits(d) && d.len() <= 64)
        }
        Shape::Data => string()
            .and_then(|s| s.strip_prefix("0x"))
            .is_some_and(|d| d.len() % 2 == 0 && (d.is_empty() || is_hex_digits(d))),
        Shape::Hash => {
            string().and_then(|s| s.strip_prefix("0x")).is_some_and(|d| d.len() == 64 && is_hex_digits(d))
        }
        Shape::ObjectOrNull => text == "null" || text.starts_with('{'),
        Shape::Object => text.starts_with('{'),
    }
}

/// A hex quantity's value, when it fits 64 bits.
fn quantity(raw: &RawValue) -> Option<u64> {
    let text: &str = serde_json::from_str(raw.get()).ok()?;
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// What one endpoint said before, to judge its next answers by.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// The highest block number it answered (0: none yet).
    highest_block: AtomicU64,
}

impl Memory {
    /// The highest block number seen so far; taken before a request is sent, so that answers to
    /// concurrent requests arriving out of order are not mistaken for a node going backwards.
    pub(crate) fn mark(&self) -> u64 {
        self.highest_block.load(Ordering::Relaxed)
    }
}

/// The chain id every endpoint of a transport must answer: given, or the first one answered.
#[derive(Debug, Default)]
pub(crate) struct ChainPin {
    /// 0: not pinned yet.
    chain_id: AtomicU64,
}

impl ChainPin {
    /// A pin on `chain_id`, or one that takes the first answer.
    pub(crate) fn new(chain_id: Option<u64>) -> Self {
        Self { chain_id: AtomicU64::new(chain_id.unwrap_or(0)) }
    }

    fn check(&self, answered: u64) -> Result<(), String> {
        match self.chain_id.compare_exchange(0, answered, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => Ok(()),
            Err(pinned) if pinned == answered => Ok(()),
            Err(pinned) => Err(format!("answered chain id {answered}, but the chain is {pinned}")),
        }
    }
}

/// Checks `answer` against `request`; `mark` is [`Memory::mark`] from before sending. On success
/// the endpoint's memory is updated; the error says what is wrong, on one line.
pub(crate) fn check(
    request: &RequestPacket,
    answer: &ResponsePacket,
    memory: &Memory,
    mark: u64,
    chain: &ChainPin,
) -> Result<(), String> {
    let calls: Vec<&SerializedRequest> = match request {
        RequestPacket::Single(r) => vec![r],
        RequestPacket::Batch(b) => b.iter().collect(),
    };
    let responses: Vec<&alloy::rpc::json_rpc::Response> = match (request, answer) {
        (RequestPacket::Single(r), ResponsePacket::Single(a)) => {
            // A server that cannot read the request at all answers an error with a null id.
            if a.id != *r.id() && !(a.id == Id::None && a.payload.as_error().is_some()) {
                return Err(format!(
                    "answered id {} to a request with id {}",
                    show_id(&a.id),
                    show_id(r.id())
                ));
            }
            vec![a]
        }
        (RequestPacket::Batch(_), ResponsePacket::Batch(answers)) => {
            let mut wanted: HashMap<&Id, usize> = HashMap::new();
            for c in &calls {
                *wanted.entry(c.id()).or_default() += 1;
            }
            for a in answers {
                match wanted.get_mut(&a.id) {
                    Some(n) if *n > 0 => *n -= 1,
                    Some(_) => return Err(format!("answered id {} twice in a batch", show_id(&a.id))),
                    None => return Err(format!("answered id {} that the batch did not ask", show_id(&a.id))),
                }
            }
            if let Some((id, _)) = wanted.iter().find(|(_, n)| **n > 0) {
                return Err(format!("left id {} of the batch unanswered", show_id(id)));
            }
            answers.iter().collect()
        }
        (RequestPacket::Batch(b), ResponsePacket::Single(_)) => {
            return Err(format!("answered a batch of {} calls with a single response", b.len()));
        }
        (RequestPacket::Single(_), ResponsePacket::Batch(b)) => {
            return Err(format!("answered a single call with a batch of {}", b.len()));
        }
    };
    let mut highest = None;
    for response in responses {
        let Some(call) = calls.iter().find(|c| *c.id() == response.id).or(calls.first()) else { continue };
        let method = call.method();
        let raw = match response.payload.as_success() {
            Some(raw) => raw,
            None => {
                // Refusals (rate limits, ...) are judged by `endpoint_refusal` as before, and a
                // revert is a revert wherever it comes from.
                if errors_are_failures(method)
                    && let Some(e) = response.payload.as_error()
                    && super::http::endpoint_refusal(e).is_none()
                    && !(e.code == 3 || e.message.to_ascii_lowercase().contains("revert"))
                {
                    return Err(format!(
                        "answered {method} with JSON-RPC error {}: \"{}\"",
                        e.code,
                        one_line(&e.message, 80)
                    ));
                }
                continue;
            }
        };
        if let Some(shape) = shape_of(method)
            && !has_shape(raw, shape)
        {
            return Err(format!("answered {method} with {}, not {shape:?}", one_line(raw.get(), 40)));
        }
        match method {
            "eth_blockNumber" => {
                let block = quantity(raw).ok_or_else(|| {
                    format!("answered a block number past 64 bits: {}", one_line(raw.get(), 40))
                })?;
                if block < mark {
                    // Believe it next time: a node that really restarted from scratch recovers.
                    memory.highest_block.store(block, Ordering::Relaxed);
                    return Err(format!("answered block {block} after block {mark}: it went backwards"));
                }
                highest = Some(highest.map_or(block, |h: u64| h.max(block)));
            }
            "eth_chainId" => {
                let id = quantity(raw).ok_or_else(|| {
                    format!("answered a chain id past 64 bits: {}", one_line(raw.get(), 40))
                })?;
                chain.check(id)?;
            }
            _ => {}
        }
    }
    if let Some(block) = highest {
        memory.highest_block.fetch_max(block, Ordering::Relaxed);
    }
    Ok(())
}

fn show_id(id: &Id) -> String {
    match id {
        Id::Number(n) => n.to_string(),
        Id::String(s) => format!("{:?}", one_line(s, 20)),
        Id::None => "null".into(),
    }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
