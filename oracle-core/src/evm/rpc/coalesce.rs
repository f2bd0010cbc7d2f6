//! One JSON-RPC batch for the reads a chain's callers make together.
//!
//! Every target on a chain shares its [`FailoverTransport`](super::FailoverTransport), and a round
//! of [`Targets`](crate::Targets) starts every target's reads at once: the targets' state, the
//! Chainlink rounds and pool observations of the sources on that chain. The coalescer holds each
//! read for a short window after the first one arrives, then sends everything that arrived as one
//! JSON-RPC batch (one HTTP round trip), and hands each caller its own answers. A round therefore
//! costs one round trip per chain per dependent step (a read that needs an earlier read's answer,
//! as a pool read at the block the first read saw, is a step), whatever the number of targets and
//! feeds.
//!
//! Why a JSON-RPC batch and not alloy's `CallBatchLayer` (Multicall3): the layer folds only
//! `eth_call`s at the latest block into a Multicall3 call, so it needs that contract deployed on
//! every chain (Jeju's chains and a bare anvil do not promise it), and it leaves out the reads
//! pinned to a block, the block and nonce reads; a batch carries any method to any node.
//!
//! What is never coalesced: a transaction broadcast (it must reach one endpoint alone, so the
//! failover rules for broadcasts in [`super::failover`] hold), and a request that already is a
//! batch larger than the limit. Every coalesced call gets a new id (callers over different
//! `RpcClient`s count ids from the same numbers) and its answer gets the caller's id back.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    rpc::json_rpc::{Id, Request, RequestPacket, Response, ResponsePacket, SerializedRequest},
    transports::{TransportError, TransportErrorKind},
};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

/// The default window: long enough for every read a round starts together to arrive (they are
/// started in one pass of the scheduler, microseconds apart), short next to a block time.
pub const DEFAULT_COALESCE_WINDOW: Duration = Duration::from_millis(2);

/// The default largest batch: nodes cap batches (geth at 1,000 calls, hosted providers at 100
/// to 1,000), so more calls than this go out as several batches, sent together.
pub const DEFAULT_MAX_BATCH: usize = 100;

type Reply = oneshot::Sender<Result<ResponsePacket, TransportError>>;

struct Waiter {
    packet: RequestPacket,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    /// A flush is scheduled for what is waiting.
    scheduled: bool,
}

/// Sends what the coalescer gathered: the failover transport's request (with its own timeout).
pub(super) type SendFn = Arc<
    dyn Fn(RequestPacket) -> futures_util::future::BoxFuture<'static, Result<ResponsePacket, TransportError>>
        + Send
        + Sync,
>;

/// Gathers requests for `window`, then sends them as batches of at most `max_batch` calls.
pub(super) struct Coalescer {
    window: Duration,
    max_batch: usize,
    queue: Mutex<Queue>,
}

impl Coalescer {
    pub(super) fn new(window: Duration, max_batch: usize) -> Self {
        Self { window, max_batch: max_batch.max(1), queue: Mutex::new(Queue::default()) }
    }

    /// Whether `packet` may wait for others: no broadcast, and not already a full batch.
    pub(super) fn takes(&self, packet: &RequestPacket) -> bool {
        !self.window.is_zero()
            && packet.len() < self.max_batch
            && !packet.method_names().any(|m| m.starts_with("eth_sendRawTransaction"))
    }

    /// Queues `packet` and waits for its answer; the first request of a window schedules the flush.
    pub(super) async fn request(
        self: &Arc<Self>,
        packet: RequestPacket,
        send: SendFn,
    ) -> Result<ResponsePacket, TransportError> {
        let (reply, answer) = oneshot::channel();
        let schedule = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push(Waiter { packet, reply });
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(this.window).await;
                let waiting = {
                    let mut queue = this.queue.lock().unwrap_or_else(|p| p.into_inner());
                    queue.scheduled = false;
                    std::mem::take(&mut queue.waiting)
                };
                let sends = this.chunks(waiting).into_iter().map(|chunk| flush(chunk, Arc::clone(&send)));
                futures_util::future::join_all(sends).await;
            });
        }
        answer
            .await
            .unwrap_or_else(|_| Err(TransportErrorKind::custom_str("the coalesced request was dropped")))
    }

    /// Groups waiters into batches of at most `max_batch` calls, in arrival order.
    fn chunks(&self, waiting: Vec<Waiter>) -> Vec<Vec<Waiter>> {
        let mut chunks: Vec<Vec<Waiter>> = Vec::new();
        let mut calls = 0;
        for waiter in waiting {
            let n = waiter.packet.len();
            match chunks.last_mut() {
                Some(chunk) if calls + n <= self.max_batch => {
                    chunk.push(waiter);
                    calls += n;
                }
                _ => {
                    chunks.push(vec![waiter]);
                    calls = n;
                }
            }
        }
        chunks
    }
}

