//! RFC 6901 JSON pointers over raw JSON text, so the value found keeps its exact digits.
//!
//! `serde_json::Value` stores a non-integer number as an `f64`, which would round
//! `3245.123456789012345678` before `Price::parse` ever saw it. Walking the document as
//! `RawValue`s instead keeps every value as the text the server sent.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// Why a pointer found no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PointerError {
    /// The document (or a part of it) is not JSON.
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    /// The pointer is not an RFC 6901 pointer.
    #[error("{0:?} is not a JSON pointer (it must be empty or start with '/')")]
    BadPointer(String),
    /// Nothing at the pointer.
    #[error("no value at {pointer:?}: {reason}")]
    Missing {
        /// The pointer up to and including the segment that failed.
        pointer: String,
        /// What was there instead.
        reason: String,
    },
}

/// The RFC 6901 unescaping of one reference token: `~1` is `/`, `~0` is `~`.
fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Checks that `pointer` is syntactically a JSON pointer.
pub(crate) fn validate(pointer: &str) -> Result<(), PointerError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(PointerError::BadPointer(pointer.to_owned()))
    }
}

/// The raw JSON text at `pointer` in `document` (surrounding whitespace removed).
pub(crate) fn resolve<'a>(document: &'a str, pointer: &str) -> Result<&'a str, PointerError> {
    validate(pointer)?;
    let mut current: &'a RawValue =
        serde_json::from_str(document).map_err(|e| PointerError::NotJson(e.to_string()))?;
    let mut walked = String::new();
    for token in pointer.split('/').skip(1) {
        walked.push('/');
        walked.push_str(token);
        let key = unescape(token);
        let text = current.get().trim_start();
        let missing = |reason: String| PointerError::Missing { pointer: walked.clone(), reason };
        current = if text.starts_with('{') {
            let object: BTreeMap<String, &'a RawValue> =
                serde_json::from_str(text).map_err(|e| PointerError::NotJson(e.to_string()))?;
            *object.get(&key).ok_or_else(|| missing(format!("the object has no member {key:?}")))?
        } else if text.starts_with('[') {
            let array: Vec<&'a RawValue> =
                serde_json::from_str(text).map_err(|e| PointerError::NotJson(e.to_string()))?;
            // Array indexes are decimal without leading zeros ("-" means past the end: never a value).
            let index = (key == "0" || (!key.starts_with('0') && !key.is_empty()))
                .then(|| key.parse::<usize>().ok())
                .flatten()
                .ok_or_else(|| missing(format!("{key:?} is not an array index")))?;
            *array.get(index).ok_or_else(|| missing(format!("the array has {} element(s)", array.len())))?
        } else {
            return Err(missing(format!("{} is not an object or array", short(text))));
        };
    }
    Ok(current.get().trim())
}

/// The start of a JSON text, for messages.
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#" {"data": {"price": "0.1234", "n": 3245.123456789012345678, "a/b": 1, "t~": 2,
        "list": [10, {"x": "y"}]}, "": 5 } "#;

    #[test]
    fn finds_values_with_their_exact_text() {
        assert_eq!(resolve(DOC, "/data/price").unwrap(), r#""0.1234""#);
        assert_eq!(resolve(DOC, "/data/n").unwrap(), "3245.123456789012345678");
        assert_eq!(resolve(DOC, "/data/a~1b").unwrap(), "1");
        assert_eq!(resolve(DOC, "/data/t~0").unwrap(), "2");
        assert_eq!(resolve(DOC, "/data/list/0").unwrap(), "10");
        assert_eq!(resolve(DOC, "/data/list/1/x").unwrap(), r#""y""#);
        assert_eq!(resolve(DOC, "/").unwrap(), "5");
        assert!(resolve(DOC, "").unwrap().starts_with('{'));
    }

    #[test]
    fn says_what_is_missing() {
        for (pointer, expected) in [
            ("/data/nope", "no member"),
            ("/data/list/2", "2 element(s)"),
            ("/data/list/01", "not an array index"),
            ("/data/list/-", "not an array index"),
            ("/data/price/x", "not an object or array"),
        ] {
            match resolve(DOC, pointer) {
                Err(e @ PointerError::Missing { .. }) => {
                    assert!(e.to_string().contains(expected), "{pointer}: {e}")
                }
                other => panic!("{pointer}: {other:?}"),
            }
        }
        assert!(matches!(resolve(DOC, "data"), Err(PointerError::BadPointer(_))));
        assert!(matches!(resolve("<html>", "/a"), Err(PointerError::NotJson(_))));
        assert!(matches!(resolve(r#"{"a": 1"#, "/a"), Err(PointerError::NotJson(_))));
        assert_eq!(short(&"x".repeat(50)), format!("{}…", "x".repeat(40)));
    }
}
