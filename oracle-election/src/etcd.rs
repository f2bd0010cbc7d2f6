//! The etcd elector (feature `etcd`): leadership through etcd's election API, on a lease the
//! cluster keeps.
//!
//! - A candidate grants itself a lease (TTL: the lease duration rounded up to whole seconds;
//!   etcd raises it to its own minimum, 2 s with default settings) and **campaigns** on the
//!   election name with a timeout of one renew interval, and only when nobody leads. A campaign
//!   that times out is cancelled and its lease revoked, so it leaves no queued key behind.
//! - The leader keeps its lease alive through the **lease keep-alive stream**, once per renew
//!   interval from the elector's background task, and checks that its election key still exists
//!   with its revision (an operator may have removed it).
//! - The fencing token is the **create revision** of the leader's election key plus an offset
//!   kept in `<name>.epoch` (0 when absent). Revisions only grow while the cluster keeps its
//!   data, but restart low on a new cluster and go back after a snapshot restore; the engine
//!   tells the elector a fenced oracle's highest token, and a candidate whose next token could
//!   not exceed it raises the offset first (offsets only grow), so tokens never go backwards.
//! - A forced step-down puts `<name>.deposed` = the leader key's create revision, attached to
//!   the leader's own lease: the deposed leader's next renewal finds it and revokes its lease
//!   (freeing the election at once), and until then, or until the lease expires, nobody else
//!   campaigns.
//! - **Release** resigns (deletes the key if it is still ours) and revokes the lease. Followers
//!   **watch** the election prefix and try at once on every deletion, which covers a release, a
//!   forced step-down and a lease that etcd expired after its holder died. (`Observe` only
//!   reports new leaders, not a free election, so a watch is the signal that fits.)
//! - `<name>.previous` holds `<id>:<revision>` of the last leader that did not resign; a bot that
//!   wins while it is set logs `Previous leader <id> is dead, taking over`.
//!
//! Several endpoints may be given. The elector keeps one client per endpoint, uses one at a time
//! and fails over to the next on a connection error (etcd-client's own balancer fails the calls
//! it routes to a dead endpoint: etcdv3/etcd-client#39). User and
//! password authentication (`ETCD_USERNAME`/`ETCD_PASSWORD`) is supported; the password never
//! appears in logs, errors or `Debug` output. TLS (`https://` endpoints, a CA, a client
//! certificate) needs the `etcd-tls` feature.

use std::{
    fmt,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, LeaderKey, LeaseKeepAliveStream, LeaseKeeper,
    ResignOptions, Txn, TxnOp, WatchOptions,
};
use oracle_core::{ElectionError, FencingToken, LeaderInfo};
use tokio::sync::Mutex;

use crate::{
    EtcdConfig, LeaseConfig, Secret,
    state::{Attempt, Backend, Core, Renewal, Task, Waker},
};

const BACKEND: &str = "etcd";

/// A leader elector on etcd. See the [module docs](self).
///
/// ```no_run
/// # async fn demo() -> Result<(), oracle_election::ElectionError> {
/// use oracle_election::{EtcdConfig, EtcdElector, LeaderElector, LeaseConfig};
///
/// let config = EtcdConfig::new(["http://127.0.0.1:2379"]);
/// let elector = EtcdElector::connect(&config, "bot-1", LeaseConfig::default()).await?;
/// let leadership = elector.acquire_or_renew().await?;
/// # Ok(()) }
/// ```
pub struct EtcdElector {
    core: Core<EtcdBackend>,
    endpoints: Vec<String>,
    election: String,
}