/// Sends one chunk: alone as it came, or as one renumbered batch split back to its callers.
async fn flush(mut chunk: Vec<Waiter>, send: SendFn) {
    if chunk.len() == 1
        && let Some(waiter) = chunk.pop()
    {
        // The caller may have gone (its tick timed out); nobody to tell then.
        let _ = waiter.reply.send(send(waiter.packet).await);
        return;
    }
    // Renumber every call; a request that cannot be taken apart (never seen: alloy serialized
    // it) goes on its own.
    let mut joined = Vec::new();
    let mut alone = Vec::new();
    for waiter in chunk {
        let requests: Vec<&SerializedRequest> = match &waiter.packet {
            RequestPacket::Single(r) => vec![r],
            RequestPacket::Batch(b) => b.iter().collect(),
        };
        let renumbered: Option<Vec<SerializedRequest>> = requests
            .iter()
            .enumerate()
            .map(|(k, r)| renumber(r, u64::try_from(joined_calls(&joined) + k).ok()?))
            .collect();
        let ids: Vec<Id> = requests.iter().map(|r| r.id().clone()).collect();
        match renumbered {
            Some(renumbered) => joined.push((waiter, ids, renumbered)),
            None => alone.push(waiter),
        }
    }
    for waiter in alone {
        let _ = waiter.reply.send(send(waiter.packet).await);
    }
    if joined.is_empty() {
        return;
    }
    // The new id of every call is its position in the batch: (waiter, the caller's id) by id.
    let mut origin: Vec<(usize, Id)> = Vec::new();
    let mut batch = RequestPacket::with_capacity(joined_calls(&joined));
    let mut replies = Vec::new();
    for (w, (waiter, ids, renumbered)) in joined.into_iter().enumerate() {
        let single = matches!(waiter.packet, RequestPacket::Single(_));
        origin.extend(ids.into_iter().map(|id| (w, id)));
        renumbered.into_iter().for_each(|r| batch.push(r));
        replies.push((waiter.reply, single));
    }
    let calls = origin.len();
    let mut answers: Vec<Vec<Response>> = replies.iter().map(|_| Vec::new()).collect();
    let failure = match send(batch).await {
        Ok(ResponsePacket::Batch(responses)) => {
            for mut response in responses {
                let slot = match &response.id {
                    Id::Number(n) => usize::try_from(*n).ok().and_then(|n| origin.get(n)),
                    _ => None,
                };
                // An answer to no call of ours is dropped: the caller misses its own instead.
                if let Some((w, id)) = slot
                    && let Some(list) = answers.get_mut(*w)
                {
                    response.id = id.clone();
                    list.push(response);
                }
            }
            None
        }
        // A batch answered with one object: the node refused the batch as a whole.
        Ok(ResponsePacket::Single(response)) => Some(format!(
            "the endpoint answered a batch of {calls} calls with one response{}",
            response.payload.as_error().map(|e| format!(": {} ({})", e.message, e.code)).unwrap_or_default()
        )),
        Err(e) => Some(e.to_string()),
    };
    for ((reply, single), mut list) in replies.into_iter().zip(answers) {
        let result = match &failure {
            Some(reason) => Err(TransportErrorKind::custom_str(reason)),
            None if list.is_empty() => {
                Err(TransportErrorKind::custom_str("the batch answer has no response to this call"))
            }
            None if single && list.len() == 1 => Ok(ResponsePacket::Single(list.remove(0))),
            None => Ok(ResponsePacket::Batch(list)),
        };
        let _ = reply.send(result);
    }
}

/// Calls already placed in the batch.
fn joined_calls(joined: &[(Waiter, Vec<Id>, Vec<SerializedRequest>)]) -> usize {
    joined.iter().map(|(_, ids, _)| ids.len()).sum()
}

