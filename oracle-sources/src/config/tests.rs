use std::time::Duration;

use super::*;

const SAMPLE: &str = include_str!("../../examples/feeds.toml");

fn uniswap_leg(config: &SourceConfig) -> &UniswapV3Spec {
    let Some(SourceSpec::Composite(composite)) = config.feeds.get(&FeedId::ELIZAOS_USD) else {
        panic!("ELIZAOS/USD is a composite: {config:?}");
    };
    let SourceSpec::UniswapV3(spec) = &composite.a.source else { panic!("leg a is a pool: {composite:?}") };
    spec
}

#[test]
fn the_sample_parses() {
    let config = SourceConfig::from_toml_str(SAMPLE).unwrap();
    assert_eq!(config.feeds.len(), 3);
    let Some(SourceSpec::Chainlink(eth)) = config.feeds.get(&FeedId::ETH_USD) else { panic!("{config:?}") };
    assert_eq!(eth.address, BASE_CHAINLINK_ETH_USD);
    assert_eq!(eth.max_age_s, Some(3600));
    let pool = uniswap_leg(&config);
    assert_eq!(pool.factory, Some(BASE_UNISWAP_V3_FACTORY));
    assert_eq!(pool.quote, Some(BASE_WETH));
    assert_eq!(pool.fee_tiers.as_deref(), Some(&[500, 3000, 10_000][..]));
    assert_eq!(pool.mode, PriceMode::Twap);
    assert_eq!(pool.min_depth, Some(Depth(Price::whole(50))));
    let Some(SourceSpec::Median(btc)) = config.feeds.get(&FeedId::new("BTC/USD")) else {
        panic!("{config:?}")
    };
    assert_eq!(btc.sources.len(), 3);
    assert_eq!(btc.min_sources, Some(2));
    // Debug output of the config hides the HTTP source's key.
    assert!(!format!("{config:?}").contains("YOUR_KEY"));
    // Round trip through TOML.
    let again = SourceConfig::from_toml_str(&config.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, config);
    // Builds without a chain connection (nothing is read yet) for the HTTP/fixed median.
    let btc_only = SourceConfig {
        feeds: config
            .feeds
            .iter()
            .filter(|(f, _)| f.as_str() == "BTC/USD")
            .map(|(f, s)| (f.clone(), s.clone()))
            .collect(),
    };
    let sources = btc_only.build(&Providers::none()).unwrap();
    assert_eq!(sources[&FeedId::new("BTC/USD")].name(), "median:BTC/USD");
    // On-chain sources need a provider.
    let err = config.build(&Providers::none()).err().unwrap().to_string();
    assert!(err.contains("needs a provider"), "{err}");
}

#[test]
fn typos_and_bad_values_are_errors() {
    for (text, expected) in [
        (
            "[feeds.\"X\"]\nkind = \"chainlnk\"\naddress = \"0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70\"",
            "chainlnk",
        ),
        (
            "[feeds.\"X\"]\nkind = \"chainlink\"\naddress = \"0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70\"\nmax_age = 5",
            "max_age",
        ),
        ("[feeds.\"X\"]\nkind = \"fixed\"\nprice = \"1\"\ndecimal = 8", "decimal"),
        ("[feeds.\"X\"]\nkind = \"uniswap_v3\"\ntoken = \"0x01\"", "token"),
        (
            "[feeds.\"X\"]\nkind = \"uniswap_v3\"\ntoken = \"0x4200000000000000000000000000000000000006\"\nmode = \"vwap\"",
            "vwap",
        ),
        (
            "[feeds.\"X\"]\nkind = \"uniswap_v3\"\ntoken = \"0x4200000000000000000000000000000000000006\"\nmin_depth = -1",
            "negative",
        ),
        (
            "[feeds.\"X\"]\nkind = \"uniswap_v3\"\ntoken = \"0x4200000000000000000000000000000000000006\"\nmin_liquidity = 1",
            "min_liquidity",
        ),
        ("[feeds.\"X\"]\nkind = \"fixed\"\nprice = \"1\"\n[other]\n", "other"),
    ] {
        let err = SourceConfig::from_toml_str(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}\n=> {err}");
    }
}

