//! The file elector: bots on **one host** elect a leader through a lock file.
//!
//! # Where it works, and where it does not
//!
//! A file lock only coordinates processes that see the *same file on the same kernel*. It cannot
//! work:
//!
//! - **between Kubernetes pods**: each pod has its own `/tmp`, so every pod finds the lock free
//!   and leads. A shared volume does not fix it across nodes (advisory locks are per host);
//! - **between systemd units with `PrivateTmp=true`**: each unit gets a private `/tmp`, so the
//!   units never see each other's file;
//! - **between hosts** (including NFS and other network filesystems): `flock` is local to a host,
//!   and the expiry compares wall clocks of different machines.
//!
//! For any of those setups use the Redis elector ([`crate::redis`]) or the etcd elector (feature
//! `etcd`).
//!
//! # How it works
//!
//! The record is a small JSON file (default [`DEFAULT_LOCK_PATH`]):
//!
//! ```json
//! {"botId":"bot-1","timestamp":1732400000000,"token":7,"leaseMs":15000}
//! ```
//!
//! `botId` and `timestamp` (unix milliseconds of the last renewal) are the old bot's format, which
//! is still read: a record without `token` counts as token 0, without `leaseMs` as this elector's
//! lease duration. A released record keeps its token (the counter must survive) and carries
//! `"released": true`; that is how a release "deletes" the record.
//!
//! - Every read-modify-write runs under an exclusive advisory lock (`flock`, through
//!   [`std::fs::File::try_lock`]) on a sidecar file, `<path>.lock`. The sidecar is never
//!   replaced, so the lock stays meaningful while the record itself is replaced. Two bots on one
//!   host therefore never both acquire.
//! - Every write goes to a temporary file in the same directory, is flushed to disk and renamed
//!   over the record: a reader never sees half a record.
//! - A bot recognises its own record (same `botId` *and* token) when it renews; a record with
//!   another token is another incarnation, even under the same id.
//! - A record whose `timestamp` is older than its lease duration is taken over, with the log line
//!   `Previous leader <id> is dead, taking over`.
//! - The token is the record's counter plus one, and above any token this bot has seen or been
//!   told of: the engine reads a fenced oracle's highest token before its first round, so a
//!   deleted file (a `/tmp` cleared at boot) does not send tokens backwards. Still, do not delete
//!   the file while bots run: its counter is the fencing token's memory.
//! - A forced step-down marks the record `"deposed": true` and keeps its timestamp: the deposed
//!   leader's renewals fail (it stops and marks the record released at its next renewal), and
//!   nobody else acquires before that or before the lease runs out.
//! - A corrupt or unknown record is [`ElectionError::Corrupt`] naming the path and what is wrong;
//!   it is never overwritten. Remove the file by hand once no bot of the old version runs.
//!
//! Followers learn of a release by **polling** the record every 50 ms (or every renew interval if
//! shorter). A poll is one read of a ~100-byte file, works on every filesystem, and needs no
//! extra dependency; an inotify watcher (`notify`) would have to watch the whole directory
//! (the record is replaced by rename, which drops a watch on the file itself), sees every other
//! file's churn in `/tmp`, and misses changes made through bind mounts in other namespaces.
//! Crashed leaders are noticed when their lease runs out (see [`crate`]).
//!
//! The expiry compares wall-clock times: a clock step larger than `duration - renew_deadline`
//! can let a follower take over before the old leader stopped. Keep the host clock slewed, not
//! stepped (chrony, systemd-timesyncd do this by default).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use oracle_core::{ElectionError, FencingToken, LeaderInfo};
use serde_json::{Map, Value};

use crate::{
    LeaseConfig,
    state::{Attempt, Backend, Core, Renewal, Task, Waker},
};

/// The old bot's lock path, the default.
pub const DEFAULT_LOCK_PATH: &str = "/tmp/oracle-bot-leader.lock";

const BACKEND: &str = "file";

/// A leader elector on a lock file, for bots on one host. See the [module docs](self) for where
/// a file lock cannot work.
///
/// ```no_run
/// # async fn demo() -> Result<(), oracle_election::ElectionError> {
/// use oracle_election::{FileElector, LeaderElector, LeaseConfig, Leadership};
///
/// let elector = FileElector::new("/tmp/oracle-bot-leader.lock", "bot-1", LeaseConfig::default())?;
/// if let Leadership::Leader(lease) = elector.acquire_or_renew().await? {
///     println!("leading with token {}", lease.token);
/// }
/// elector.release().await?;
/// # Ok(()) }
/// ```
pub struct FileElector {
    core: Core<FileBackend>,
    path: PathBuf,
}

