//! Sharing many targets across a fleet of bots: every target has an election of its own (its own
//! key), and a bot takes at most its fair share of them while the others are alive, about
//! `targets / live bots` plus a configurable slack, and picks up the rest when they die. Losing a
//! bot therefore moves only the targets it held; a bot that joins gets its share as the others,
//! now over their cap, hand over one target per round each.
//!
//! The live bots are counted through the servers the fleet already runs ([`Membership`]): a key
//! per bot with a time to live on Redis, a key under a lease on etcd, a file per bot in a
//! directory for the one-host file backend.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oracle_election::{ElectorConfig, LeaseConfig, share::{Membership, Share, SharedElector}};
//! # async fn f(lease: LeaseConfig, url: oracle_election::RedisUrl) -> Result<(), oracle_election::ElectionError> {
//! let targets = ["jeju-eth", "jeju-btc", "base-eth"];
//! let members = Membership::redis(&url, "oracle-fleet", "bot-1", lease.duration())?;
//! let share = Share::new(Arc::new(members), targets.len(), 0);
//! for t in targets {
//!     let config = ElectorConfig::Redis { url: url.clone(), key_prefix: format!("oracle:{t}") };
//!     let elector = SharedElector::new(share.clone(), t, config.connect("bot-1", lease).await?);
//!     // Give `elector` to the engine of target `t`.
//! #   let _ = elector;
//! }
//! # Ok(()) }
//! ```

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use oracle_core::{BootInstant, ElectionError, FencingToken, LeaderElector, LeaderInfo, Leadership, Lease};
use tokio::sync::watch;

use crate::redis::RedisUrl;

/// Counts the fleet's live bots: each bot announces itself (with a time to live) and reads how
/// many announcements are current.
pub struct Membership {
    id: String,
    ttl: Duration,
    store: Store,
}

enum Store {
    File(PathBuf),
    Redis {
        client: Box<::redis::Client>,
        prefix: String,
    },
    #[cfg(feature = "etcd")]
    Etcd {
        /// With the elector's authentication and TLS (the user's password inside), and its
        /// failover over the endpoints; connected once, on the first heartbeat.
        endpoints: Box<crate::etcd::Endpoints>,
        prefix: String,
        scrub: Box<crate::etcd::Scrub>,
    },
}

// By hand: the Redis URL and the etcd options carry passwords.
impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match &self.store {
            Store::File(dir) => format!("file {}", dir.display()),
            Store::Redis { prefix, .. } => format!("redis {prefix}"),
            #[cfg(feature = "etcd")]
            Store::Etcd { prefix, .. } => format!("etcd {prefix}"),
        };
        f.debug_struct("Membership")
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .field("store", &store)
            .finish()
    }
}

fn unavailable(backend: &'static str, reason: impl std::fmt::Display) -> ElectionError {
    ElectionError::Unavailable { backend, reason: reason.to_string() }
}

impl Membership {
    /// Members as files in `dir` (one host), announcements valid for `ttl`.
    pub fn file(dir: impl Into<PathBuf>, id: impl Into<String>, ttl: Duration) -> Self {
        Self { id: id.into(), ttl, store: Store::File(dir.into()) }
    }

