//! Property tests of what electors read back from storage another process can write: the file
//! elector's lock record (the old bot's JSON shape and the new one, truncated and garbage
//! files), the Redis leader value and the etcd token offset. Any bytes give a value or an error
//! naming the field, never a panic; what an elector writes reads back as itself; and an error
//! quotes at most a short piece of what it found.
//!
//! Cases per property: `PROPTEST_CASES` (default 256); see docs/benchmarks.md.

use proptest::prelude::*;

use crate::file::Record;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A JSON value of any type, as text.
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        Just("1e400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1.5".to_owned()),
        Just("0".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        "\"[ -~]{0,16}\"",
        Just("[]".to_owned()),
        Just("{}".to_owned()),
    ]
}

const FIELDS: &[&str] = &["botId", "timestamp", "token", "leaseMs", "released", "deposed", "other"];

/// Lock files: the old shape, the new one, with fields of any type, truncated, or any bytes.
fn lock_file() -> impl Strategy<Value = Vec<u8>> {
    let good = (
        "[a-z0-9:-]{1,12}",
        any::<u64>(),
        prop::option::of(any::<u64>()),
        prop::option::of(1u64..u64::MAX),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, ts, token, lease, released, deposed)| {
            let mut fields =
                vec![format!("\"botId\":{}", serde_json::Value::String(id)), format!("\"timestamp\":{ts}")];
            fields.extend(token.map(|t| format!("\"token\":{t}")));
            fields.extend(lease.map(|l| format!("\"leaseMs\":{l}")));
            if released {
                fields.push("\"released\":true".into())
            }
            if deposed {
                fields.push("\"deposed\":true".into())
            }
            format!("{{{}}}\n", fields.join(","))
        });
    let any_fields =
        prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..7).prop_map(|f| {
            let fields: Vec<String> = f.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", fields.join(","))
        });
    prop_oneof![
        2 => good.clone().prop_map(String::into_bytes),
        2 => any_fields.prop_map(String::into_bytes),
        1 => (good, any::<prop::sample::Index>()).prop_map(|(g, i)| {
            let mut bytes = g.into_bytes();
            bytes.truncate(i.index(bytes.len()));
            bytes
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (0usize..200_000).prop_map(|n| vec![b'x'; n]),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_lock_file_is_a_record_or_names_what_is_wrong(bytes in lock_file()) {
        match Record::parse(&bytes) {
            Ok(record) => prop_assert_eq!(Record::parse(&record.to_json()), Ok(record.clone())),
            Err(what) => {
                prop_assert!(what.len() < 200, "a short message: {what}");
                prop_assert!(!what.contains('\n'), "one line: {what}");
            }
        }
    }

    #[test]
    fn every_record_written_reads_back(id in "\\PC{1,20}", ts in any::<u64>(), token in any::<u64>(), lease in prop::option::of(1u64..u64::MAX), released in any::<bool>(), deposed in any::<bool>()) {
        let record = Record::for_tests(id, ts, token, lease, released, deposed);
        prop_assert_eq!(Record::parse(&record.to_json()), Ok(record.clone()));
        // Expiry arithmetic on any record never panics.
        let _ = record.expiry_for_tests(u64::MAX);
    }

    #[test]
    fn any_redis_value_is_a_holder_or_a_short_error(value in prop_oneof!["\\PC{0,40}", "[a-z:]{0,10}:[0-9-]{0,25}", (0usize..100_000).prop_map(|n| ":".repeat(n))]) {
        match crate::redis::parse_holder(&value) {
            Ok((holder, token)) => {
                prop_assert!(!holder.is_empty());
                let (h, t) = value.rsplit_once(':').unwrap_or_default();
                prop_assert_eq!((h, t.parse::<u64>().ok()), (holder, Some(token)));
            }
            Err(what) => prop_assert!(what.chars().count() < 120, "{what}"),
        }
    }

    #[test]
    fn every_redis_value_written_reads_back(id in "\\PC{1,30}", token in any::<u64>()) {
        let value = format!("{id}:{token}");
        prop_assert_eq!(crate::redis::parse_holder(&value), Ok((id.as_str(), token)));
    }
}

#[cfg(feature = "etcd")]
proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_etcd_offset_value_is_a_number_or_a_short_error(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[ 0-9]{0,30}".prop_map(String::into_bytes),
        (0usize..100_000).prop_map(|n| vec![b'9'; n]),
    ]) {
        match crate::etcd::parse_offset(&bytes) {
            Ok(offset) => prop_assert_eq!(String::from_utf8_lossy(&bytes).trim().parse::<u64>(), Ok(offset)),
            Err(found) => prop_assert!(found.chars().count() < 60, "{found}"),
        }
    }

    #[test]
    fn every_etcd_offset_written_reads_back(offset in any::<u64>()) {
        prop_assert_eq!(crate::etcd::parse_offset(offset.to_string().as_bytes()), Ok(offset));
    }
}

/// Found while writing these properties: the Redis leader value was quoted whole in the error
/// (and so in every log line of every round), a megabyte of garbage included.
#[test]
fn a_megabyte_of_garbage_in_the_redis_leader_key_is_quoted_in_40_characters() {
    let garbage = "x".repeat(1 << 20);
    let err = crate::redis::parse_holder(&garbage).unwrap_err();
    assert!(err.len() < 100, "{} bytes", err.len());
    assert!(err.ends_with('…'), "{err}");
}