impl FileElector {
    /// An elector for bot `id` on the record at `path` (the sidecar lock is `<path>.lock`). Must be
    /// called inside a tokio runtime: it starts the task that follows releases.
    pub fn new(
        path: impl Into<PathBuf>,
        id: impl Into<String>,
        lease: LeaseConfig,
    ) -> Result<Self, ElectionError> {
        let path = path.into();
        let Some(name) = path.file_name() else {
            return Err(ElectionError::Config(format!("lock path {} has no file name", path.display())));
        };
        let mut guard_name = name.to_os_string();
        guard_name.push(".lock");
        let guard_path = path.with_file_name(guard_name);
        let poll = lease.renew_interval().min(Duration::from_millis(50));
        let backend = FileBackend { path: path.clone(), guard_path, lease, poll };
        Ok(Self { core: Core::new(backend, id.into(), lease)?, path })
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for FileElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileElector")
            .field("id", &self.core.id())
            .field("path", &self.path)
            .field("lease", &self.core.lease_config())
            .finish()
    }
}

crate::delegate_elector!(FileElector);

/// The record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    bot_id: String,
    timestamp_ms: u64,
    token: u64,
    lease_ms: Option<u64>,
    released: bool,
    deposed: bool,
}

impl Record {
    /// Parses a record; every problem names the field.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".into());
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err(format!("expected a JSON object, found {}", kind(&value)));
        };
        let bot_id = match map.get("botId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => return Err("field `botId` is empty".into()),
            Some(other) => return Err(format!("field `botId` must be a string, found {}", kind(other))),
            None => return Err("field `botId` is missing".into()),
        };
        let timestamp_ms = match u64_field(&map, "timestamp")? {
            Some(t) => t,
            None => return Err("field `timestamp` is missing".into()),
        };
        let token = u64_field(&map, "token")?.unwrap_or(0);
        let lease_ms = u64_field(&map, "leaseMs")?;
        if lease_ms == Some(0) {
            return Err("field `leaseMs` must be above zero".into());
        }
        let released = bool_field(&map, "released")?;
        let deposed = bool_field(&map, "deposed")?;
        Ok(Self { bot_id, timestamp_ms, token, lease_ms, released, deposed })
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut map = Map::new();
        map.insert("botId".into(), self.bot_id.clone().into());
        map.insert("timestamp".into(), self.timestamp_ms.into());
        map.insert("token".into(), self.token.into());
        if let Some(ms) = self.lease_ms {
            map.insert("leaseMs".into(), ms.into());
        }
        if self.released {
            map.insert("released".into(), true.into());
        }
        if self.deposed {
            map.insert("deposed".into(), true.into());
        }
        let mut out = Value::Object(map).to_string().into_bytes();
        out.push(b'\n');
        out
    }

    /// The lease this record's holder promised.
    fn lease_ms(&self, default_ms: u64) -> u64 {
        self.lease_ms.unwrap_or(default_ms)
    }

    /// Whether the holder's lease still runs at `now_ms` (a future timestamp counts as fresh).
    fn is_active(&self, now_ms: u64, default_lease_ms: u64) -> bool {
        !self.released && now_ms.saturating_sub(self.timestamp_ms) <= self.lease_ms(default_lease_ms)
    }

    fn expires_at(&self, default_lease_ms: u64) -> SystemTime {
        let expires = self.timestamp_ms.saturating_add(self.lease_ms(default_lease_ms));
        // A timestamp past what the clock can hold (a hand-edited file) never expires.
        UNIX_EPOCH
            .checked_add(Duration::from_millis(expires))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(u32::MAX.into()))
    }

    fn info(&self, default_lease_ms: u64) -> LeaderInfo {
        LeaderInfo {
            holder: self.bot_id.clone(),
            token: FencingToken(self.token),
            expires_at: self.expires_at(default_lease_ms),
        }
    }
}

#[cfg(test)]
impl Record {
    /// A record with these fields, for the property tests.
    pub(crate) fn for_tests(
        bot_id: String,
        timestamp_ms: u64,
        token: u64,
        lease_ms: Option<u64>,
        released: bool,
        deposed: bool,
    ) -> Self {
        Self { bot_id, timestamp_ms, token, lease_ms, released, deposed }
    }

