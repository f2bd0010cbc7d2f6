//! The in-flight journal: the one update a submitter has sent and not yet seen resolved, kept in
//! a small JSON file so that it survives the process.
//!
//! Written *before* every broadcast (the hash is known once the transaction is signed), rewritten
//! before every replacement, removed once the nonce is resolved (mined, reverted or used by
//! someone else). A bot restarted after `kill -9`, or another bot on this host sharing the state
//! directory and the key, reads it and follows the transaction instead of sending a second one.
//!
//! Why a file and not an embedded database (sled, redb, SQLite): there is one record of a few
//! hundred bytes per target, written a few times per update. An atomic write (temporary file,
//! fsync, rename, fsync of the directory) is all the durability it needs, it costs no dependency,
//! and an operator can read or delete it with `cat` and `rm`. See docs/decisions.md.
//!
//! Bots on *other* hosts with the same key never see this file; they are covered on chain: a
//! new update always takes the lowest unmined nonce, replacing whatever is pending there.

use std::{
    fs::{File, OpenOptions},
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{FeedId, PendingUpdate, Price, PriceUpdate};

/// The format's version; a file of another version is moved aside, never misread.
const VERSION: u32 = 1;

/// Why the journal could not be read or written. Never fatal to a tick: without the journal,
/// the chain-side rule (always the lowest unmined nonce) still prevents a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in-flight journal {path}: {reason}")]
pub struct JournalError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    version: u32,
    chain_id: u64,
    from: String,
    oracle: String,
    nonce: u64,
    /// Every hash sent for the nonce, oldest first; the last is the latest.
    hashes: Vec<String>,
    prices: Vec<EntryPrice>,
    /// Wei per gas, as decimal strings (JSON numbers lose precision past 2^53).
    fee_cap: String,
    max_fee_per_gas: String,
    max_priority_fee_per_gas: String,
    first_sent_at_ms: u64,
    sent_at_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryPrice {
    feed: String,
    mantissa: String,
    decimals: u8,
}

/// The journal of one (chain, sender, oracle).
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    path: PathBuf,
    chain_id: u64,
    from: Address,
    oracle: Address,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms)).unwrap_or(UNIX_EPOCH)
}

impl Journal {
    /// The journal in `dir` for updates from `from` to `oracle` on chain `chain_id`.
    pub(crate) fn new(dir: &Path, chain_id: u64, from: Address, oracle: Address) -> Self {
        let path = dir.join(format!("inflight-{chain_id}-{from:#x}-{oracle:#x}.json"));
        Self { path, chain_id, from, oracle }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, reason: impl Into<String>) -> JournalError {
        JournalError { path: self.path.clone(), reason: reason.into() }
    }

