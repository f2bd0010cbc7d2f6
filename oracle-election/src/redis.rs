//! The Redis elector: bots on any number of hosts elect a leader through one Redis key.
//!
//! # Keys
//!
//! With the key prefix `P` (default [`DEFAULT_KEY_PREFIX`]):
//!
//! - `{P}:leader` holds `<bot id>:<token>` with a TTL of the lease duration. It is taken with
//!   `SET … NX PX`, renewed with `PEXPIRE` and deleted only by a Lua script that first checks
//!   the value is still ours (so a bot never renews or deletes another bot's lease).
//! - A forced step-down rewrites it to `~deposed~<bot id>:<token>` with the TTL it had: the
//!   deposed bot's next renewal fails, it stops acting and then deletes the key (publishing the
//!   release); until then, or until the TTL runs out, nobody else acquires.
//! - `{P}:epoch` is the token counter (`INCR`). When it is missing (a first start, or a Redis
//!   restarted without persistence) it restarts from the Redis server's clock in milliseconds,
//!   and never below the highest token the acquiring bot has seen or was told of (a fenced
//!   oracle's highest), so tokens keep growing across the loss. And since a Redis that lost its
//!   data may also have forgotten a leader that is still acting, the leader key is then set to
//!   `~recovering~` for one lease duration: nobody leads until any forgotten lease has run out.
//! - `{P}:previous` names the last holder that did not release; a bot that acquires while it is
//!   set logs `Previous leader <id> is dead, taking over`.
//! - `P:released` is the channel a release is published on; followers subscribe and try at once.
//!
//! The `{P}` hash tag keeps the keys in one slot, so the scripts also run on a Redis Cluster node.
//!
//! # Limits of Redis as a lock service
//!
//! - **Failover can lose the lock.** Replication is asynchronous: a primary can acknowledge our
//!   `SET`, die before a replica received it, and the promoted replica lets a second bot acquire
//!   while the first still believes it leads (until its renewal fails). Fencing tokens let a
//!   target refuse the stale leader, but only a consensus store removes the window.
//! - **One instance is a single point of failure.** While it is down nobody can lead: the
//!   leader steps down by its renew deadline (fail closed) and no update is sent until Redis is
//!   back.
//! - **Expiry runs on Redis's clock**, leadership deadlines on the bot's monotonic clock; a lease
//!   is safe as long as the two clocks do not drift apart by more than
//!   `duration - renew_deadline` within one lease.
//!
//! When those matter, use the etcd elector (feature `etcd`: Raft consensus, leases kept by the
//! cluster).
//!
//! URLs are `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS, verified against the
//! web PKI roots). The URL is never logged or shown in errors; only `host:port` is.

use std::{
    fmt,
    sync::{Arc, LazyLock},
    time::{Duration, SystemTime},
};