    /// Members as Redis keys `<prefix>:member:<id>` expiring after `ttl`.
    pub fn redis(
        url: &RedisUrl,
        prefix: &str,
        id: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, ElectionError> {
        let client = url.client()?;
        Ok(Self {
            id: id.into(),
            ttl,
            store: Store::Redis { client: Box::new(client), prefix: prefix.to_owned() },
        })
    }

    /// Members as etcd keys `<prefix>/member/<id>` under a lease of `ttl` (whole seconds, at
    /// least one), on plain connections; [`etcd_with`](Self::etcd_with) for a cluster with
    /// authentication or TLS.
    #[cfg(feature = "etcd")]
    pub fn etcd(endpoints: &[String], prefix: &str, id: impl Into<String>, ttl: Duration) -> Self {
        Self {
            id: id.into(),
            ttl,
            store: Store::Etcd {
                endpoints: Box::new(crate::etcd::Endpoints::new(
                    endpoints.to_vec(),
                    etcd_client::ConnectOptions::new().with_connect_timeout(ttl),
                    ttl,
                )),
                prefix: prefix.to_owned(),
                scrub: Box::new(crate::etcd::Scrub(None)),
            },
        }
    }

    /// As [`etcd`](Self::etcd), on the cluster of `config`: its endpoints, user and TLS settings,
    /// the same the elector connects with.
    #[cfg(feature = "etcd")]
    pub fn etcd_with(
        config: &crate::EtcdConfig,
        prefix: &str,
        id: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, ElectionError> {
        let mut options = etcd_client::ConnectOptions::new().with_connect_timeout(ttl);
        if let Some(auth) = &config.auth {
            options = options.with_user(auth.username.clone(), auth.password.expose());
        }
        let options = crate::etcd::tls_options(config, options)?;
        Ok(Self {
            id: id.into(),
            ttl,
            store: Store::Etcd {
                endpoints: Box::new(crate::etcd::Endpoints::new(config.endpoints.clone(), options, ttl)),
                prefix: prefix.to_owned(),
                scrub: Box::new(crate::etcd::Scrub(config.auth.as_ref().map(|a| a.password.clone()))),
            },
        })
    }

    /// Announces this bot for another `ttl` and returns how many bots are live, this one
    /// included.
    pub async fn heartbeat(&self) -> Result<usize, ElectionError> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let live = match &self.store {
            Store::File(dir) => {
                let (dir, id) = (dir.clone(), self.id.clone());
                tokio::task::spawn_blocking(move || file_heartbeat(&dir, &id, ttl_ms))
                    .await
                    .map_err(|e| unavailable("file", e))??
            }
            Store::Redis { client, prefix } => {
                let mut conn =
                    client.get_multiplexed_async_connection().await.map_err(|e| unavailable("redis", e))?;
                let key = format!("{prefix}:member:{}", self.id);
                ::redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| unavailable("redis", e))?;
                let mut cursor: u64 = 0;
                let mut n = 0usize;
                loop {
                    let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{prefix}:member:*"))
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| unavailable("redis", e))?;
                    n = n.saturating_add(keys.len());
                    cursor = next;
                    if cursor == 0 {
                        break n;
                    }
                }
            }
            #[cfg(feature = "etcd")]
            Store::Etcd { endpoints, prefix, scrub } => {
                use etcd_client::{GetOptions, PutOptions};
                let unavailable = |e: etcd_client::Error| unavailable("etcd", scrub.clean(e.to_string()));
                let secs = i64::try_from(self.ttl.as_secs().max(1)).unwrap_or(i64::MAX);
                let key = format!("{prefix}/member/{}", self.id);
                let members = format!("{prefix}/member/");
                // One call on one endpoint: the lease, the announcement under it and the count.
                let all = endpoints
                    .call(|mut client| {
                        let (key, members) = (key.clone(), members.clone());
                        async move {
                            let lease = client.lease_grant(secs, None).await?;
                            client.put(key, "1", Some(PutOptions::new().with_lease(lease.id()))).await?;
                            client.get(members, Some(GetOptions::new().with_prefix().with_count_only())).await
                        }
                    })
                    .await
                    .map_err(unavailable)?;
                usize::try_from(all.count()).unwrap_or(usize::MAX)
            }
        };
        Ok(live.max(1))
    }
}

/// Writes `<dir>/<id>` with its expiry and counts the files whose expiry is in the future.
fn file_heartbeat(dir: &std::path::Path, id: &str, ttl_ms: u64) -> Result<usize, ElectionError> {
    let now =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    std::fs::create_dir_all(dir).map_err(|e| unavailable("file", format!("{}: {e}", dir.display())))?;
    // A temporary file of this call's own: concurrent heartbeats of one bot, or another process
    // started with the same id (a mistake, but one that must not fail this one's heartbeat),
    // would otherwise rename each other's file away.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{id}.{}.{n}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, now.saturating_add(ttl_ms).to_string())
        .and_then(|()| std::fs::rename(&tmp, dir.join(id)));
    if let Err(e) = written {
        // Best effort: a leftover is skipped by the count (its name starts with a dot).
        let _ = std::fs::remove_file(&tmp);
        return Err(unavailable("file", format!("{}: {e}", dir.display())));
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| unavailable("file", format!("{}: {e}", dir.display())))?;
    Ok(entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|text| text.trim().parse::<u64>().is_ok_and(|until| until > now))
        .count())
}