    /// The remembered update, if any. A file that cannot be understood is moved aside (to
    /// `<file>.unreadable-<ms>`, kept for the operator) and reported once.
    pub(crate) fn load(&self) -> Result<Option<PendingUpdate>, JournalError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(format!("cannot read: {e}"))),
        };
        match self.parse(&bytes) {
            Ok(p) => Ok(Some(p)),
            Err(reason) => {
                let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                let aside = self.path.with_extension(format!("unreadable-{nanos}"));
                let moved = std::fs::rename(&self.path, &aside).map_or_else(
                    |e| format!("could not move it aside: {e}"),
                    |()| format!("moved to {}", aside.display()),
                );
                Err(self.error(format!("{reason}; {moved}")))
            }
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<PendingUpdate, String> {
        let e: Entry = serde_json::from_slice(bytes).map_err(|e| format!("not a journal entry: {e}"))?;
        if e.version != VERSION {
            return Err(format!("version {} (this build reads {VERSION})", e.version));
        }
        let address = |what: &str, v: &str| -> Result<Address, String> {
            v.parse().map_err(|_| format!("`{what}` is not an address: {v:?}"))
        };
        if e.chain_id != self.chain_id
            || address("from", &e.from)? != self.from
            || address("oracle", &e.oracle)? != self.oracle
        {
            return Err(format!(
                "written for chain {} from {} to {}, not this submitter's",
                e.chain_id, e.from, e.oracle
            ));
        }
        let wei = |what: &str, v: &str| -> Result<u128, String> {
            v.parse().map_err(|_| format!("`{what}` is not a wei amount: {v:?}"))
        };
        let mut hashes = e
            .hashes
            .iter()
            .map(|h| h.parse::<B256>().map_err(|_| format!("`hashes` holds {h:?}, not a transaction hash")))
            .collect::<Result<Vec<_>, _>>()?;
        let tx_hash = hashes.pop().ok_or("`hashes` is empty")?;
        let prices = e
            .prices
            .iter()
            .map(|p| {
                let mantissa: U256 = p
                    .mantissa
                    .parse()
                    .map_err(|_| format!("price mantissa {:?} is not a number", p.mantissa))?;
                let price =
                    Price::new(mantissa, p.decimals).map_err(|err| format!("price of {}: {err}", p.feed))?;
                Ok((FeedId::new(p.feed.clone()), price))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(PendingUpdate {
            tx_hash,
            replaced: hashes,
            nonce: e.nonce,
            update: PriceUpdate { prices, max_fee_per_gas: wei("feeCap", &e.fee_cap)? },
            max_fee_per_gas: wei("maxFeePerGas", &e.max_fee_per_gas)?,
            max_priority_fee_per_gas: wei("maxPriorityFeePerGas", &e.max_priority_fee_per_gas)?,
            first_sent_at: time(e.first_sent_at_ms),
            sent_at: time(e.sent_at_ms),
        })
    }

    /// Replaces the journal with `pending`, durably: temporary file, fsync, rename, fsync of the
    /// directory. A reader sees the old entry or the new one, never half of one.
    pub(crate) fn store(&self, pending: &PendingUpdate) -> Result<(), JournalError> {
        let mut hashes: Vec<String> = pending.replaced.iter().map(|h| h.to_string()).collect();
        hashes.push(pending.tx_hash.to_string());
        let entry = Entry {
            version: VERSION,
            chain_id: self.chain_id,
            from: self.from.to_string(),
            oracle: self.oracle.to_string(),
            nonce: pending.nonce,
            hashes,
            prices: pending
                .update
                .prices
                .iter()
                .map(|(feed, p)| EntryPrice {
                    feed: feed.as_str().to_owned(),
                    mantissa: p.mantissa().to_string(),
                    decimals: p.decimals(),
                })
                .collect(),
            fee_cap: pending.update.max_fee_per_gas.to_string(),
            max_fee_per_gas: pending.max_fee_per_gas.to_string(),
            max_priority_fee_per_gas: pending.max_priority_fee_per_gas.to_string(),
            first_sent_at_ms: ms(pending.first_sent_at),
            sent_at_ms: ms(pending.sent_at),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&entry).map_err(|e| self.error(format!("encoding: {e}")))?;
        bytes.push(b'\n');
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&dir).map_err(|e| self.error(format!("creating {}: {e}", dir.display())))?;
        let tmp = self.path.with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.error(format!("cannot write: {e}")));
        }
        // Best effort: some filesystems refuse to sync a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Forgets the entry of `nonce` (an entry of another nonce is newer and stays).
    pub(crate) fn clear(&self, nonce: u64) -> Result<(), JournalError> {
        match self.load() {
            Ok(Some(p)) if p.nonce != nonce => return Ok(()),
            Ok(None) => return Ok(()),
            Ok(Some(_)) | Err(_) => {}
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error(format!("cannot remove: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> PendingUpdate {
        let update = PriceUpdate {
            prices: vec![
                (FeedId::ETH_USD, Price::parse("3245.67", 8).unwrap()),
                (FeedId::ELIZAOS_USD, Price::parse("0.0842", 8).unwrap()),
            ],
            max_fee_per_gas: u128::MAX,
        };
        let mut p = PendingUpdate::new(B256::repeat_byte(2), 7, update);
        p.replaced = vec![B256::repeat_byte(1)];
        p.max_fee_per_gas = 1_100_000_001;
        p.max_priority_fee_per_gas = 3;
        p.first_sent_at = time(ms(p.first_sent_at));
        p.sent_at = time(ms(p.sent_at));
        p
    }

    #[test]
    fn round_trips_and_clears_only_its_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), 31337, Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
        assert_eq!(j.load().unwrap(), None);
        let p = pending();
        j.store(&p).unwrap();
        assert_eq!(j.load().unwrap(), Some(p.clone()));
        j.clear(6).unwrap();
        assert!(j.load().unwrap().is_some(), "another nonce's entry stays");
        j.clear(7).unwrap();
        assert_eq!(j.load().unwrap(), None);
        // Another submitter's journal is another file.
        let other = Journal::new(dir.path(), 1, Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
        assert_ne!(other.path(), j.path());
    }

    #[test]
    fn garbage_is_moved_aside_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), 1, Address::ZERO, Address::ZERO);
        for garbage in [&b"{\"version\":1,"[..], b"[]", b"{\"version\":2}", b"\xff\xfe"] {
            std::fs::write(j.path(), garbage).unwrap();
            let err = j.load().unwrap_err();
            assert!(err.to_string().contains("inflight-1-"), "{err}");
            assert!(err.reason.contains("moved to"), "{err}");
            assert_eq!(j.load().unwrap(), None, "the garbage is out of the way");
        }
        let kept = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(kept, 4, "every unreadable file is kept for the operator");
    }
}