    /// Its expiry and activity at `now_ms` with a default lease, for the property tests.
    pub(crate) fn expiry_for_tests(&self, now_ms: u64) -> (SystemTime, bool) {
        (self.info(now_ms).expires_at, self.is_active(now_ms, now_ms))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn u64_field(map: &Map<String, Value>, name: &str) -> Result<Option<u64>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => Ok(Some(v)),
            None => Err(format!("field `{name}` must be a non-negative integer, found {n}")),
        },
        Some(other) => Err(format!("field `{name}` must be a non-negative integer, found {}", kind(other))),
    }
}

fn bool_field(map: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("field `{name}` must be true or false, found {}", kind(other))),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug, Clone)]
struct FileBackend {
    path: PathBuf,
    guard_path: PathBuf,
    lease: LeaseConfig,
    poll: Duration,
}

fn unavailable(reason: String) -> ElectionError {
    ElectionError::Unavailable { backend: BACKEND, reason }
}

impl FileBackend {
    fn corrupt(&self, what: String) -> ElectionError {
        ElectionError::Corrupt { backend: BACKEND, detail: format!("{}: {what}", self.path.display()) }
    }

    fn read(&self) -> Result<Option<Record>, ElectionError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Record::parse(&bytes).map(Some).map_err(|what| self.corrupt(what)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(format!("reading {}: {e}", self.path.display()))),
        }
    }

    /// Replaces the record atomically: temporary file in the same directory, flush, rename.
    fn write(&self, record: &Record) -> Result<(), ElectionError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(&record.to_json())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(unavailable(format!("writing {}: {e}", self.path.display())));
        }
        // Best effort: make the rename durable (some filesystems refuse to sync a directory).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Runs `f` holding the exclusive lock on the sidecar file.
    fn locked<T>(&self, f: impl FnOnce(&Self) -> Result<T, ElectionError>) -> Result<T, ElectionError> {
        let guard = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.guard_path)
            .map_err(|e| unavailable(format!("opening {}: {e}", self.guard_path.display())))?;
        // Wait as long as a renewal may take: the holder fsyncs the record and its directory
        // inside the lock, and a disk that stalls for a few hundred milliseconds (seen in the
        // soak under load) must not make every other bot report the backend unavailable. Only a
        // holder stuck past the renew deadline (frozen inside the critical section) is an error.
        let wait = self.lease.renew_deadline();
        let start = Instant::now();
        loop {
            match guard.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(unavailable(format!(
                        "another process has held {} for more than {wait:?}",
                        self.guard_path.display()
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(unavailable(format!("locking {}: {e}", self.guard_path.display())));
                }
            }
        }
        // The lock is released when `guard` is closed at the end of this function.
        f(self)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, ElectionError> + Send + 'static,
    ) -> Result<T, ElectionError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .unwrap_or_else(|e| Err(unavailable(format!("file operation did not complete: {e}"))))
    }
}

#[async_trait]
impl Backend for FileBackend {
    const NAME: &'static str = BACKEND;

    async fn try_acquire(&self, id: &str, floor: FencingToken) -> Result<Attempt, ElectionError> {
        let id = id.to_owned();
        self.blocking(move |b| {
            b.locked(|b| {
                let default_ms = b.lease.duration_ms();
                let record = b.read()?;
                if let Some(r) = &record
                    && r.is_active(now_ms(), default_ms)
                {
                    if r.deposed {
                        return Ok(Attempt::Held { until: r.expires_at(default_ms) });
                    }
                    return Ok(Attempt::Lost { leader: Some(r.info(default_ms)) });
                }
                let counter = record.as_ref().map_or(0, |r| r.token).max(floor.0);
                let token = counter
                    .checked_add(1)
                    .ok_or_else(|| b.corrupt("the token counter is exhausted".into()))?;
                let replaced_dead = record.filter(|r| !r.released).map(|r| r.bot_id);
                b.write(&Record {
                    bot_id: id,
                    timestamp_ms: now_ms(),
                    token,
                    lease_ms: Some(default_ms),
                    released: false,
                    deposed: false,
                })?;
                Ok(Attempt::Won { token: FencingToken(token), replaced_dead })
            })
        })
        .await
    }

    async fn renew(&self, id: &str, token: FencingToken) -> Result<Renewal, ElectionError> {
        let id = id.to_owned();
        self.blocking(move |b| {
            b.locked(|b| match b.read()? {
                Some(r) if r.bot_id == id && r.token == token.0 && !r.released && r.deposed => {
                    Ok(Renewal::Deposed)
                }
                Some(mut r) if r.bot_id == id && r.token == token.0 && !r.released => {
                    r.timestamp_ms = now_ms();
                    r.lease_ms = Some(b.lease.duration_ms());
                    b.write(&r)?;
                    Ok(Renewal::Renewed)
                }
                _ => Ok(Renewal::Lost),
            })
        })
        .await
    }