/// One bot's share of the fleet's targets: how many there are, how many bots are live, which
/// this bot leads. Shared by the bot's [`SharedElector`]s.
#[derive(Debug)]
pub struct Share {
    membership: Arc<Membership>,
    targets: usize,
    slack: usize,
    state: Mutex<ShareState>,
    /// One heartbeat at a time: a bot ticks its targets concurrently, and each would otherwise
    /// announce the bot on its own (on the file backend, racing on one temporary file).
    heartbeat: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct ShareState {
    held: BTreeSet<String>,
    live: usize,
    counted_at: Option<Instant>,
}

impl Share {
    /// A share of `targets` targets, with `slack` more than the fair share allowed.
    pub fn new(membership: Arc<Membership>, targets: usize, slack: usize) -> Arc<Self> {
        Arc::new(Self {
            membership,
            targets,
            slack,
            state: Mutex::new(ShareState::default()),
            heartbeat: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ShareState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most targets this bot may lead now: `ceil(targets / live) + slack`.
    pub async fn cap(&self) -> Result<usize, ElectionError> {
        // One heartbeat per third of the time to live serves every target's round.
        let fresh = |s: &ShareState| s.counted_at.is_some_and(|t| t.elapsed() < self.membership.ttl / 3);
        if !fresh(&self.state()) {
            let _one = self.heartbeat.lock().await;
            // Another target's round may have counted while this one waited.
            if !fresh(&self.state()) {
                match self.membership.heartbeat().await {
                    Ok(live) => {
                        let mut s = self.state();
                        s.live = live;
                        s.counted_at = Some(Instant::now());
                    }
                    // A store that fails a heartbeat leaves the last count standing: the leases,
                    // not the count, keep one leader per target, and a bot that drops what it
                    // leads on one failed announcement would hand its targets around for
                    // nothing. Without a count yet there is no share to keep to.
                    Err(e) if self.state().counted_at.is_some() => {
                        tracing::warn!(error = %e, "fleet membership heartbeat failed; keeping the last count");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let live = self.state().live.max(1);
        Ok(self.targets.div_ceil(live).saturating_add(self.slack))
    }

    /// The targets this bot leads.
    pub fn held(&self) -> BTreeSet<String> {
        self.state().held.clone()
    }

    /// Counts `target` as held if the bot is below `cap` (or holds it already); `false` when the
    /// share is full. Check and count are one step: a bot ticks its targets concurrently
    /// (`oracle_core::Targets`), and two electors that each won a term for one free slot would
    /// otherwise both count, taking the bot over its cap.
    fn reserve(&self, target: &str, cap: usize) -> bool {
        let mut s = self.state();
        if s.held.contains(target) {
            return true;
        }
        if s.held.len() >= cap {
            return false;
        }
        s.held.insert(target.to_owned());
        true
    }

    fn set(&self, target: &str, leads: bool) {
        let mut s = self.state();
        if leads {
            s.held.insert(target.to_owned());
        } else {
            s.held.remove(target);
        }
    }
}

/// A target's elector that keeps within the bot's [`Share`]: it renews what it holds, acquires
/// only below the cap, and hands over its target when the bot holds more than the cap (one
/// target per round, the last in name order), so a bot that joins gets its share.
pub struct SharedElector {
    share: Arc<Share>,
    target: String,
    inner: Arc<dyn LeaderElector>,
}

impl std::fmt::Debug for SharedElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedElector").field("target", &self.target).field("id", &self.inner.id()).finish()
    }
}

impl SharedElector {
    /// `inner` (the target's own election) kept within `share`.
    pub fn new(share: Arc<Share>, target: impl Into<String>, inner: Arc<dyn LeaderElector>) -> Self {
        Self { share, target: target.into(), inner }
    }
}

#[async_trait]
impl LeaderElector for SharedElector {
    fn id(&self) -> &str {
        self.inner.id()
    }

    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        let cap = self.share.cap().await?;
        let held = self.share.held();
        let leads = held.contains(&self.target);
        if leads && held.len() > cap && held.iter().next_back() == Some(&self.target) {
            tracing::info!(target_name = %self.target, held = held.len(), cap, "over the fair share: handing this target over");
            self.inner.release().await?;
            self.share.set(&self.target, false);
            return Ok(Leadership::Follower { leader: None });
        }
        if !leads && held.len() >= cap {
            let leader = self.inner.leader().await?.map(|l| l.holder);
            return Ok(Leadership::Follower { leader });
        }
        let outcome = self.inner.acquire_or_renew().await;
        if !matches!(outcome, Ok(Leadership::Leader(_))) {
            self.share.set(&self.target, false);
            return outcome;
        }
        // The slot is counted once the term is won, not while trying: a slot held during every
        // attempt on a target another bot leads would keep the bot off the free ones (its
        // targets tick together, and the contended ones took the slots first). Two targets won
        // at once for the last slot: the later gives its term straight back.
        if !leads && !self.share.reserve(&self.target, cap) {
            tracing::info!(target_name = %self.target, cap, "won a target over the fair share: handing it back");
            self.inner.release().await?;
            return Ok(Leadership::Follower { leader: None });
        }
        outcome
    }

    async fn release(&self) -> Result<(), ElectionError> {
        self.share.set(&self.target, false);
        self.inner.release().await
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        self.inner.leader().await
    }

    fn watch(&self) -> Option<watch::Receiver<u64>> {
        self.inner.watch()
    }

    fn live_deadline(&self, lease: &Lease) -> Option<BootInstant> {
        self.inner.live_deadline(lease)
    }

    fn raise_floor(&self, floor: FencingToken) -> bool {
        self.inner.raise_floor(floor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A bot ticks its targets concurrently; every one of them asks for the cap. None may fail
    /// for another's heartbeat (on the file backend they once raced on one temporary file and
    /// failed with "No such file or directory", dropping the bot's leadership for a tick and
    /// letting its announcement lapse). A time to live of zero: every call announces again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rounds_of_one_bot_share_its_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let share = Share::new(Arc::new(Membership::file(dir.path(), "bot-a", Duration::ZERO)), 6, 0);
        for _ in 0..50 {
            let rounds: Vec<_> = (0..6)
                .map(|_| {
                    let share = share.clone();
                    tokio::spawn(async move { share.cap().await })
                })
                .collect();
            for r in rounds {
                assert!(r.await.unwrap().is_ok(), "every round gets its cap");
            }
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("bot-a")], "no temporary file left behind");
    }

    /// Heartbeats of one membership at once (no `Share` to serialize them) all succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_file_heartbeats_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let members = Arc::new(Membership::file(dir.path(), "bot-a", Duration::from_secs(60)));
        let beats: Vec<_> = (0..32)
            .map(|_| {
                let members = members.clone();
                tokio::spawn(async move { members.heartbeat().await })
            })
            .collect();
        for b in beats {
            assert_eq!(b.await.unwrap().unwrap(), 1);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("bot-a")], "no temporary file left behind");
    }

    /// A failed heartbeat after a good one keeps the last count: the bot keeps its share.
    #[tokio::test]
    async fn a_failed_heartbeat_keeps_the_last_count() {
        let dir = tempfile::tempdir().unwrap();
        let members = dir.path().join("members");
        let long = Duration::from_secs(60);
        Membership::file(&members, "bot-b", long).heartbeat().await.unwrap();
        Membership::file(&members, "bot-c", long).heartbeat().await.unwrap();
        // A time to live of zero: every call announces again (for a millisecond, enough for
        // its own count: three bots live).
        let share = Share::new(Arc::new(Membership::file(&members, "bot-a", Duration::ZERO)), 6, 0);
        assert_eq!(share.cap().await.unwrap(), 2);
        // The directory becomes a file: every later heartbeat fails.
        std::fs::remove_dir_all(&members).unwrap();
        std::fs::write(&members, "not a directory").unwrap();
        assert_eq!(share.cap().await.unwrap(), 2, "the last count stands");
        let fresh = Share::new(Arc::new(Membership::file(&members, "bot-d", Duration::ZERO)), 6, 0);
        assert!(fresh.cap().await.is_err(), "without a count, the failure is the answer");
    }

    /// A target another bot leads, whose round this bot is in the middle of.
    struct Contended {
        entered: Arc<tokio::sync::Notify>,
        finish: Arc<tokio::sync::Notify>,
    }

    #[async_trait]
    impl LeaderElector for Contended {
        fn id(&self) -> &str {
            "bot-a"
        }
        async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
            self.entered.notify_one();
            self.finish.notified().await;
            Ok(Leadership::Follower { leader: Some("bot-b".into()) })
        }
        async fn release(&self) -> Result<(), ElectionError> {
            Ok(())
        }
        async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
            Ok(None)
        }
    }