/// `request` with id `id`: the wire JSON is serialized again (changing the metadata alone does
/// not change what is sent).
fn renumber(request: &SerializedRequest, id: u64) -> Option<SerializedRequest> {
    #[derive(serde::Deserialize)]
    struct Wire<'a> {
        #[serde(borrow)]
        params: Option<&'a RawValue>,
    }
    let wire: Wire<'_> = serde_json::from_str(request.serialized().get()).ok()?;
    let params: Option<Box<RawValue>> = wire.params.map(RawValue::to_owned);
    Request::new(request.method_clone(), Id::Number(id), params).serialize().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &'static str, id: u64) -> SerializedRequest {
        Request::new(method, Id::Number(id), ()).serialize().unwrap()
    }

    #[test]
    fn renumbering_rewrites_the_wire_id_and_keeps_the_params() {
        let r = Request::new("eth_call", Id::Number(7), (1u64, "latest")).serialize().unwrap();
        let new = renumber(&r, 42).unwrap();
        let wire: serde_json::Value = serde_json::from_str(new.serialized().get()).unwrap();
        assert_eq!(wire["id"], 42);
        assert_eq!(wire["method"], "eth_call");
        assert_eq!(wire["params"], serde_json::json!([1, "latest"]));
        assert_eq!(new.id(), &Id::Number(42));
    }

    #[test]
    fn broadcasts_and_full_batches_are_not_held() {
        let c = Coalescer::new(Duration::from_millis(1), 2);
        assert!(c.takes(&RequestPacket::Single(call("eth_call", 0))));
        assert!(!c.takes(&RequestPacket::Single(call("eth_sendRawTransaction", 0))));
        assert!(!c.takes(&RequestPacket::Batch(vec![call("eth_call", 0), call("eth_call", 1)])));
        assert!(!Coalescer::new(Duration::ZERO, 2).takes(&RequestPacket::Single(call("eth_call", 0))));
    }

    /// Answers every call of a batch with its own id as the result, and records each packet.
    fn echo(seen: Arc<Mutex<Vec<usize>>>) -> SendFn {
        Arc::new(move |packet: RequestPacket| {
            let seen = Arc::clone(&seen);
            Box::pin(async move {
                seen.lock().unwrap().push(packet.len());
                let answer = |r: &SerializedRequest| Response {
                    id: r.id().clone(),
                    payload: alloy::rpc::json_rpc::ResponsePayload::Success(
                        RawValue::from_string(format!("\"{}\"", r.method())).unwrap(),
                    ),
                };
                Ok(match &packet {
                    RequestPacket::Single(r) => ResponsePacket::Single(answer(r)),
                    RequestPacket::Batch(b) => ResponsePacket::Batch(b.iter().map(answer).collect()),
                })
            })
        })
    }

    #[tokio::test]
    async fn requests_made_together_go_out_as_one_batch_and_get_their_own_answers() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = Arc::new(Coalescer::new(Duration::from_millis(5), 100));
        // Two callers whose ids collide (id 0 each), one of them a batch of two.
        let (a, b) = tokio::join!(
            c.request(RequestPacket::Single(call("eth_blockNumber", 0)), echo(Arc::clone(&seen))),
            c.request(
                RequestPacket::Batch(vec![call("eth_chainId", 0), call("eth_gasPrice", 1)]),
                echo(Arc::clone(&seen))
            ),
        );
        assert_eq!(*seen.lock().unwrap(), vec![3], "one round trip of three calls");
        let ResponsePacket::Single(a) = a.unwrap() else { panic!("a single call gets a single answer") };
        assert_eq!(a.id, Id::Number(0));
        assert_eq!(a.payload.as_success().unwrap().get(), "\"eth_blockNumber\"");
        let ResponsePacket::Batch(b) = b.unwrap() else { panic!("a batch gets a batch") };
        let got: Vec<(Id, String)> =
            b.iter().map(|r| (r.id.clone(), r.payload.as_success().unwrap().get().to_owned())).collect();
        assert_eq!(
            got,
            vec![
                (Id::Number(0), "\"eth_chainId\"".to_owned()),
                (Id::Number(1), "\"eth_gasPrice\"".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn more_calls_than_the_limit_go_out_as_several_batches() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = Arc::new(Coalescer::new(Duration::from_millis(5), 2));
        let calls =
            (0..5).map(|i| c.request(RequestPacket::Single(call("eth_call", i)), echo(Arc::clone(&seen))));
        for answer in futures_util::future::join_all(calls).await {
            assert!(matches!(answer.unwrap(), ResponsePacket::Single(_)));
        }
        let mut sizes = seen.lock().unwrap().clone();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![1, 2, 2]);
    }

    #[tokio::test]
    async fn a_batch_refused_as_a_whole_fails_every_caller_with_the_reason() {
        let c = Arc::new(Coalescer::new(Duration::from_millis(5), 100));
        let refuse: SendFn = Arc::new(|_| {
            Box::pin(async {
                Ok(ResponsePacket::Single(Response {
                    id: Id::None,
                    payload: alloy::rpc::json_rpc::ResponsePayload::Failure(
                        alloy::rpc::json_rpc::ErrorPayload {
                            code: -32600,
                            message: "batch too large".into(),
                            data: None,
                        },
                    ),
                }))
            })
        });
        let (a, b) = tokio::join!(
            c.request(RequestPacket::Single(call("eth_call", 0)), Arc::clone(&refuse)),
            c.request(RequestPacket::Single(call("eth_call", 1)), Arc::clone(&refuse)),
        );
        for e in [a.unwrap_err(), b.unwrap_err()] {
            assert!(e.to_string().contains("batch too large"), "{e}");
        }
    }
}
