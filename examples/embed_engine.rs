//! Embedding the update engine with your own source and your own target.
//!
//! `cargo run -p oracle-examples --example embed_engine`
//!
//! The source is a scripted feed; the target is an in-memory store that accepts any update. The
//! engine decides, "submits" and records each tick; the example follows the ticks through the
//! engine's status channel and stops the engine with its cancellation token.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{
    AlwaysLeader, B256, Engine, FeedId, FeedState, Fence, LogAlerter, Observation, OnChainState,
    PendingUpdate, Policy, Price, PriceSource, PriceUpdate, SourceError, SubmitError, Submitter, TickOutcome,
    UpdateOutcome,
};
use tokio_util::sync::CancellationToken;

/// A feed that walks through scripted prices, one per call.
struct Scripted {
    prices: Vec<&'static str>,
    next: AtomicUsize,
}

#[async_trait]
impl PriceSource for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed).min(self.prices.len() - 1);
        let price = Price::parse(self.prices[i], 8).map_err(|e| SourceError::Invalid {
            source_name: self.name().into(),
            feed: feed.clone(),
            check: "parse",
            detail: e.to_string(),
        })?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), self.name()))
    }
}

/// A target that keeps one price in memory and "mines" every update at once.
struct MemoryTarget {
    stored: Mutex<(Price, SystemTime)>,
    sent: AtomicUsize,
}

impl MemoryTarget {
    fn stored(&self) -> (Price, SystemTime) {
        *self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Submitter for MemoryTarget {
    fn name(&self) -> &str {
        "memory"
    }

    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        let (price, last_update) = self.stored();
        Ok(OnChainState {
            feeds: vec![FeedState { feed: FeedId::ETH_USD, price, bounds: None }],
            last_update,
            deviation_rule: None,
            fee: None,
            balance_wei: None,
            block: None,
            chain_time: None,
        })
    }

    async fn simulate(&self, _update: &PriceUpdate, _fence: &Fence) -> Result<(), SubmitError> {
        Ok(())
    }

    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        fence.check()?;
        let nonce = self.sent.fetch_add(1, Ordering::Relaxed) as u64;
        Ok(PendingUpdate::new(B256::with_last_byte(nonce as u8), nonce, update.clone()))
    }

    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        if let Some(price) = pending.update.price(&FeedId::ETH_USD) {
            *self.stored.lock().unwrap_or_else(|e| e.into_inner()) = (*price, SystemTime::now());
        }
        Ok(UpdateOutcome::Mined {
            tx_hash: pending.tx_hash,
            block: pending.nonce,
            gas_used: 0,
            effective_gas_price: 0,
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber_init();
    let target = Arc::new(MemoryTarget {
        stored: Mutex::new((Price::parse("3000", 8)?, SystemTime::UNIX_EPOCH)),
        sent: AtomicUsize::new(0),
    });
    let source = Arc::new(Scripted {
        prices: vec!["3000", "3010", "3100", "3101", "2900"],
        next: AtomicUsize::new(0),
    });
    let engine = Arc::new(
        Engine::builder()
            .source(FeedId::ETH_USD, source)
            .elector(Arc::new(AlwaysLeader::new("embedded-1")))
            .submitter(target.clone())
            .alerter(Arc::new(LogAlerter))
            // No minimum interval so that the example's fast ticks may submit back to back.
            .policy(Policy::builder().min_interval(Duration::ZERO).build()?)
            .interval(Duration::from_millis(50))
            .build()?,
    );

    let cancel = CancellationToken::new();
    let runner = tokio::spawn({
        let (engine, cancel) = (engine.clone(), cancel.clone());
        async move { engine.run(cancel).await }
    });

    let mut status = engine.status();
    while status.borrow().ticks < 5 {
        status.changed().await?;
        let s = status.borrow().clone();
        if let Some(report) = &s.last_report {
            let what = match &report.outcome {
                TickOutcome::Submitted(landed) => format!("submitted {:?}", landed.prices),
                TickOutcome::Skipped(reason) => format!("skipped: {}", reason.label()),
                other => format!("{other:?}"),
            };
            println!("tick {}: {what}", s.ticks);
        }
    }
    cancel.cancel();
    runner.await?;
    let (price, _) = target.stored();
    println!("stored ETH/USD: {price}; updates sent: {}", target.sent.load(Ordering::Relaxed));
    Ok(())
}

fn tracing_subscriber_init() {
    // The example prints its own lines; the engine's logs stay quiet unless RUST_LOG asks.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}