    /// A bot's round on a target another bot leads takes no slot of its share: a free target
    /// ticking at the same moment is won. (Slots reserved while trying kept a bot that had as
    /// many contended targets as its cap off the free ones, round after round.)
    #[tokio::test]
    async fn trying_for_a_led_target_leaves_the_slot_to_a_free_one() {
        let dir = tempfile::tempdir().unwrap();
        // Three bots live, three targets: a cap of one.
        for other in ["bot-b", "bot-c"] {
            Membership::file(dir.path(), other, Duration::from_secs(60)).heartbeat().await.unwrap();
        }
        let share =
            Share::new(Arc::new(Membership::file(dir.path(), "bot-a", Duration::from_secs(60))), 3, 0);
        let (entered, finish) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
        let contended = SharedElector::new(
            share.clone(),
            "target-0",
            Arc::new(Contended { entered: entered.clone(), finish: finish.clone() }),
        );
        let free =
            SharedElector::new(share.clone(), "target-1", Arc::new(oracle_core::AlwaysLeader::new("bot-a")));
        let trying = tokio::spawn(async move { contended.acquire_or_renew().await });
        entered.notified().await;
        assert!(
            matches!(free.acquire_or_renew().await.unwrap(), Leadership::Leader(_)),
            "the free target is won"
        );
        finish.notify_one();
        assert!(matches!(trying.await.unwrap().unwrap(), Leadership::Follower { .. }));
        assert_eq!(share.held(), BTreeSet::from(["target-1".to_owned()]));
    }

    /// Two targets won at once for the last slot: one is kept, the other handed back, so the
    /// bot never counts more than its cap.
    #[tokio::test]
    async fn two_wins_for_the_last_slot_keep_one() {
        let dir = tempfile::tempdir().unwrap();
        for other in ["bot-b", "bot-c"] {
            Membership::file(dir.path(), other, Duration::from_secs(60)).heartbeat().await.unwrap();
        }
        let share =
            Share::new(Arc::new(Membership::file(dir.path(), "bot-a", Duration::from_secs(60))), 3, 0);
        let electors: Vec<_> = (0..3)
            .map(|i| {
                SharedElector::new(
                    share.clone(),
                    format!("target-{i}"),
                    Arc::new(oracle_core::AlwaysLeader::new("bot-a")),
                )
            })
            .collect();
        let (a, b, c) = tokio::join!(
            electors[0].acquire_or_renew(),
            electors[1].acquire_or_renew(),
            electors[2].acquire_or_renew()
        );
        let outcomes = [a, b, c];
        let won = outcomes.iter().filter(|o| matches!(o, Ok(Leadership::Leader(_)))).count();
        assert_eq!((won, share.held().len()), (1, 1), "one slot, one target: {outcomes:?}");
    }
}
