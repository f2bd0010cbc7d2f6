//! The signing key of a command, from the flags, the environment or a prompt.

use alloy::signers::local::PrivateKeySigner;
use oracle_core::evm::keys::{KeySource, PasswordSource, load_signer};
use zeroize::Zeroizing;

use crate::{CliError, KeyArgs};

/// The environment variable holding the signing key's hex text.
pub(crate) const KEY_VAR: &str = "ORACLE_CLI_PRIVATE_KEY";

/// Where the key comes from, in this order: `--keystore` (password from `--password-file` or a
/// prompt), `--key-file`, `--private-key` (only with `--allow-key-argument`),
/// `ORACLE_CLI_PRIVATE_KEY`.
pub(crate) fn source(args: &KeyArgs) -> Result<KeySource, CliError> {
    if let Some(path) = &args.keystore {
        let password = match &args.password_file {
            Some(file) => PasswordSource::File(file.clone()),
            None => {
                let prompt = format!("password for {}: ", path.display());
                let typed = rpassword::prompt_password(prompt).map_err(|e| {
                    CliError::Usage(format!(
                        "cannot prompt for the keystore password ({e}): give --password-file FILE (mode 600)"
                    ))
                })?;
                PasswordSource::Value(Zeroizing::new(typed))
            }
        };
        return Ok(KeySource::Keystore { path: path.clone(), password });
    }
    if let Some(path) = &args.key_file {
        return Ok(KeySource::File(path.clone()));
    }
    if let Some(key) = &args.private_key {
        if !args.allow_key_argument {
            return Err(CliError::KeyOnCommandLine);
        }
        return Ok(KeySource::Env(Zeroizing::new(key.clone())));
    }
    match std::env::var(KEY_VAR) {
        Ok(text) if !text.trim().is_empty() => Ok(KeySource::Env(Zeroizing::new(text))),
        _ => Err(CliError::NoKey),
    }
}

/// Loads the signer (decrypting a keystore off the async threads).
pub(crate) async fn signer(args: &KeyArgs) -> Result<PrivateKeySigner, CliError> {
    let source = source(args)?;
    tokio::task::spawn_blocking(move || load_signer(&source))
        .await
        .map_err(|e| CliError::Usage(format!("loading the key stopped: {e}")))?
        .map_err(CliError::from)
}
