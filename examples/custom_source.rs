//! A custom `PriceSource` reading an exchange's ticker API, next to built-in sources in a median.
//!
//! `cargo run -p oracle-examples --example custom_source`
//!
//! The "exchanges" are a small axum server inside the example serving a Binance-style ticker,
//! `GET /{exchange}/api/v3/ticker/price?symbol=ETHUSDT` → `{"symbol":"ETHUSDT","price":"3012.50"}`,
//! and a CoinGecko-style `GET /simple/price` that the built-in `HttpJsonSource` reads. The custom
//! source maps every failure to a `SourceError` that says what went wrong: `Unreachable` for a
//! transport error, a non-2xx answer or a body that is not JSON (retryable), `Invalid` for a
//! missing or malformed price, `NonPositive`, and `UnsupportedFeed` for a feed it has no symbol
//! for.
//!
//! `oracle_sources::MedianSource` takes four sources of ETH/USD: a fixed price, the HTTP JSON
//! source, and two exchanges through the custom source, one of which lies. The example checks
//! that the median absorbs the lie, that a lie plus an outage is refused rather than guessed,
//! and that the custom source's refusals read clearly; it exits non-zero otherwise.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, Uri},
    routing::get,
};
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError};
use oracle_sources::{FixedPriceSource, HttpJsonSource, MedianSource};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One exchange's ticker API, for the feeds it has a symbol for.
struct ExchangeTicker {
    name: String,
    base_url: String,
    symbols: HashMap<FeedId, &'static str>,
    client: reqwest::Client,
}

impl ExchangeTicker {
    fn new(name: &str, base_url: String, symbols: HashMap<FeedId, &'static str>) -> Result<Self, Error> {
        // A bounded request: the engine also bounds each fetch, but a source should not rely on it.
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self { name: format!("exchange:{name}"), base_url, symbols, client })
    }
}

#[async_trait]
impl PriceSource for ExchangeTicker {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let symbol = self.symbols.get(feed).ok_or_else(|| SourceError::UnsupportedFeed {
            source_name: self.name.clone(),
            feed: feed.clone(),
        })?;
        let unreachable =
            |reason: String| SourceError::Unreachable { source_name: self.name.clone(), reason };
        let invalid = |check: &'static str, detail: String| SourceError::Invalid {
            source_name: self.name.clone(),
            feed: feed.clone(),
            check,
            detail,
        };
        let url = format!("{}/api/v3/ticker/price?symbol={symbol}", self.base_url);
        // `without_url`: a real exchange URL may carry an API key; the message names the symbol.
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(format!("{symbol}: {}", e.without_url())))?;
        let status = response.status();
        let body =
            response.text().await.map_err(|e| unreachable(format!("{symbol}: {}", e.without_url())))?;
        if !status.is_success() {
            let said: String = body.chars().take(120).collect();
            return Err(unreachable(format!("{symbol}: HTTP {status}: {said}")));
        }
        let json: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| unreachable(format!("{symbol}: the answer is not JSON ({e})")))?;
        let text = json["price"]
            .as_str()
            .ok_or_else(|| invalid("ticker price", format!("{symbol}: no string field `price` in {json}")))?;
        // Exact decimal parsing (never through f64); more than 8 fractional digits is refused.
        let price =
            Price::parse(text, 8).map_err(|e| invalid("ticker price", format!("{symbol}: {text:?}: {e}")))?;
        if price.mantissa().is_zero() {
            return Err(SourceError::NonPositive {
                source_name: self.name.clone(),
                feed: feed.clone(),
                answer: text.to_owned(),
            });
        }
        Ok(Observation::new(feed.clone(), price, SystemTime::now(), &self.name))
    }
}

/// What each fake exchange answers for ETHUSDT: a price, or an HTTP status.
type Tickers = Arc<Mutex<HashMap<String, Result<&'static str, StatusCode>>>>;