impl EtcdElector {
    /// An elector for bot `id` on the etcd cluster of `config`. Without authentication the
    /// connection is made lazily (this succeeds while etcd is down); with it, the first
    /// authentication happens here. Must be called inside a tokio runtime.
    pub async fn connect(
        config: &EtcdConfig,
        id: impl Into<String>,
        lease: LeaseConfig,
    ) -> Result<Self, ElectionError> {
        if config.endpoints.is_empty() {
            return Err(ElectionError::Config("etcd needs at least one endpoint".into()));
        }
        if config.election.is_empty() {
            return Err(ElectionError::Config("the etcd election name must not be empty".into()));
        }
        let scrub = Scrub(config.auth.as_ref().map(|a| a.password.clone()));
        let mut options = ConnectOptions::new()
            .with_connect_timeout(lease.renew_deadline())
            .with_keep_alive(lease.renew_interval(), lease.renew_deadline())
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        if let Some(auth) = &config.auth {
            options = options
                .with_user(auth.username.clone(), auth.password.expose())
                .with_auto_token_refresh(true);
        }
        options = tls_options(config, options)?;
        let endpoints = Endpoints::new(config.endpoints.clone(), options, lease.renew_deadline());
        // Fail fast on what cannot work (a bad URL, wrong credentials); an endpoint that is down
        // is tried again at every round.
        match endpoints.call(|_| async { Ok(()) }).await {
            Ok(()) => {}
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                return Err(ElectionError::Unavailable {
                    backend: BACKEND,
                    reason: scrub.clean(format!("connecting: {e}")),
                });
            }
        }
        let ttl = i64::try_from(lease.duration().as_millis().div_ceil(1000)).unwrap_or(i64::MAX).max(1);
        let backend = EtcdBackend {
            endpoints: Arc::new(endpoints),
            name: config.election.clone(),
            prefix: format!("{}/", config.election),
            previous_key: format!("{}.previous", config.election),
            epoch_key: format!("{}.epoch", config.election),
            deposed_key: format!("{}.deposed", config.election),
            ttl,
            // Long enough for a loaded etcd to answer the winner; a loser is cancelled after it.
            campaign_timeout: lease.renew_interval().max(lease.renew_deadline() / 2),
            term: Mutex::new(None),
            scrub,
        };
        Ok(Self {
            core: Core::new(backend, id.into(), lease)?,
            endpoints: config.endpoints.clone(),
            election: config.election.clone(),
        })
    }
}

#[cfg(feature = "etcd-tls")]
pub(crate) fn tls_options(
    config: &EtcdConfig,
    options: ConnectOptions,
) -> Result<ConnectOptions, ElectionError> {
    use etcd_client::{Certificate, Identity, TlsOptions};
    let Some(tls) = &config.tls else { return Ok(options) };
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| ElectionError::Config(format!("reading {}: {e}", p.display())))
    };
    let mut t = TlsOptions::new();
    if let Some(ca) = &tls.ca_cert {
        t = t.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => t = t.identity(Identity::from_pem(read(cert)?, read(key)?)),
        (None, None) => {}
        _ => {
            return Err(ElectionError::Config(
                "an etcd client certificate needs both the cert and the key".into(),
            ));
        }
    }
    if let Some(domain) = &tls.domain {
        t = t.domain_name(domain.clone());
    }
    Ok(options.with_tls(t))
}

#[cfg(not(feature = "etcd-tls"))]
pub(crate) fn tls_options(
    config: &EtcdConfig,
    options: ConnectOptions,
) -> Result<ConnectOptions, ElectionError> {
    if config.tls.is_some() || config.endpoints.iter().any(|e| e.starts_with("https://")) {
        return Err(ElectionError::Config(
            "etcd TLS needs oracle-election's `etcd-tls` feature, which this build does not have".into(),
        ));
    }
    Ok(options)
}

impl fmt::Debug for EtcdElector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdElector")
            .field("id", &self.core.id())
            .field("endpoints", &self.endpoints)
            .field("election", &self.election)
            .field("lease", &self.core.lease_config())
            .finish()
    }
}

crate::delegate_elector!(EtcdElector);

/// One lazily connected client per endpoint; calls go to the active one and fail over.
///
/// Why not one `Client` over every endpoint: etcd-client balances each request over its
/// endpoints, so with one of them down a share of the requests fails; here a request goes to the
/// endpoint that last answered and moves on only when it cannot be reached. Shared by the
/// elector and the fleet's membership ([`crate::share::Membership`]).
pub(crate) struct Endpoints {
    urls: Vec<String>,
    options: ConnectOptions,
    clients: Vec<Mutex<Option<Client>>>,
    active: AtomicUsize,
    connect_timeout: Duration,
}

