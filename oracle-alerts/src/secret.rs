//! Secrets the channels hold: a bot token, a webhook URL.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string: zeroed on drop, never printed (`Debug` and `Display` say `<redacted>`).
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret (and of its non-trivial pieces, such as a
    /// webhook token inside its URL) replaced by `<redacted>`: a last line of defence for text
    /// that came from a library's error.
    pub(crate) fn scrub(&self, text: &str, pieces: &[&str]) -> String {
        let mut out = text.to_owned();
        for piece in std::iter::once(self.expose()).chain(pieces.iter().copied()) {
            // Short pieces would redact ordinary words; real tokens are long.
            if piece.len() >= 8 {
                out = out.replace(piece, "<redacted>");
            }
        }
        out
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("123456:ABCDEF-token");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.scrub("url /bot123456:ABCDEF-token/sendMessage", &[]), "url /bot<redacted>/sendMessage");
        assert_eq!(s.scrub("a b", &["b"]), "a b", "short pieces are left alone");
    }
}