#[test]
fn build_checks_what_serde_cannot() {
    for (text, expected) in [
        ("[feeds.\"X\"]\nkind = \"fixed\"\nprice = \"0\"", "positive"),
        ("[feeds.\"X\"]\nkind = \"fixed\"\nprice = \"0.123\"\ndecimals = 2", "more fractional digits"),
        ("[feeds.\"X\"]\nkind = \"median\"\nsources = []", "no sources"),
        (
            "[feeds.\"X\"]\nkind = \"median\"\nmin_sources = 2\n[[feeds.\"X\".sources]]\nkind = \"fixed\"\nprice = \"1\"",
            "min_sources 2",
        ),
        (
            "[feeds.\"X\"]\nkind = \"http_json\"\nurl = \"http://h/?key=SECRET\"\npointer = \"a\"",
            "JSON pointer",
        ),
    ] {
        let config = SourceConfig::from_toml_str(text).unwrap();
        let err = config.build(&Providers::none()).err().unwrap().to_string();
        assert!(err.contains(expected), "{text}\n=> {err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}

#[test]
fn jeju_defaults_match_the_old_bot() {
    let token: Address = "0x000000000000000000000000000000000000e1a0".parse().unwrap();
    let config = jeju_defaults(token).chainlink_max_age(Duration::from_secs(600)).config();
    let pool = uniswap_leg(&config);
    assert_eq!(pool.factory, Some(BASE_UNISWAP_V3_FACTORY));
    assert_eq!(pool.quote, Some(BASE_WETH));
    assert_eq!(pool.token, token);
    assert_eq!(pool.mode, PriceMode::Twap);
    assert_eq!(pool.fee_tiers, None, "the defaults 500, 3000, 10000");
    let Some(SourceSpec::Composite(composite)) = config.feeds.get(&FeedId::ELIZAOS_USD) else { panic!() };
    assert_eq!(composite.a.feed, ELIZAOS_WETH);
    assert_eq!(composite.b.feed, FeedId::ETH_USD);
    let SourceSpec::Chainlink(eth) = &composite.b.source else { panic!() };
    assert_eq!((eth.address, eth.max_age_s), (BASE_CHAINLINK_ETH_USD, Some(600)));
    // Printable and parseable.
    let text = config.to_toml_string().unwrap();
    assert_eq!(SourceConfig::from_toml_str(&text).unwrap(), config, "{text}");
}

#[test]
fn errors_name_the_key() {
    let text = "[feeds.\"X\".a]\nfeed = \"A\"\nkind = \"uniswap_v3\"\ntoken = \"0x01\"";
    let text = format!(
        "[feeds.\"X\"]\nkind = \"composite\"\n{text}\n[feeds.\"X\".b]\nfeed = \"B\"\nkind = \"fixed\"\nprice = \"1\""
    );
    let err = SourceConfig::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("uniswap_v3 source") && err.contains("`token`"), "{err}");
    let err = SourceConfig::from_toml_str("[feeds.\"X\"]\nprice = \"1\"").unwrap_err().to_string();
    assert!(err.contains("missing `kind`"), "{err}");
}

#[test]
fn keys_in_urls_never_reach_an_error() {
    for text in [
        // A syntax error on the line that holds the key.
        "[feeds.\"X\"]\nkind = \"http_json\"\nurl = \"https://api.example.com/v2/SECRETKEY/price\" oops\n",
        // A value of the wrong type quoted back by serde.
        "[feeds.\"X\"]\nkind = \"http_json\"\nurl = \"https://api.example.com/v2/SECRETKEY/price\"\npointer = 5\n",
    ] {
        let err = SourceConfig::from_toml_str(text).unwrap_err().to_string();
        assert!(!err.contains("SECRETKEY"), "{err}");
        assert!(err.contains("line 3") || err.contains("line 4") || err.contains("pointer"), "{err}");
    }
}

#[test]
fn build_errors_name_the_setting_as_a_value() {
    let config = SourceConfig::from_toml_str("[feeds.\"X\"]\nkind = \"median\"\nsources = []").unwrap();
    let err = config.build(&Providers::none()).err().unwrap();
    assert!(matches!(err, Error::InvalidSetting { kind: "median", setting: "sources", .. }), "{err:?}");
}
