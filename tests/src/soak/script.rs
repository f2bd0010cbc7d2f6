//! The source's seeded price script: calm periods of small moves (below the 1 % threshold, which
//! must not be pushed on their own) and jumps of 1.5-4 % that must reach the chain. After a jump
//! the script waits for the oracle to catch up before the next one, so "a move above the
//! threshold never pushed" is a jump the chain never shows (within a hang guard that is orders of
//! magnitude above any fault's length: a guard, not a timing assertion).

use std::{sync::Arc, time::Duration};

use alloy::{primitives::Address, providers::DynProvider};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    THRESHOLD_BPS,
    record::{Journal, Move, now_ms},
};
use crate::{Deployment, START_ETH, rng::Rng, set_answer};

/// The longest the script waits for a jump to reach the chain before calling it never pushed.
pub const JUMP_GUARD: Duration = Duration::from_secs(120);

/// Runs the script until `stop`. `jump_now` asks for a jump at once (a fault just started, so an
/// update is due during it and its failover time is measured).
pub async fn run(
    source: DynProvider,
    aggregator: Address,
    mut rng: Rng,
    journal: Arc<Journal>,
    jump_now: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut eth = START_ETH;
    journal.moved(Move { at_ms: now_ms(), eth, jump: false });
    while !stop.is_cancelled() {
        // A calm period: a few small moves, paced like a market (the script is the workload,
        // not a wait for an event).
        for _ in 0..rng.between(1, 4) {
            let pace = Duration::from_millis(rng.between(300, 1200));
            tokio::select! {
                () = stop.cancelled() => return,
                () = jump_now.notified() => break,
                () = tokio::time::sleep(pace) => {}
            }
            eth = calm(eth, &mut rng, &journal);
            set_answer(&source, aggregator, eth as i128).await;
            journal.moved(Move { at_ms: now_ms(), eth, jump: false });
        }
        if stop.is_cancelled() {
            return;
        }
        eth = jump(eth, &mut rng);
        set_answer(&source, aggregator, eth as i128).await;
        journal.moved(Move { at_ms: now_ms(), eth, jump: true });
        await_pushed(&journal, eth, &stop).await;
    }
}

/// A move of 0.05-0.3 % that keeps the source within the threshold of the oracle's value, so
/// calm periods alone never make an update due.
fn calm(eth: u128, rng: &mut Rng, journal: &Journal) -> u128 {
    let bps = u128::from(rng.between(5, 30));
    let up = rng.below(2) == 0;
    let next = if up { eth + eth * bps / 10_000 } else { eth - eth * bps / 10_000 };
    match journal.on_chain() {
        // Stay within half the threshold of what the oracle holds.
        Some(seen) if deviation_bps(next, seen.eth) * 2 >= u128::from(THRESHOLD_BPS) => eth,
        _ => next,
    }
}

/// A move of 1.5-4 %, toward the start price when the source has drifted more than 20 % from
/// it (the contract refuses moves of 50 % and prices far from its bounds).
fn jump(eth: u128, rng: &mut Rng) -> u128 {
    let bps = u128::from(rng.between(150, 400));
    let up = if eth > START_ETH * 12 / 10 {
        false
    } else if eth < START_ETH * 8 / 10 {
        true
    } else {
        rng.below(2) == 0
    };
    if up { eth + eth * bps / 10_000 } else { eth - eth * bps / 10_000 }
}

/// |a - b| / b in basis points.
pub fn deviation_bps(a: u128, b: u128) -> u128 {
    a.abs_diff(b).saturating_mul(10_000) / b.max(1)
}

/// Waits until the oracle holds a value within the threshold of `eth` (an update landed after
/// the jump), or records the jump as never pushed after [`JUMP_GUARD`].
async fn await_pushed(journal: &Journal, eth: u128, stop: &CancellationToken) {
    let started = tokio::time::Instant::now();
    let since = now_ms();
    loop {
        let caught_up = journal
            .on_chain()
            .is_some_and(|s| s.at_ms >= since && deviation_bps(eth, s.eth) < u128::from(THRESHOLD_BPS));
        if caught_up {
            return;
        }
        if started.elapsed() > JUMP_GUARD {
            journal.violation(format!("a jump to {} never reached the chain", dollars(eth)));
            return;
        }
        // After the run's end the last jump may stay unpushed: the final move checks the end.
        if stop.is_cancelled() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After the faults: one more jump every healed bot must push; the oracle must then hold the
/// source's exact value.
pub async fn final_move(d: &Deployment, journal: &Journal) {
    let eth = journal.source().unwrap_or(START_ETH);
    let next = if eth > START_ETH { eth - eth * 3 / 100 } else { eth + eth * 3 / 100 };
    set_answer(&d.source_admin, d.aggregator, next as i128).await;
    journal.moved(Move { at_ms: now_ms(), eth: next, jump: true });
    let started = tokio::time::Instant::now();
    loop {
        let (stored, _, _) = d.prices().await;
        if u128::try_from(stored).ok() == Some(next) {
            return;
        }
        if started.elapsed() > JUMP_GUARD {
            journal.violation(format!(
                "the final move to {} never reached the chain (the oracle holds {stored})",
                dollars(next)
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An 8-decimal price as dollars.
pub fn dollars(v: u128) -> String {
    format!("${}.{:08}", v / 100_000_000, v % 100_000_000)
}