async fn ticker(
    State(tickers): State<Tickers>,
    Path(exchange): Path<String>,
    uri: Uri,
) -> (StatusCode, String) {
    // The query is read by hand: the workspace's axum is built without its `query` feature.
    if !uri.query().unwrap_or_default().split('&').any(|kv| kv == "symbol=ETHUSDT") {
        return (StatusCode::BAD_REQUEST, r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
    }
    match tickers.lock().unwrap_or_else(|p| p.into_inner()).get(&exchange) {
        Some(Ok(price)) => (StatusCode::OK, format!(r#"{{"symbol":"ETHUSDT","price":"{price}"}}"#)),
        Some(Err(status)) => (*status, r#"{"code":-1001,"msg":"Internal error."}"#.into()),
        None => (StatusCode::NOT_FOUND, "no such exchange".into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let tickers: Tickers = Arc::new(Mutex::new(HashMap::from([
        ("honest".to_owned(), Ok("3012.50")),
        ("liar".to_owned(), Ok("4500.00")),
    ])));
    let app = Router::new()
        .route("/{exchange}/api/v3/ticker/price", get(ticker))
        .route("/simple/price", get(|| async { r#"{"ethereum":{"usd":3005.1}}"# }))
        .with_state(tickers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let symbols = HashMap::from([(FeedId::ETH_USD, "ETHUSDT")]);
    let honest = Arc::new(ExchangeTicker::new("honest", format!("{base}/honest"), symbols.clone())?);
    let liar = Arc::new(ExchangeTicker::new("liar", format!("{base}/liar"), symbols)?);
    let median = MedianSource::builder(FeedId::ETH_USD)
        .source(Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::parse("3000", 8)?)))
        .source(Arc::new(
            HttpJsonSource::builder(
                FeedId::ETH_USD,
                format!("{base}/simple/price?ids=ethereum&vs_currencies=usd"),
            )
            .pointer("/ethereum/usd")
            .build()?,
        ))
        .source(honest.clone())
        .source(liar.clone())
        // Three of the four must answer and agree within 2% of the median.
        .min_sources(3)
        .max_spread_bps(200)
        .build()?;

    // 3000, 3005.1, 3012.5 and the liar's 4500: the median is 3005.1, the liar disagrees alone.
    let obs = median.fetch(&FeedId::ETH_USD).await?;
    println!("median of four, one lying: {} (from {})", obs.price, obs.source);
    if obs.price != Price::parse("3005.1", 8)? {
        return Err(format!("the median should be 3005.1, got {}", obs.price).into());
    }

    // The honest exchange goes down: two honest answers and a lie are not three that agree.
    tickers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert("honest".into(), Err(StatusCode::SERVICE_UNAVAILABLE));
    let down = honest.fetch(&FeedId::ETH_USD).await.err().ok_or("the exchange is down, yet it answered")?;
    println!("the honest exchange, down: {down}");
    if !down.is_unreachable() || !down.to_string().contains("HTTP 503") {
        return Err(format!("a 503 should be Unreachable naming the status, got: {down}").into());
    }
    let refused =
        median.fetch(&FeedId::ETH_USD).await.err().ok_or("the median guessed with a lie and an outage")?;
    println!("median with a lie and an outage: {refused}");
    if !matches!(refused, SourceError::Manipulated { .. }) {
        return Err(format!("expected a Manipulated refusal, got: {refused}").into());
    }

    // A garbled answer and a feed without a symbol, as the engine and its logs would see them.
    tickers.lock().unwrap_or_else(|p| p.into_inner()).insert("honest".into(), Ok("3,012.50"));
    let garbled = honest.fetch(&FeedId::ETH_USD).await.err().ok_or("a garbled price was accepted")?;
    println!("a garbled price: {garbled}");
    if !matches!(garbled, SourceError::Invalid { check: "ticker price", .. }) {
        return Err(format!("expected an Invalid ticker price, got: {garbled}").into());
    }
    let btc =
        honest.fetch(&FeedId::new("BTC/USD")).await.err().ok_or("BTC/USD has no symbol, yet it answered")?;
    println!("an unknown feed: {btc}");
    if !matches!(btc, SourceError::UnsupportedFeed { .. }) {
        return Err(format!("expected UnsupportedFeed, got: {btc}").into());
    }
    println!("the median absorbed one lying source and refused a lie plus an outage");
    Ok(())
}