use ::redis::{
    Client, ConnectionAddr, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use async_trait::async_trait;
use futures_util::StreamExt;
use oracle_core::secret::SecretUrl;
use oracle_core::{ElectionError, FencingToken, LeaderInfo};

use crate::{
    LeaseConfig,
    state::{Attempt, Backend, Core, Renewal, Task, Waker},
};

/// The default key prefix: `oracle-bot`.
pub const DEFAULT_KEY_PREFIX: &str = "oracle-bot";

const BACKEND: &str = "redis";

/// A Redis URL that never shows its credentials: `Debug` and `Display` print `scheme://host:port`.
///
/// ```
/// use oracle_election::RedisUrl;
/// let url = RedisUrl::parse("redis://:hunter2@127.0.0.1:6379/0")?;
/// assert_eq!(url.to_string(), "redis://127.0.0.1:6379");
/// assert!(!format!("{url:?}").contains("hunter2"));
/// # Ok::<(), oracle_election::ElectionError>(())
/// ```
#[derive(Clone)]
pub struct RedisUrl(SecretUrl);

impl RedisUrl {
    /// A client for this URL (fleet membership, `share.rs`, keeps its own connection).
    pub(crate) fn client(&self) -> Result<Client, ElectionError> {
        Client::open(self.0.expose())
            .map_err(|_| ElectionError::Config(format!("the Redis URL for {self} cannot be used")))
    }

    /// Parses and checks a `redis://` or `rediss://` URL.
    pub fn parse(url: &str) -> Result<Self, ElectionError> {
        let url = url.trim();
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        if scheme != "redis" && scheme != "rediss" {
            return Err(ElectionError::Config(
                "the Redis URL must start with redis:// or rediss:// (unix sockets are not supported)".into(),
            ));
        }
        let unparsable = || ElectionError::Config(format!("the {scheme}:// URL cannot be parsed"));
        let client = Client::open(url).map_err(|_| unparsable())?;
        let secret = SecretUrl::parse(url).map_err(|_| unparsable())?;
        let info = client.get_connection_info();
        // Shown as the client resolved it: with the default port it connects to.
        let shown = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}"),
            _ => format!("{scheme}://(unsupported address)"),
        };
        // The password as the client decoded it, besides its percent-encoded form in the URL.
        let password = info.redis_settings().password().unwrap_or_default().to_owned();
        Ok(Self(secret.with_shown(shown).with_secret(password)))
    }

    /// `scheme://host:port`, safe to log.
    pub fn redacted(&self) -> &str {
        self.0.shown()
    }

    /// Removes the URL and its credentials from a message.
    fn scrub(&self, message: String) -> String {
        self.0.scrub(&message)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted())
    }
}

/// A leader elector on Redis. See the [module docs](self) for the keys and Redis's limits.
///
/// ```no_run
/// # async fn demo() -> Result<(), oracle_election::ElectionError> {
/// use oracle_election::{LeaderElector, LeaseConfig, RedisElector, RedisUrl};
///
/// let url = RedisUrl::parse("redis://127.0.0.1:6379")?;
/// let elector = RedisElector::connect(&url, "oracle-bot", "bot-1", LeaseConfig::default()).await?;
/// let leadership = elector.acquire_or_renew().await?;
/// # Ok(()) }
/// ```
pub struct RedisElector {
    core: Core<RedisBackend>,
    shown: String,
    prefix: String,
}

impl RedisElector {
    /// An elector for bot `id` on Redis at `url` with keys under `key_prefix`. The connection is
    /// made lazily and re-made after failures, so this succeeds while Redis is down; the first
    /// rounds then fail with [`ElectionError::Unavailable`]. Must be called inside a tokio runtime.
    pub async fn connect(
        url: &RedisUrl,
        key_prefix: &str,
        id: impl Into<String>,
        lease: LeaseConfig,
    ) -> Result<Self, ElectionError> {
        if key_prefix.is_empty() || key_prefix.contains(['{', '}']) {
            return Err(ElectionError::Config(
                "the Redis key prefix must be non-empty, without braces".into(),
            ));
        }
        let id = id.into();
        if id.starts_with('~') {
            return Err(ElectionError::Config(format!(
                "bot id {id:?}: ids starting with `~` are reserved for the Redis elector's markers"
            )));
        }
        let client = Client::open(url.0.expose())
            .map_err(|_| ElectionError::Config(format!("the Redis URL for {url} cannot be used")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(lease.renew_deadline()))
            .set_response_timeout(Some(lease.renew_deadline()))
            // Few, quick reconnection attempts: every round retries anyway, and a refusal (a wrong
            // password) should surface as itself rather than as a timeout.
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| ElectionError::Config(format!("Redis at {url}: {}", url.scrub(e.to_string()))))?;
        let backend = RedisBackend {
            client,
            conn,
            url: url.clone(),
            leader_key: format!("{{{key_prefix}}}:leader"),
            epoch_key: format!("{{{key_prefix}}}:epoch"),
            previous_key: format!("{{{key_prefix}}}:previous"),
            channel: format!("{key_prefix}:released"),
            lease,
            pubsub_timeout: lease.renew_deadline(),
        };
        Ok(Self {
            core: Core::new(backend, id, lease)?,
            shown: url.redacted().to_owned(),
            prefix: key_prefix.to_owned(),
        })
    }
}

