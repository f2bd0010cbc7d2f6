//! Embedding the update engine with your own source and your own target.
//!
//! `cargo run -p oracle-examples --example embed_engine`
//!
//! The source is a scripted feed of your own; the target is oracle-core's in-memory one
//! (`test_utils::MemoryTarget`, feature `test-utils`), which accepts and lands any update. The
//! engine decides, "submits" and records each tick; the example follows the ticks through the
//! engine's status channel and stops the engine with its cancellation token.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter, Observation, Policy, Price, PriceSource, SourceError,
    TickOutcome, test_utils::MemoryTarget,
};
use tokio_util::sync::CancellationToken;

/// Your source: here a feed that walks through scripted prices, one per call. (oracle-core's
/// `test_utils::ScriptedSource` does the same; it is written out here because implementing
/// `PriceSource` is what an embedder does.)
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber_init();
    // The target: oracle-core's in-memory one (feature `test-utils`), which lands every update
    // at once. Yours implements `Submitter` for your contract or API the same way.
    let target =
        Arc::new(MemoryTarget::holding(FeedId::ETH_USD, Price::parse("3000", 8)?, SystemTime::UNIX_EPOCH));
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
    let stored = target.state().feeds.iter().map(|f| f.price.to_string()).collect::<Vec<_>>().join(", ");
    println!("stored ETH/USD: {stored}; updates sent: {}", target.sent().len());
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
