//! Property tests of the JSON pointer and the HTTP JSON source's value parsing: any document and
//! any pointer give a value or a typed error, never a panic; a value found is the exact text of
//! the member; a number is parsed exactly or refused, and no error quotes the URL's secrets.
//!
//! Cases per property: `PROPTEST_CASES` (default 256); see docs/benchmarks.md.

use oracle_core::{FeedId, SourceError};
use proptest::prelude::*;

use super::{HttpJsonSource, pointer};
use crate::proptest_config as config;

const SECRET: &str = "k3y-5ecret-9f1a";

/// JSON-ish text: valid documents, truncated ones, and garbage.
fn document() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?".prop_map(|s| s),
        "\"[^\"\\\\]{0,20}\"".prop_map(|s| s),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"\\u00e9\\ud83d\\ude00\"".to_owned()),
    ];
    let value = leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z~/]{0,4}", inner), 0..5).prop_map(|v| {
                let members: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k))).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    prop_oneof![
        4 => value.clone(),
        1 => (value, any::<prop::sample::Index>()).prop_map(|(v, i)| {
            // Truncated at any character boundary.
            let cut = v.char_indices().map(|(i, _)| i).nth(i.index(v.chars().count().max(1))).unwrap_or(0);
            v[..cut].to_owned()
        }),
        1 => ".*",
        1 => (1usize..3000).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
    ]
}

fn pointer_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof!["[a-z~/]{0,4}", "[0-9]{1,3}", Just("-".to_owned()), Just("01".to_owned())],
            0..5
        )
        .prop_map(|v| v.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()),
        ".{0,12}",
    ]
}

/// Sources at a few decimals, built once (an HTTP client with its TLS roots is slow to build).
static SOURCES: std::sync::LazyLock<Vec<HttpJsonSource>> = std::sync::LazyLock::new(|| {
    [0u8, 2, 8, 18, 36]
        .into_iter()
        .filter_map(|decimals| {
            let url = format!("https://user:{SECRET}@api.example.com/v2/{SECRET}/price?key={SECRET}");
            HttpJsonSource::builder(FeedId::ETH_USD, url).pointer("/p").decimals(decimals).build().ok()
        })
        .collect()
});

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_document_and_pointer_resolve_or_fail_with_a_typed_error(doc in document(), ptr in pointer_text()) {
        match pointer::resolve(&doc, &ptr) {
            Ok(found) => {
                prop_assert!(ptr.is_empty() || ptr.starts_with('/'));
                // What is found is itself a JSON value, with its exact text.
                prop_assert!(serde_json::from_str::<&serde_json::value::RawValue>(found).is_ok(), "{found:?}");
                prop_assert!(doc.contains(found));
            }
            Err(pointer::PointerError::BadPointer(p)) => prop_assert!(!p.is_empty() && !p.starts_with('/')),
            Err(pointer::PointerError::NotJson(_) | pointer::PointerError::Missing { .. }) => {}
        }
    }

    #[test]
    fn a_member_is_found_with_its_exact_text(key in "[a-z~/]{0,6}", number in "-?(0|[1-9][0-9]{0,39})\\.[0-9]{1,40}") {
        let doc = format!("{{\"other\": 1, {}: {{\"x\": {number}}}}}", serde_json::Value::String(key.clone()));
        let ptr = format!("/{}/x", key.replace('~', "~0").replace('/', "~1"));
        prop_assert_eq!(pointer::resolve(&doc, &ptr), Ok(number.as_str()));
    }

    #[test]
    fn any_value_text_is_a_price_or_a_typed_refusal(raw in prop_oneof![
        "-?[0-9]{0,80}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{1,3})?",
        "\"[ -~]{0,40}\"",
        "\"[0-9٠-٩０-９]{1,10}\"",
        ".{0,40}",
    ], which in 0usize..5) {
        let Some(source) = SOURCES.get(which) else { return Err(TestCaseError::fail("source")) };
        let decimals = source.decimals;
        match source.parse_value(&raw) {
            Ok(price) => {
                prop_assert!(!price.is_zero());
                prop_assert_eq!(price.decimals(), decimals);
                let text = serde_json::from_str::<String>(&raw).unwrap_or_else(|_| raw.clone());
                prop_assert_eq!(oracle_core::Price::parse(&text, decimals), Ok(price));
            }
            Err(e @ (SourceError::Invalid { .. } | SourceError::NonPositive { .. })) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(SECRET), "{shown}");
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
