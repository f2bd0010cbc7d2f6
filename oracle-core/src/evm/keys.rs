//! Loading a signing key from where operators keep it: an environment variable, a file only its
//! owner can read, or an encrypted Ethereum keystore (the v3 JSON that `cast wallet new`,
//! `cast wallet import` and geth write) with its password from a file or a prompt.
//!
//! The key never appears in a `Debug` output or an error: errors name where the key came from
//! and what to do, never its text.
//!
//! ```no_run
//! use oracle_core::evm::keys::{KeySource, PasswordSource, load_signer};
//! # fn demo() -> Result<(), oracle_core::evm::keys::KeyError> {
//! let source = KeySource::Keystore {
//!     path: "/etc/oracle/owner.json".into(),
//!     password: PasswordSource::File("/etc/oracle/owner.password".into()),
//! };
//! let signer = load_signer(&source)?;
//! println!("signing as {}", signer.address());
//! # Ok(()) }
//! ```

use std::{
    fmt,
    io::Read as _,
    path::{Path, PathBuf},
};

use alloy::signers::local::{LocalSignerError, PrivateKeySigner};
use zeroize::Zeroizing;

/// Where a private key comes from.
pub enum KeySource {
    /// The key's text itself (64 hex digits, optional `0x`), as read from an environment variable.
    Env(Zeroizing<String>),
    /// A file holding the key's text; refused when its group or others may read it.
    File(PathBuf),
    /// An encrypted Ethereum v3 keystore.
    Keystore {
        /// The keystore's JSON file.
        path: PathBuf,
        /// Where its password comes from.
        password: PasswordSource,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(_) => f.write_str("Env(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Keystore { path, password } => {
                f.debug_struct("Keystore").field("path", path).field("password", password).finish()
            }
        }
    }
}

/// Where a keystore's password comes from.
pub enum PasswordSource {
    /// A file holding the password (one trailing newline is dropped); refused when its group or
    /// others may read it.
    File(PathBuf),
    /// The password itself (typed at a prompt).
    Value(Zeroizing<String>),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

/// Why a key could not be loaded. Never contains the key or the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key or password file may be read by its group or by others.
    #[error(
        "{path} is readable by other users (mode {mode:04o}): a key or password file must be readable by its owner only; run `chmod 600 {path}`",
        path = path.display()
    )]
    FileReadableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key, password or keystore file could not be read.
    #[error("cannot read {path}: {source}; check the path and that this user may read it", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a private key.
    #[error(
        "the key from {origin} is not a private key: expected 64 hex digits (32 bytes, optional 0x prefix) of a valid secp256k1 key"
    )]
    Malformed {
        /// Where the key came from (never the key).
        origin: String,
    },
    /// The keystore is not a usable v3 keystore.
    #[error(
        "{path} is not a usable Ethereum v3 keystore ({reason}); give the JSON file `cast wallet new` or geth wrote",
        path = path.display()
    )]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The password does not decrypt the keystore.
    #[error("wrong password for the keystore {path}: check the password (file) and try again", path = path.display())]
    WrongPassword {
        /// The keystore file.
        path: PathBuf,
    },
}

/// Loads the signer a [`KeySource`] names.
///
/// Decrypting a keystore runs its key-derivation function (scrypt or pbkdf2): call this from a
/// blocking context (or `spawn_blocking`) in async code.
pub fn load_signer(source: &KeySource) -> Result<PrivateKeySigner, KeyError> {
    match source {
        KeySource::Env(text) => parse(text, "the environment"),
        KeySource::File(path) => {
            let text = read_private(path)?;
            parse(&text, &format!("the file {}", path.display()))
        }
        KeySource::Keystore { path, password } => {
            let password = match password {
                PasswordSource::Value(v) => v.clone(),
                PasswordSource::File(p) => {
                    let mut text = read_private(p)?;
                    let trimmed = text.trim_end_matches(['\n', '\r']).len();
                    text.truncate(trimmed);
                    text
                }
            };
            decrypt(path, &password)
        }
    }
}

fn parse(text: &str, origin: &str) -> Result<PrivateKeySigner, KeyError> {
    super::parse_private_key(text).map_err(|_| KeyError::Malformed { origin: origin.to_owned() })
}

fn decrypt(path: &Path, password: &str) -> Result<PrivateKeySigner, KeyError> {
    PrivateKeySigner::decrypt_keystore(path, password.as_bytes()).map_err(|e| match e {
        LocalSignerError::IoError(source) => KeyError::Read { path: path.to_owned(), source },
        LocalSignerError::EthKeystoreError(ks) => match ks {
            eth_keystore::KeystoreError::MacMismatch => KeyError::WrongPassword { path: path.to_owned() },
            other => KeyError::Keystore { path: path.to_owned(), reason: other.to_string() },
        },
        other => KeyError::Keystore { path: path.to_owned(), reason: other.to_string() },
    })
}