impl fmt::Debug for RedisElector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisElector")
            .field("id", &self.core.id())
            .field("server", &self.shown)
            .field("key_prefix", &self.prefix)
            .field("lease", &self.core.lease_config())
            .finish()
    }
}

crate::delegate_elector!(RedisElector);

/// The prefix of a deposed leader's value.
const DEPOSED: &str = "~deposed~";
/// The leader key's value while a Redis that lost its data waits out forgotten leases.
const RECOVERING: &str = "~recovering~";

/// KEYS: leader, epoch, previous. ARGV: id, lease ms, floor (decimal).
/// Returns `{1, value, token, previous}` when won, `{0, value, pttl, ""}` when held, and
/// `{2, start of the epoch value, 0, ""}` when the epoch key holds something that is not a
/// decimal counter (another process wrote it): nothing is changed then.
///
/// Numbers are compared as decimal strings (length, then text): Lua's numbers are doubles and
/// lose precision above 2^53, while tokens may come from a fenced oracle and be larger.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local cur = redis.call('GET', KEYS[1])
if cur then
  return {0, cur, redis.call('PTTL', KEYS[1]), ''}
end
local floor = ARGV[3]
local stored = redis.call('GET', KEYS[2])
-- INCR needs a canonical integer below 2^63 - 1: anything else was written by someone else.
if stored and (not (stored == '0' or string.match(stored, '^[1-9][0-9]*$'))
    or #stored > 19 or (#stored == 19 and stored >= '9223372036854775807')) then
  return {2, string.sub(stored, 1, 64), 0, ''}
end
if not stored then
  local t = redis.call('TIME')
  local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  if less(floor, ms) then floor = ms end
  redis.call('SET', KEYS[2], floor)
  redis.call('SET', KEYS[1], '~recovering~', 'PX', ARGV[2])
  return {0, '~recovering~', tonumber(ARGV[2]), ''}
elseif less(stored, floor) then
  redis.call('SET', KEYS[2], floor)
end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. ':' .. string.format('%d', token)
redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2])
local prev = redis.call('GET', KEYS[3])
redis.call('SET', KEYS[3], value)
return {1, value, token, prev or ''}
",
    )
});

/// KEYS: leader. ARGV: value, lease ms. Returns 1 when renewed, 2 when the value was deposed
/// (not renewed; the elector releases it once its term is over), 0 when not ours.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if cur == '~deposed~' .. ARGV[1] then
  return 2
end
return 0
",
    )
});

/// KEYS: leader, previous. ARGV: value, channel. Returns 1 when released.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or cur == '~deposed~' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then
    redis.call('DEL', KEYS[2])
  end
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
",
    )
});

/// KEYS: leader. ARGV: lease ms. Returns `{value, pttl}` of the deposed holder (`{'', -2}`
/// when nobody leads). The TTL is kept: the deposed lease runs out when it would have.
static FORCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) == '~' then
  return {'', -2}
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then
  redis.call('SET', KEYS[1], '~deposed~' .. cur, 'PX', pttl)
else
  redis.call('SET', KEYS[1], '~deposed~' .. cur, 'PX', ARGV[1])
end
return {cur, pttl}
",
    )
});

/// KEYS: leader. Returns `{value, pttl}`.
static LEADER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if not cur then
  return {'', -2}
end
return {cur, redis.call('PTTL', KEYS[1])}
",
    )
});

struct RedisBackend {
    client: Client,
    conn: ConnectionManager,
    url: RedisUrl,
    leader_key: String,
    epoch_key: String,
    previous_key: String,
    channel: String,
    lease: LeaseConfig,
    pubsub_timeout: Duration,
}

fn value_of(id: &str, token: FencingToken) -> String {
    format!("{id}:{token}")
}