/// Whether an error means "this endpoint cannot be reached" (try another), rather than an answer.
fn is_connection_error(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            matches!(s.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded)
        }
        _ => false,
    }
}

impl Endpoints {
    pub(crate) fn new(urls: Vec<String>, options: ConnectOptions, connect_timeout: Duration) -> Self {
        Self {
            clients: urls.iter().map(|_| Mutex::new(None)).collect(),
            urls,
            options,
            active: AtomicUsize::new(0),
            connect_timeout,
        }
    }

    async fn client(&self, i: usize) -> Result<Client, etcd_client::Error> {
        let mut slot = self.clients[i].lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let connect = Client::connect([self.urls[i].as_str()], Some(self.options.clone()));
        let client = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| etcd_client::Error::IoError(std::io::ErrorKind::TimedOut.into()))??;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs `op` on the active endpoint; on a connection error, on the next ones in turn.
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, etcd_client::Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.urls.len();
        let start = self.active.load(Ordering::Relaxed);
        let mut k = 0;
        loop {
            let i = (start + k) % n;
            let result = match self.client(i).await {
                Ok(c) => op(c).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_connection_error(&e) && k + 1 < n => k += 1,
                Err(e) => return Err(e),
                Ok(v) => {
                    if i != start {
                        self.active.store(i, Ordering::Relaxed);
                        tracing::info!(endpoint = %self.urls[i], "etcd: switched endpoint");
                    }
                    return Ok(v);
                }
            }
        }
    }
}

/// Removes the password from messages.
#[derive(Clone)]
pub(crate) struct Scrub(pub(crate) Option<Secret>);

impl Scrub {
    pub(crate) fn clean(&self, message: String) -> String {
        match &self.0 {
            Some(password) => password.scrub(&message, &[]),
            None => message,
        }
    }
}

/// Our term on the etcd side: the election key and the lease's keep-alive stream.
struct EtcdTerm {
    token: FencingToken,
    /// The create revision of our election key.
    revision: i64,
    leader: LeaderKey,
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
}

struct EtcdBackend {
    endpoints: Arc<Endpoints>,
    name: String,
    prefix: String,
    previous_key: String,
    epoch_key: String,
    deposed_key: String,
    ttl: i64,
    campaign_timeout: Duration,
    term: Mutex<Option<EtcdTerm>>,
    scrub: Scrub,
}

/// The token of the term whose election key was created at `revision`.
fn token_of(offset: u64, revision: i64) -> Result<FencingToken, ElectionError> {
    u64::try_from(revision).ok().and_then(|r| offset.checked_add(r)).map(FencingToken).ok_or_else(|| {
        ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!("no token for offset {offset} and revision {revision}"),
        }
    })
}

/// The token offset in the epoch key's value: a decimal `u64`, surrounding whitespace allowed.
/// The error is what was found instead, quoted and cut short.
pub(crate) fn parse_offset(value: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| crate::quoted(&String::from_utf8_lossy(value)))
}

/// The token offset stored in the epoch key, the key's mod revision (0 when absent) and the
/// store's current revision.
struct Epoch {
    offset: u64,
    mod_revision: i64,
    store_revision: i64,
}

impl EtcdBackend {
    fn unavailable(&self, what: &str, e: &etcd_client::Error) -> ElectionError {
        ElectionError::Unavailable { backend: BACKEND, reason: self.scrub.clean(format!("{what}: {e}")) }
    }

    /// The current leader's key-value, through the election API's `Leader` (`None` when the
    /// election has no leader).
    async fn leader_kv(&self) -> Result<Option<etcd_client::KeyValue>, ElectionError> {
        let name = self.name.as_str();
        let answer = self.endpoints.call(|c| async move { c.election_client().leader(name).await }).await;
        match answer {
            Ok(mut resp) => Ok(resp.take_kv()),
            Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("no leader") => Ok(None),
            Err(e) => Err(self.unavailable("reading the leader", &e)),
        }
    }