/// Reads a file that only its owner may read, refusing it otherwise. The mode is checked on the
/// opened file, so a file swapped in between cannot slip through.
fn read_private(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let read_err = |source| KeyError::Read { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata().map_err(read_err)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::FileReadableByOthers { path: path.to_owned(), mode });
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text).map_err(read_err)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn assert_no_key(text: &str) {
        assert!(!text.contains(&KEY[..16]), "the key leaked: {text}");
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604] {
            let path = write(dir.path(), "key", &format!("0x{KEY}\n"), mode);
            let err = load_signer(&KeySource::File(path.clone())).unwrap_err();
            assert!(
                matches!(&err, KeyError::FileReadableByOthers { path: p, mode: m } if *p == path && *m == mode),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(text.contains("chmod 600"), "{text}");
            assert_no_key(&text);
        }
    }

    #[test]
    fn an_owner_only_key_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key", &format!("0x{KEY}\n"), 0o600);
        let signer = load_signer(&KeySource::File(path.clone())).unwrap();
        assert_eq!(signer.address().to_string(), ADDRESS);
        let path = write(dir.path(), "key2", KEY, 0o400);
        assert_eq!(load_signer(&KeySource::File(path)).unwrap().address().to_string(), ADDRESS);
    }

    #[test]
    fn keys_from_the_environment_and_malformed_keys_are_never_echoed() {
        let signer = load_signer(&KeySource::Env(Zeroizing::new(format!(" 0x{KEY} ")))).unwrap();
        assert_eq!(signer.address().to_string(), ADDRESS);
        let source = KeySource::Env(Zeroizing::new(format!("{KEY}00")));
        assert_no_key(&format!("{source:?}"));
        let err = load_signer(&source).unwrap_err();
        assert!(matches!(&err, KeyError::Malformed { origin } if origin == "the environment"), "{err:?}");
        assert_no_key(&err.to_string());
        assert_no_key(&format!("{err:?}"));

        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key", &format!("{KEY}zz"), 0o600);
        let err = load_signer(&KeySource::File(path)).unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
        assert_no_key(&err.to_string());

        let missing = dir.path().join("missing");
        let err = load_signer(&KeySource::File(missing.clone())).unwrap_err();
        assert!(matches!(&err, KeyError::Read { path, .. } if *path == missing), "{err:?}");
    }

    #[test]
    fn a_keystore_round_trips_and_a_wrong_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = alloy::primitives::hex::decode(KEY).unwrap();
        let (written, _) = PrivateKeySigner::encrypt_keystore(
            dir.path(),
            &mut rand::thread_rng(),
            &key,
            "correct horse",
            Some("owner.json"),
        )
        .unwrap();
        assert_eq!(written.address().to_string(), ADDRESS);
        let path = dir.path().join("owner.json");

        let by_value = KeySource::Keystore {
            path: path.clone(),
            password: PasswordSource::Value(Zeroizing::new("correct horse".into())),
        };
        assert!(!format!("{by_value:?}").contains("correct horse"));
        assert_eq!(load_signer(&by_value).unwrap().address().to_string(), ADDRESS);

        let password_file = write(dir.path(), "password", "correct horse\n", 0o600);
        let by_file =
            KeySource::Keystore { path: path.clone(), password: PasswordSource::File(password_file) };
        assert_eq!(load_signer(&by_file).unwrap().address().to_string(), ADDRESS);

        let open_password = write(dir.path(), "password2", "correct horse\n", 0o644);
        let err = load_signer(&KeySource::Keystore {
            path: path.clone(),
            password: PasswordSource::File(open_password),
        })
        .unwrap_err();
        assert!(matches!(err, KeyError::FileReadableByOthers { .. }), "{err:?}");

        let wrong = KeySource::Keystore {
            path: path.clone(),
            password: PasswordSource::Value(Zeroizing::new("battery staple".into())),
        };
        let err = load_signer(&wrong).unwrap_err();
        assert!(matches!(&err, KeyError::WrongPassword { path: p } if *p == path), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("wrong password") && !text.contains("battery staple"), "{text}");
        assert_no_key(&text);

        let garbage = write(dir.path(), "garbage.json", "{\"not\": \"a keystore\"}", 0o600);
        let err = load_signer(&KeySource::Keystore {
            path: garbage,
            password: PasswordSource::Value(Zeroizing::new("x".into())),
        })
        .unwrap_err();
        assert!(matches!(err, KeyError::Keystore { .. }), "{err:?}");
    }
}
