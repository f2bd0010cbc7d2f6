//! `MedianSource`: agreement, disagreement beyond the spread, too few sources, unreachable
//! sources skipped, and the even-count rule (the lower middle).
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError};
use oracle_sources::MedianSource;

/// A source with its own name that answers a price (observed `age` ago) or refuses.
struct Stub {
    name: String,
    answer: Result<Price, SourceError>,
    age: Duration,
}

#[async_trait]
impl PriceSource for Stub {
    fn name(&self) -> &str {
        &self.name
    }
    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let price = self.answer.clone()?;
        Ok(Observation::new(feed.clone(), price, SystemTime::now() - self.age, &self.name))
    }
}

fn price(name: &str, value: &str) -> Arc<dyn PriceSource> {
    Arc::new(Stub { name: name.into(), answer: Ok(Price::parse(value, 8).unwrap()), age: Duration::ZERO })
}

fn aged(name: &str, value: &str, age_secs: u64) -> Arc<dyn PriceSource> {
    Arc::new(Stub {
        name: name.into(),
        answer: Ok(Price::parse(value, 8).unwrap()),
        age: Duration::from_secs(age_secs),
    })
}

fn down(name: &str) -> Arc<dyn PriceSource> {
    let answer =
        Err(SourceError::Unreachable { source_name: name.into(), reason: "connection refused".into() });
    Arc::new(Stub { name: name.into(), answer, age: Duration::ZERO })
}

fn stale(name: &str) -> Arc<dyn PriceSource> {
    let answer = Err(SourceError::Stale {
        source_name: name.into(),
        feed: FeedId::ETH_USD,
        age: Duration::from_secs(7200),
        max_age: Duration::from_secs(3600),
    });
    Arc::new(Stub { name: name.into(), answer, age: Duration::ZERO })
}

fn median(sources: Vec<Arc<dyn PriceSource>>, min: usize, spread: u64) -> MedianSource {
    MedianSource::builder(FeedId::ETH_USD)
        .sources(sources)
        .min_sources(min)
        .max_spread_bps(spread)
        .build()
        .unwrap()
}

async fn fetch(source: &MedianSource) -> Result<Observation, SourceError> {
    source.fetch(&FeedId::ETH_USD).await
}

#[tokio::test]
async fn agreeing_sources_give_their_median() {
    let m = median(vec![price("a", "3000"), price("b", "3010"), price("c", "3020")], 2, 200);
    let obs = fetch(&m).await.unwrap();
    assert_eq!(obs.price.to_string(), "3010.00000000");
    assert!(obs.source.contains("median:ETH/USD") && obs.source.contains('b'), "{}", obs.source);

    // Even count: the lower of the two middle prices, never an average.
    let m =
        median(vec![price("a", "3000"), price("d", "3030"), price("b", "3010"), price("c", "3020")], 2, 200);
    assert_eq!(fetch(&m).await.unwrap().price.to_string(), "3010.00000000");

    // Prices of different decimals are compared by value.
    let wide = Arc::new(Stub {
        name: "wide".into(),
        answer: Ok(Price::parse("3005.123456789012345678", 18).unwrap()),
        age: Duration::ZERO,
    });
    let m = median(vec![price("a", "3000"), wide, price("c", "3020")], 3, 200);
    assert_eq!(fetch(&m).await.unwrap().price.to_string(), "3005.123456789012345678");

    // The observation is as old as the oldest agreeing source.
    let m = median(vec![aged("a", "3000", 5), aged("b", "3001", 50), price("c", "3002")], 2, 200);
    let obs = fetch(&m).await.unwrap();
    let age = SystemTime::now().duration_since(obs.observed_at).unwrap();
    assert!(age >= Duration::from_secs(50) && age < Duration::from_secs(60), "{age:?}");
}

#[tokio::test]
async fn disagreement_beyond_the_spread_names_the_sources() {
    let m = median(vec![price("chainlink", "3000"), price("coingecko", "3300")], 2, 200);
    match fetch(&m).await {
        Err(SourceError::Manipulated { source_name, reason, .. }) => {
            assert_eq!(source_name, "median:ETH/USD");
            assert!(
                reason.contains("only 1 of 2 source(s) within 200 bps of the median 3000.00000000"),
                "{reason}"
            );
            assert!(reason.contains("chainlink = 3000.00000000 (0 bps)"), "{reason}");
            assert!(reason.contains("coingecko = 3300.00000000 (1000 bps)"), "{reason}");
        }
        other => panic!("expected Manipulated, got {other:?}"),
    }

    // Exactly at the spread still agrees; one unit beyond does not.
    let m = median(vec![price("a", "3000"), price("b", "3060")], 2, 200);
    fetch(&m).await.unwrap();
    let m = median(vec![price("a", "3000"), price("b", "3060.00000001")], 2, 200);
    assert!(matches!(fetch(&m).await, Err(SourceError::Manipulated { .. })));

    // An outlier is outvoted when enough others agree.
    let m = median(vec![price("a", "3000"), price("b", "3010"), price("liar", "9000")], 2, 200);
    assert_eq!(fetch(&m).await.unwrap().price.to_string(), "3010.00000000");
    // ... and refused when the minimum asks for all three.
    let m = median(vec![price("a", "3000"), price("b", "3010"), price("liar", "9000")], 3, 200);
    match fetch(&m).await {
        Err(SourceError::Manipulated { reason, .. }) => {
            assert!(reason.contains("liar = 9000.00000000"), "{reason}")
        }
        other => panic!("expected Manipulated, got {other:?}"),
    }
}

#[tokio::test]
async fn too_few_sources_are_refused_and_unreachable_ones_skipped() {
    // One of three down, two needed: answered from the two.
    let m = median(vec![price("a", "3000"), down("b"), price("c", "3010")], 2, 200);
    assert_eq!(fetch(&m).await.unwrap().price.to_string(), "3000.00000000");

    // Two of three down: unreachable (retrying may help), naming both.
    let m = median(vec![price("a", "3000"), down("b"), down("c")], 2, 200);
    match fetch(&m).await {
        Err(SourceError::Unreachable { source_name, reason }) => {
            assert_eq!(source_name, "median:ETH/USD");
            assert!(reason.contains("1 of 3 source(s) answered, 2 needed"), "{reason}");
            assert!(reason.contains("b: unreachable") && reason.contains("c: unreachable"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    // A refusal about the data is not retryable: the median says which check failed where.
    let m = median(vec![price("a", "3000"), down("b"), stale("c")], 2, 200);
    match fetch(&m).await {
        Err(SourceError::Invalid { check: "median sources", detail, .. }) => {
            assert!(detail.contains("c: ETH/USD is stale"), "{detail}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    // The default minimum is a majority; impossible minimums are configuration errors.
    let m = MedianSource::builder(FeedId::ETH_USD)
        .sources([price("a", "1"), down("b"), down("c")])
        .build()
        .unwrap();
    assert!(matches!(fetch(&m).await, Err(SourceError::Unreachable { .. })));
    assert!(MedianSource::builder(FeedId::ETH_USD).source(price("a", "1")).min_sources(2).build().is_err());
    assert!(MedianSource::builder(FeedId::ETH_USD).build().is_err());
    assert!(matches!(
        median(vec![price("a", "1")], 1, 0).fetch(&FeedId::ELIZAOS_USD).await,
        Err(SourceError::UnsupportedFeed { .. })
    ));
}