    /// Reads one key's value (`None` when absent) and the store's revision.
    async fn get(
        &self,
        key: &str,
        what: &str,
    ) -> Result<(Option<etcd_client::KeyValue>, i64), ElectionError> {
        let resp = self
            .endpoints
            .call(|c| async move { c.kv_client().get(key, None).await })
            .await
            .map_err(|e| self.unavailable(what, &e))?;
        let revision = resp.header().map_or(0, |h| h.revision());
        Ok((resp.kvs().first().cloned(), revision))
    }

    async fn epoch(&self) -> Result<Epoch, ElectionError> {
        let (kv, store_revision) = self.get(&self.epoch_key, "reading the token offset").await?;
        let Some(kv) = kv else { return Ok(Epoch { offset: 0, mod_revision: 0, store_revision }) };
        let offset = parse_offset(kv.value()).map_err(|found| ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!("key {:?} must hold a decimal token offset, found {found}", self.epoch_key),
        })?;
        Ok(Epoch { offset, mod_revision: kv.mod_revision(), store_revision })
    }

    /// The offset to campaign with: the stored one, raised to `floor` (if another bot changed it
    /// meanwhile, whatever it wrote) when the next revision plus the offset could not exceed it.
    async fn offset_above(&self, floor: FencingToken) -> Result<u64, ElectionError> {
        let epoch = self.epoch().await?;
        let next = u64::try_from(epoch.store_revision).unwrap_or(0).saturating_add(1);
        if epoch.offset.saturating_add(next) > floor.0 {
            return Ok(epoch.offset);
        }
        let key = self.epoch_key.as_str();
        let value = floor.0.to_string();
        let compare = if epoch.mod_revision == 0 {
            Compare::version(key, CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key, CompareOp::Equal, epoch.mod_revision)
        };
        let txn = Txn::new().when([compare]).and_then([TxnOp::put(key, value, None)]);
        let done = self
            .endpoints
            .call(|c| {
                let txn = txn.clone();
                async move { c.kv_client().txn(txn).await }
            })
            .await
            .map_err(|e| self.unavailable("raising the token offset", &e))?;
        if done.succeeded() {
            tracing::info!(election = %self.name, offset = floor.0, "etcd: raised the token offset above the fencing floor");
            return Ok(floor.0);
        }
        // Another candidate raised it first: offsets only grow, so theirs serves too.
        Ok(self.epoch().await?.offset)
    }

    /// Whether the election key `kv` was deposed by an operator.
    async fn is_deposed(&self, kv: &etcd_client::KeyValue) -> Result<bool, ElectionError> {
        let (marker, _) = self.get(&self.deposed_key, "reading the step-down marker").await?;
        Ok(marker.is_some_and(|m| m.value_str().is_ok_and(|v| v == kv.create_revision().to_string())))
    }

    /// When `lease` runs out (wall clock), as etcd counts it now.
    async fn lease_expiry(&self, lease: i64) -> SystemTime {
        let ttl =
            self.endpoints.call(|c| async move { c.lease_client().time_to_live(lease, None).await }).await;
        let remaining = ttl.map_or(0, |r| u64::try_from(r.ttl()).unwrap_or(0));
        let now = SystemTime::now();
        now.checked_add(Duration::from_secs(remaining)).unwrap_or(now)
    }

    async fn info(&self, kv: &etcd_client::KeyValue) -> Result<LeaderInfo, ElectionError> {
        let holder = kv.value_str().map_err(|_| ElectionError::Corrupt {
            backend: BACKEND,
            detail: format!(
                "election key {:?} holds a value that is not UTF-8",
                String::from_utf8_lossy(kv.key())
            ),
        })?;
        let offset = self.epoch().await?.offset;
        Ok(LeaderInfo {
            holder: holder.to_owned(),
            token: token_of(offset, kv.create_revision())?,
            expires_at: self.lease_expiry(kv.lease()).await,
        })
    }

    async fn revoke(&self, lease: i64) {
        let revoke = self.endpoints.call(|c| async move { c.lease_client().revoke(lease).await });
        let _ = tokio::time::timeout(self.campaign_timeout, revoke).await;
    }

    /// Sends one keep-alive on the lease's stream (opening it if needed); `Ok(false)` when the
    /// lease is gone. The stream is put back only after an answer, so a call cut short (a
    /// timeout) leaves no half-used stream behind.
    async fn keep_alive(&self, term: &mut EtcdTerm) -> Result<bool, ElectionError> {
        let lease = term.leader.lease();
        let Some((mut keeper, mut stream)) = term.keeper.take() else {
            // Opening the stream sends the first keep-alive and awaits its answer.
            let opened =
                self.endpoints.call(|c| async move { c.lease_client().keep_alive(lease).await }).await;
            return match opened {
                Ok(pair) => {
                    term.keeper = Some(pair);
                    Ok(true)
                }
                Err(etcd_client::Error::LeaseKeepAliveError(m)) if m.contains("not found") => Ok(false),
                Err(e) => Err(self.unavailable("opening the lease keep-alive stream", &e)),
            };
        };
        let answer = match keeper.keep_alive().await {
            Ok(()) => stream.message().await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(Some(resp)) => {
                term.keeper = Some((keeper, stream));
                Ok(resp.ttl() > 0)
            }
            Ok(None) => Err(ElectionError::Unavailable {
                backend: BACKEND,
                reason: "the lease keep-alive stream closed".into(),
            }),
            Err(e) => Err(self.unavailable("keeping the lease alive", &e)),
        }
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    const NAME: &'static str = BACKEND;

    async fn try_acquire(&self, id: &str, floor: FencingToken) -> Result<Attempt, ElectionError> {
        if let Some(kv) = self.leader_kv().await? {
            if self.is_deposed(&kv).await? {
                return Ok(Attempt::Held { until: self.lease_expiry(kv.lease()).await });
            }
            return Ok(Attempt::Lost { leader: Some(self.info(&kv).await?) });
        }
        let offset = self.offset_above(floor).await?;
        let ttl = self.ttl;
        let lease = self
            .endpoints
            .call(|c| async move { c.lease_client().grant(ttl, None).await })
            .await
            .map_err(|e| self.unavailable("granting a lease", &e))?
            .id();
        let name = self.name.as_str();
        let campaign =
            self.endpoints.call(|c| async move { c.election_client().campaign(name, id, lease).await });
        let leader = match tokio::time::timeout(self.campaign_timeout, campaign).await {
            Ok(Ok(mut resp)) => resp.take_leader(),
            Ok(Err(e)) => {
                self.revoke(lease).await;
                return Err(self.unavailable("campaigning", &e));
            }
            // Another candidate was first: our campaign is cancelled and its lease revoked.
            Err(_) => None,
        };
        let Some(leader) = leader else {
            self.revoke(lease).await;
            return Ok(Attempt::Lost { leader: None });
        };
        let revision = leader.rev();
        let token = match token_of(offset, revision) {
            Ok(t) => t,
            Err(e) => {
                self.revoke(leader.lease()).await;
                return Err(e);
            }
        };
        let marker = format!("{id}:{token}");
        let previous_key = self.previous_key.as_str();
        let put = self
            .endpoints
            .call(|c| {
                let marker = marker.clone();
                async move {
                    c.kv_client()
                        .put(previous_key, marker, Some(etcd_client::PutOptions::new().with_prev_key()))
                        .await
                }
            })
            .await;
        let previous = put
            .ok()
            .and_then(|mut resp| resp.take_prev_key())
            .and_then(|p| p.value_str().ok().map(|v| v.rsplit_once(':').map_or(v, |(h, _)| h).to_owned()));
        *self.term.lock().await = Some(EtcdTerm { token, revision, leader, keeper: None });
        Ok(Attempt::Won { token, replaced_dead: previous })
    }

    async fn renew(&self, _id: &str, token: FencingToken) -> Result<Renewal, ElectionError> {
        let mut guard = self.term.lock().await;
        let Some(term) = guard.as_mut().filter(|t| t.token == token) else { return Ok(Renewal::Lost) };
        if !self.keep_alive(term).await? {
            *guard = None;
            return Ok(Renewal::Lost);
        }
        let key = term.leader.key().to_vec();
        let resp = self
            .endpoints
            .call(|c| {
                let key = key.clone();
                async move { c.kv_client().get(key, None).await }
            })
            .await
            .map_err(|e| self.unavailable("reading our key", &e))?;
        let revision = term.revision;
        let ours = resp.kvs().first().is_some_and(|kv| kv.create_revision() == revision);
        if ours {
            // Deposed: not renewed; the elector ends the term, then releases (resign + revoke).
            let (marker, _) = self.get(&self.deposed_key, "reading the step-down marker").await?;
            if marker.is_some_and(|m| m.value_str().is_ok_and(|v| v == revision.to_string())) {
                return Ok(Renewal::Deposed);
            }
            return Ok(Renewal::Renewed);
        }
        let lease = term.leader.lease();
        *guard = None;
        drop(guard);
        self.revoke(lease).await;
        Ok(Renewal::Lost)
    }

    async fn release(&self, id: &str, token: FencingToken) -> Result<(), ElectionError> {
        let Some(term) = self.term.lock().await.take().filter(|t| t.token == token) else { return Ok(()) };
        let lease = term.leader.lease();
        let leader = term.leader;
        // The term's marker goes first: a candidate waiting on the election wins the moment we
        // resign, and one that still found our marker would take a release for a death ("is
        // dead, taking over"; seen in the suite).
        let marker = format!("{id}:{token}");
        let previous_key = self.previous_key.as_str();
        let clear = self.endpoints.call(|c| {
            let txn = Txn::new()
                .when([Compare::value(previous_key, CompareOp::Equal, marker.clone())])
                .and_then([TxnOp::delete(previous_key, None)]);
            async move { c.kv_client().txn(txn).await }
        });
        let _ = clear.await;
        let resigned = self
            .endpoints
            .call(|c| {
                let leader = leader.clone();
                async move { c.election_client().resign(Some(ResignOptions::new().with_leader(leader))).await }
            })
            .await
            .map_err(|e| self.unavailable("resigning", &e));
        self.revoke(lease).await;
        resigned.map(|_| ())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        match self.leader_kv().await? {
            Some(kv) if !self.is_deposed(&kv).await? => self.info(&kv).await.map(Some),
            _ => Ok(None),
        }
    }

    async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let Some(kv) = self.leader_kv().await? else { return Ok(None) };
        if self.is_deposed(&kv).await? {
            return Ok(None);
        }
        let info = self.info(&kv).await?;
        let deposed_key = self.deposed_key.as_str();
        // The marker lives on the deposed leader's lease: it goes when that lease does.
        let done = self
            .endpoints
            .call(|c| {
                let txn = Txn::new()
                    .when([Compare::create_revision(kv.key(), CompareOp::Equal, kv.create_revision())])
                    .and_then([TxnOp::put(
                        deposed_key,
                        kv.create_revision().to_string(),
                        Some(etcd_client::PutOptions::new().with_lease(kv.lease())),
                    )]);
                async move { c.kv_client().txn(txn).await }
            })
            .await
            .map_err(|e| self.unavailable("marking the leader deposed", &e))?;
        // The key changed meanwhile: that leader is already gone.
        Ok(done.succeeded().then_some(info))
    }

    fn notifier(self: &Arc<Self>, waker: Waker) -> Option<Task> {
        let endpoints = Arc::clone(&self.endpoints);
        let prefix = self.prefix.clone();
        let scrub = self.scrub.clone();
        Some(Box::pin(async move {
            let mut backoff = Duration::from_millis(50);
            loop {
                let prefix = prefix.as_str();
                let watch = endpoints
                    .call(|c| async move {
                        c.watch_client().watch(prefix, Some(WatchOptions::new().with_prefix())).await
                    })
                    .await;
                match watch {
                    Ok(mut stream) => {
                        backoff = Duration::from_millis(50);
                        // A deletion may have happened while we were not watching.
                        waker.wake();
                        while let Ok(Some(resp)) = stream.message().await {
                            if resp.canceled() {
                                break;
                            }
                            if resp.events().iter().any(|e| e.event_type() == EventType::Delete) {
                                waker.wake();
                            }
                        }
                        tracing::debug!("etcd election watch closed; watching again");
                    }
                    Err(e) => {
                        tracing::debug!(error = %scrub.clean(e.to_string()), "cannot watch the etcd election")
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }))
    }
}
