//! The age of the oracle's data as a follower sees it.
//!
//! A follower's ticks do not read the target (the leader does), so its engine status knows
//! nothing of the data's age. For `/health` to say that the data went stale under another bot's
//! leadership, the follower reads it itself after each of its ticks: the oracle's
//! `lastUpdateTime()` and the latest block's time, two calls per tick. A leader reads nothing
//! here: its engine already read the target in the tick.

use std::time::{Duration, SystemTime};

use alloy::{
    primitives::Address,
    providers::{DynProvider, Provider},
    rpc::types::BlockNumberOrTag,
};
use oracle_core::{
    EngineStatus, TickOutcome,
    evm::{bindings::ManualPriceOracle, classify_transport_error, redact_urls},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How old the oracle's data was when this bot read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAge {
    /// When it was read (host clock).
    pub checked_at: SystemTime,
    /// The data's age then.
    pub age: Duration,
}

/// Reads the oracle's last update time and the latest block's time. The age is measured from
/// the later of the block's time and the host's clock, the rule the engine decides with (an
/// idle chain's latest block lags the host; a chain may run ahead of it).
pub async fn read_data_age(provider: &DynProvider, oracle: Address) -> Result<DataAge, String> {
    let contract = ManualPriceOracle::new(oracle, provider.clone());
    let (last_update, block) = tokio::try_join!(
        async {
            contract
                .lastUpdateTime()
                .call()
                .await
                .map_err(|e| format!("lastUpdateTime(): {}", redact_urls(&e.to_string())))
        },
        async {
            provider
                .get_block_by_number(BlockNumberOrTag::Latest)
                .await
                .map_err(|e| format!("the latest block: {}", classify_transport_error(&e)))
        },
    )?;
    let timestamp = |secs: u64| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs));
    let last_update = u64::try_from(last_update)
        .ok()
        .and_then(timestamp)
        .ok_or_else(|| format!("lastUpdateTime() = {last_update} is not a timestamp"))?;
    let block = block.ok_or("the node has no latest block")?;
    let chain_time = timestamp(block.header.timestamp)
        .ok_or_else(|| format!("the latest block's time {} is not a timestamp", block.header.timestamp))?;
    let checked_at = SystemTime::now();
    let now = chain_time.max(checked_at);
    Ok(DataAge { checked_at, age: now.duration_since(last_update).unwrap_or(Duration::ZERO) })
}

/// After every tick this bot ran as a follower, reads the data's age (each read bounded by
/// `limit`) and publishes it; logs when the data turns stale (older than `stale_after`) and
/// when it is fresh again. Stops at `cancel` or when the engine's status channel closes.
pub fn follow(
    provider: DynProvider,
    oracle: Address,
    mut status: watch::Receiver<EngineStatus>,
    stale_after: Duration,
    limit: Duration,
    cancel: CancellationToken,
) -> watch::Receiver<Option<DataAge>> {
    let (publish, view) = watch::channel(None);
    tokio::spawn(async move {
        let mut read_after_tick = 0;
        let mut was_stale = false;
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                changed = status.changed() => if changed.is_err() { return },
            }
            let (ticks, leading, leader) = {
                let s = status.borrow_and_update();
                let leader = match s.last_report.as_ref().map(|r| &r.outcome) {
                    Some(TickOutcome::Follower { leader: Some(id) }) => id.clone(),
                    _ => "unknown".to_owned(),
                };
                (s.ticks, s.is_leader, leader)
            };
            if leading || ticks == read_after_tick {
                continue;
            }
            read_after_tick = ticks;
            let seen = match tokio::time::timeout(limit, read_data_age(&provider, oracle)).await {
                Ok(Ok(seen)) => seen,
                Ok(Err(reason)) => {
                    tracing::debug!(%reason, "could not read the oracle's data age for /health");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(?limit, "reading the oracle's data age for /health timed out");
                    continue;
                }
            };
            publish.send_replace(Some(seen));
            let stale = seen.age > stale_after;
            if stale && !was_stale {
                tracing::warn!(
                    age_s = seen.age.as_secs(), limit_s = stale_after.as_secs(), %leader,
                    "oracle data is stale: the leader {leader} has not updated it for {} s", seen.age.as_secs()
                );
            } else if !stale && was_stale {
                tracing::info!(age_s = seen.age.as_secs(), "oracle data is fresh again");
            }
            was_stale = stale;
        }
    });
    view
}