    async fn release(&self, id: &str, token: FencingToken) -> Result<(), ElectionError> {
        let id = id.to_owned();
        self.blocking(move |b| {
            b.locked(|b| match b.read()? {
                Some(mut r) if r.bot_id == id && r.token == token.0 && !r.released => {
                    r.released = true;
                    r.timestamp_ms = now_ms();
                    b.write(&r)
                }
                _ => Ok(()),
            })
        })
        .await
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        self.blocking(|b| {
            let default_ms = b.lease.duration_ms();
            Ok(b.read()?
                .filter(|r| r.is_active(now_ms(), default_ms) && !r.deposed)
                .map(|r| r.info(default_ms)))
        })
        .await
    }

    async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        self.blocking(|b| {
            b.locked(|b| {
                let default_ms = b.lease.duration_ms();
                match b.read()? {
                    // The timestamp stays: the deposed leader's lease runs out when it would have.
                    Some(mut r) if r.is_active(now_ms(), default_ms) && !r.deposed => {
                        let info = r.info(default_ms);
                        r.deposed = true;
                        b.write(&r)?;
                        Ok(Some(info))
                    }
                    _ => Ok(None),
                }
            })
        })
        .await
    }

    fn notifier(self: &Arc<Self>, waker: Waker) -> Option<Task> {
        let this = Arc::clone(self);
        Some(Box::pin(async move {
            let default_ms = this.lease.duration_ms();
            let mut was_held = false;
            loop {
                tokio::time::sleep(this.poll).await;
                let held = match tokio::fs::read(&this.path).await {
                    Ok(bytes) => Record::parse(&bytes).is_ok_and(|r| r.is_active(now_ms(), default_ms)),
                    Err(_) => false,
                };
                if was_held && !held {
                    waker.wake();
                }
                was_held = held;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_old_bots_format() {
        let r = Record::parse(br#"{"botId":"old-bot","timestamp":1700000000000}"#).unwrap();
        assert_eq!(
            r,
            Record {
                bot_id: "old-bot".into(),
                timestamp_ms: 1_700_000_000_000,
                token: 0,
                lease_ms: None,
                released: false,
                deposed: false
            }
        );
    }

    #[test]
    fn round_trips_and_keeps_the_old_fields() {
        let r = Record {
            bot_id: "b".into(),
            timestamp_ms: 5,
            token: 9,
            lease_ms: Some(1500),
            released: true,
            deposed: true,
        };
        let json: Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(json["botId"], "b");
        assert_eq!(json["timestamp"], 5);
        assert_eq!(Record::parse(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn says_what_is_wrong() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "empty"),
            (b"{\"botId\":", "not JSON"),
            (b"[1,2]", "expected a JSON object, found an array"),
            (b"{\"timestamp\":1}", "`botId` is missing"),
            (b"{\"botId\":7,\"timestamp\":1}", "`botId` must be a string, found a number"),
            (b"{\"botId\":\"a\"}", "`timestamp` is missing"),
            (b"{\"botId\":\"a\",\"timestamp\":-1}", "`timestamp` must be a non-negative integer, found -1"),
            (b"{\"botId\":\"a\",\"timestamp\":1,\"token\":\"x\"}", "`token` must be a non-negative integer"),
            (b"{\"botId\":\"a\",\"timestamp\":1,\"released\":1}", "`released` must be true or false"),
        ];
        for (bytes, want) in cases {
            let err = Record::parse(bytes).unwrap_err();
            assert!(err.contains(want), "{:?}: {err} should contain {want}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn expiry_uses_the_holders_lease() {
        let r = Record {
            bot_id: "a".into(),
            timestamp_ms: 1000,
            token: 1,
            lease_ms: Some(500),
            released: false,
            deposed: false,
        };
        assert!(r.is_active(1500, 10_000));
        assert!(!r.is_active(1501, 10_000));
        let old = Record { lease_ms: None, ..r.clone() };
        assert!(old.is_active(5000, 10_000));
        assert!(r.is_active(0, 10_000), "a timestamp ahead of the clock counts as fresh");
        assert!(!Record { released: true, ..r.clone() }.is_active(1000, 10_000));
        assert!(Record { deposed: true, ..r }.is_active(1000, 10_000), "a deposed lease still runs");
    }
}
