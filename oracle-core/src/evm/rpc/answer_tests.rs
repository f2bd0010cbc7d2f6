//! Unit tests of [`check`]: each kind of wrong answer, named after it.

use alloy::rpc::json_rpc::{Request, RequestPacket, ResponsePacket};

use super::*;

fn call(method: &'static str, id: u64) -> SerializedRequest {
    Request::new(method, Id::Number(id), ()).serialize().unwrap()
}

fn answer(text: &str) -> ResponsePacket {
    serde_json::from_str(text).unwrap()
}

fn judge(request: RequestPacket, text: &str, memory: &Memory, chain: &ChainPin) -> Result<(), String> {
    let mark = memory.mark();
    check(&request, &answer(text), memory, mark, chain)
}

#[test]
fn wrong_ids_in_batches_are_refused() {
    let (m, c) = (Memory::default(), ChainPin::new(None));
    let batch = || RequestPacket::Batch(vec![call("eth_gasPrice", 1), call("eth_gasPrice", 2)]);
    let ok = r#"[{"jsonrpc":"2.0","id":2,"result":"0x1"},{"jsonrpc":"2.0","id":1,"result":"0x2"}]"#;
    assert_eq!(judge(batch(), ok, &m, &c), Ok(()), "reordered is fine");
    let missing = r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"}]"#;
    assert!(judge(batch(), missing, &m, &c).unwrap_err().contains("unanswered"));
    let twice = r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":1,"result":"0x1"}]"#;
    assert!(judge(batch(), twice, &m, &c).unwrap_err().contains("twice"));
    let foreign = r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":9,"result":"0x1"}]"#;
    assert!(judge(batch(), foreign, &m, &c).unwrap_err().contains("did not ask"));
    let single = RequestPacket::Single(call("eth_gasPrice", 5));
    assert!(
        judge(single, r#"{"jsonrpc":"2.0","id":6,"result":"0x1"}"#, &m, &c).unwrap_err().contains("id 6")
    );
}

#[test]
fn results_of_the_wrong_type_are_refused() {
    let (m, c) = (Memory::default(), ChainPin::new(None));
    for (method, result) in [
        ("eth_blockNumber", r#""hello""#),
        ("eth_blockNumber", "12"),
        ("eth_gasPrice", "{}"),
        ("eth_call", r#""0x123""#),
        ("eth_sendRawTransaction", r#""0x12""#),
        ("eth_getTransactionReceipt", "[]"),
        ("eth_feeHistory", "null"),
    ] {
        let text = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result}}}"#);
        let err = judge(RequestPacket::Single(call(method, 1)), &text, &m, &c).unwrap_err();
        assert!(err.contains(method), "{err}");
    }
    let receipt = r#"{"jsonrpc":"2.0","id":1,"result":null}"#;
    assert_eq!(judge(RequestPacket::Single(call("eth_getTransactionReceipt", 1)), receipt, &m, &c), Ok(()));
}

#[test]
fn a_block_number_going_backwards_is_refused_once() {
    let (m, c) = (Memory::default(), ChainPin::new(None));
    let block = |n: u64| format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{n:#x}"}}"#);
    let ask = || RequestPacket::Single(call("eth_blockNumber", 1));
    assert_eq!(judge(ask(), &block(100), &m, &c), Ok(()));
    assert!(judge(ask(), &block(90), &m, &c).unwrap_err().contains("backwards"));
    // A node that really restarted is believed at its next answer.
    assert_eq!(judge(ask(), &block(91), &m, &c), Ok(()));
}

#[test]
fn a_chain_id_that_changes_is_refused() {
    let (m, c) = (Memory::default(), ChainPin::new(Some(8453)));
    let id = |n: u64| format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{n:#x}"}}"#);
    let ask = || RequestPacket::Single(call("eth_chainId", 1));
    assert_eq!(judge(ask(), &id(8453), &m, &c), Ok(()));
    assert!(judge(ask(), &id(1), &m, &c).unwrap_err().contains("chain id 1"));
    let first = ChainPin::new(None);
    assert_eq!(judge(ask(), &id(10), &m, &first), Ok(()));
    assert!(judge(ask(), &id(11), &m, &first).is_err());
}

#[test]
fn an_odd_error_code_on_a_plain_read_is_the_endpoints_failure() {
    let (m, c) = (Memory::default(), ChainPin::new(None));
    let odd = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-9223372036854775808,"message":"\u0000weird"}}"#;
    assert!(judge(RequestPacket::Single(call("eth_blockNumber", 1)), odd, &m, &c).is_err());
    // On eth_call an error is a real answer (a revert): passed on.
    assert_eq!(judge(RequestPacket::Single(call("eth_call", 1)), odd, &m, &c), Ok(()));
}