/// Parses the leader key's `<bot id>:<token>` (the inverse of [`value_of`]); the error quotes at
/// most the value's first characters, whatever another process wrote there.
pub(crate) fn parse_holder(value: &str) -> Result<(&str, u64), String> {
    value
        .rsplit_once(':')
        .and_then(|(h, t)| Some((h, t.parse::<u64>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| format!("expected `<bot id>:<token>`, found {}", crate::quoted(value)))
}

impl RedisBackend {
    fn unavailable(&self, e: &RedisError) -> ElectionError {
        ElectionError::Unavailable {
            backend: BACKEND,
            reason: format!("{}: {}", self.url.redacted(), self.url.scrub(e.to_string())),
        }
    }

    /// A value read back as text: another process may have written any bytes there.
    fn text(&self, bytes: Vec<u8>) -> Result<String, ElectionError> {
        String::from_utf8(bytes).map_err(|e| ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!(
                "key {} on {}: expected `<bot id>:<token>`, found bytes that are not UTF-8: {}",
                self.leader_key,
                self.url.redacted(),
                crate::quoted(&String::from_utf8_lossy(e.as_bytes()))
            ),
        })
    }

    /// Parses `<id>:<token>` with its remaining TTL into a leader.
    fn info(&self, value: &str, pttl: i64) -> Result<LeaderInfo, ElectionError> {
        let corrupt = |what: String| ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!("key {} on {}: {what}", self.leader_key, self.url.redacted()),
        };
        let (holder, token) = parse_holder(value).map_err(corrupt)?;
        Ok(LeaderInfo {
            holder: holder.to_owned(),
            token: FencingToken(token),
            expires_at: self.expiry(pttl)?,
        })
    }

    /// When a key with `pttl` milliseconds left expires (wall clock).
    fn expiry(&self, pttl: i64) -> Result<SystemTime, ElectionError> {
        let remaining = u64::try_from(pttl).map_err(|_| ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!("key {} on {}: the key has no expiry", self.leader_key, self.url.redacted()),
        })?;
        let now = SystemTime::now();
        Ok(now.checked_add(Duration::from_millis(remaining)).unwrap_or(now))
    }
}

#[async_trait]
impl Backend for RedisBackend {
    const NAME: &'static str = BACKEND;

    async fn try_acquire(&self, id: &str, floor: FencingToken) -> Result<Attempt, ElectionError> {
        if i64::try_from(floor.0).is_err() {
            return Err(ElectionError::Config(format!(
                "Redis counts tokens up to {}, and the floor is {floor}: this backend cannot issue a larger token",
                i64::MAX
            )));
        }
        let mut conn = self.conn.clone();
        let (won, value, n, previous): (i64, Vec<u8>, i64, Vec<u8>) = ACQUIRE
            .key(&self.leader_key)
            .key(&self.epoch_key)
            .key(&self.previous_key)
            .arg(id)
            .arg(self.lease.duration_ms())
            .arg(floor.0.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if won == 2 {
            return Err(ElectionError::Corrupt {
                backend: BACKEND,
                detail: format!(
                    "key {} on {}: expected the decimal token counter, found {}",
                    self.epoch_key,
                    self.url.redacted(),
                    crate::quoted(&String::from_utf8_lossy(&value))
                ),
            });
        }
        let (value, previous) = (self.text(value)?, self.text(previous)?);
        if won == 1 {
            let token = u64::try_from(n).map_err(|_| ElectionError::Corrupt {
                backend: BACKEND,
                detail: format!("key {} on {}: negative token {n}", self.epoch_key, self.url.redacted()),
            })?;
            let replaced_dead = (!previous.is_empty())
                .then(|| previous.rsplit_once(':').map_or(previous.clone(), |(h, _)| h.into()));
            return Ok(Attempt::Won { token: FencingToken(token), replaced_dead });
        }
        if value.starts_with(DEPOSED) || value == RECOVERING {
            return Ok(Attempt::Held { until: self.expiry(n.max(0))? });
        }
        Ok(Attempt::Lost { leader: Some(self.info(&value, n)?) })
    }

    async fn renew(&self, id: &str, token: FencingToken) -> Result<Renewal, ElectionError> {
        let mut conn = self.conn.clone();
        let renewed: i64 = RENEW
            .key(&self.leader_key)
            .arg(value_of(id, token))
            .arg(self.lease.duration_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(match renewed {
            1 => Renewal::Renewed,
            2 => Renewal::Deposed,
            _ => Renewal::Lost,
        })
    }

    async fn release(&self, id: &str, token: FencingToken) -> Result<(), ElectionError> {
        let mut conn = self.conn.clone();
        let _released: i64 = RELEASE
            .key(&self.leader_key)
            .key(&self.previous_key)
            .arg(value_of(id, token))
            .arg(&self.channel)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let mut conn = self.conn.clone();
        let (value, pttl): (Vec<u8>, i64) =
            LEADER.key(&self.leader_key).invoke_async(&mut conn).await.map_err(|e| self.unavailable(&e))?;
        let value = self.text(value)?;
        if value.is_empty() || value.starts_with('~') { Ok(None) } else { self.info(&value, pttl).map(Some) }
    }

    async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let mut conn = self.conn.clone();
        let (value, pttl): (Vec<u8>, i64) = FORCE
            .key(&self.leader_key)
            .arg(self.lease.duration_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let value = self.text(value)?;
        if value.is_empty() { Ok(None) } else { self.info(&value, pttl.max(0)).map(Some) }
    }

    fn notifier(self: &Arc<Self>, waker: Waker) -> Option<Task> {
        let client = self.client.clone();
        let channel = self.channel.clone();
        let timeout = self.pubsub_timeout;
        let shown = self.url.redacted().to_owned();
        Some(Box::pin(async move {
            let mut backoff = Duration::from_millis(50);
            loop {
                let subscribed = tokio::time::timeout(timeout, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, RedisError>(pubsub)
                })
                .await;
                match subscribed {
                    Ok(Ok(mut pubsub)) => {
                        backoff = Duration::from_millis(50);
                        // A release may have been published while we were not subscribed.
                        waker.wake();
                        let mut messages = pubsub.on_message();
                        while messages.next().await.is_some() {
                            waker.wake();
                        }
                        tracing::debug!(server = %shown, "release subscription closed; resubscribing");
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(server = %shown, error = ?e.kind(), "cannot subscribe to releases")
                    }
                    Err(_) => tracing::debug!(server = %shown, "subscribing to releases timed out"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_show_credentials() {
        for raw in ["redis://user:s3cret@10.0.0.1:6380/2", "rediss://:s3cret@redis.example:6390"] {
            let url = RedisUrl::parse(raw).unwrap();
            for shown in [url.to_string(), format!("{url:?}"), url.redacted().to_owned()] {
                assert!(!shown.contains("s3cret"), "{shown}");
                assert!(!shown.contains("user"), "{shown}");
            }
            assert_eq!(
                url.scrub(format!("failed on {raw} with s3cret")),
                format!("failed on {url} with <redacted>")
            );
        }
        assert_eq!(RedisUrl::parse("redis://127.0.0.1").unwrap().redacted(), "redis://127.0.0.1:6379");
    }

    #[test]
    fn refuses_other_schemes() {
        for raw in ["http://x", "unix:///tmp/redis.sock", "127.0.0.1:6379", ""] {
            assert!(matches!(RedisUrl::parse(raw), Err(ElectionError::Config(_))), "{raw}");
        }
    }

    #[test]
    fn the_value_carries_id_and_token() {
        assert_eq!(value_of("bot:1", FencingToken(42)), "bot:1:42");
        let parse =
            |v: &str| v.rsplit_once(':').and_then(|(h, t)| Some((h.to_owned(), t.parse::<u64>().ok()?)));
        assert_eq!(parse("bot:1:42"), Some(("bot:1".into(), 42)));
    }
}
