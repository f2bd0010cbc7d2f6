//! A custom `LeaderElector` on a store the embedder already runs: a lease table in PostgreSQL.
//!
//! `PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p oracle-examples --example custom_elector`
//!
//! Any PostgreSQL (9.5 or later) where the user may create a table will do; the test suite starts
//! a throwaway server (`tests/it/examples.rs`) and passes its URL. The
//! lease is one row per election, taken or renewed by one statement, with the server's clock as
//! the only clock that decides expiry:
//!
//! ```sql
//! INSERT INTO oracle_leases AS l (name, holder, token, expires_at)
//! VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8))
//! ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
//!     token = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now() AND l.token >= excluded.token
//!                  THEN l.token ELSE greatest(l.token + 1, excluded.token) END
//! WHERE l.expires_at < now() OR l.holder = excluded.holder
//! RETURNING token
//! ```
//!
//! A renewal keeps the term's token; a new term (another holder, or this one after its lease
//! lapsed or was released, or a term whose token fell below the floor a fenced target reported
//! through `raise_floor`) takes a larger one, and the row is never deleted, so tokens only grow. A release ends the term by moving `expires_at` into the past.
//!
//! Two engines run with an elector each: one leads, the other follows; the leader stops (its
//! engine releases leadership on the way out) and the follower takes over with a larger token.
//! The example exits non-zero if that does not happen.
//!
//! Left out for brevity, and done by the built-in electors (`oracle-election`): renewing in the
//! background between ticks (`live_deadline`), waking followers at once (`watch`, e.g. with
//! `LISTEN`/`NOTIFY`), and reconnecting after the connection drops.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{
    BootInstant, ElectionError, Engine, EngineStatus, FeedId, FencingToken, LeaderElector, LeaderInfo,
    Leadership, Lease, LogAlerter, Price, TickOutcome, test_utils::MemoryTarget,
};
use oracle_sources::FixedPriceSource;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACQUIRE: &str = "INSERT INTO oracle_leases AS l (name, holder, token, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4::float8))
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
        token = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now() AND l.token >= excluded.token
                     THEN l.token ELSE greatest(l.token + 1, excluded.token) END
    WHERE l.expires_at < now() OR l.holder = excluded.holder
    RETURNING token";

/// Leases in PostgreSQL, for the election `name`.
struct PgElector {
    client: Client,
    name: String,
    id: String,
    ttl: Duration,
    /// The smallest token a new term may take (one above the target's highest, once known).
    floor: AtomicU64,
}

fn unavailable(e: tokio_postgres::Error) -> ElectionError {
    ElectionError::Unavailable { backend: "postgres", reason: e.to_string() }
}

fn token(raw: i64) -> Result<FencingToken, ElectionError> {
    u64::try_from(raw)
        .map(FencingToken)
        .map_err(|_| ElectionError::Corrupt { backend: "postgres", detail: format!("negative token {raw}") })
}

impl PgElector {
    async fn connect(url: &str, name: &str, id: &str, ttl: Duration) -> Result<Self, Error> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        // The connection drives the socket; it ends when the client is dropped.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("postgres connection: {e}");
            }
        });
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS oracle_leases (
                    name text PRIMARY KEY, holder text NOT NULL,
                    token bigint NOT NULL CHECK (token > 0), expires_at timestamptz NOT NULL)",
            )
            .await?;
        Ok(Self { client, name: name.into(), id: id.into(), ttl, floor: AtomicU64::new(1) })
    }
}

#[async_trait]
impl LeaderElector for PgElector {
    fn id(&self) -> &str {
        &self.id
    }

    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        // Measured before the request leaves: the server's lease starts no earlier, so this
        // host's deadline comes before the server's expiry (and before anyone else can take it).
        let asked_at = BootInstant::now();
        let floor = i64::try_from(self.floor.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let row = self
            .client
            .query_opt(ACQUIRE, &[&self.name, &self.id, &floor, &self.ttl.as_secs_f64()])
            .await
            .map_err(unavailable)?;
        if let Some(row) = row {
            return Ok(Leadership::Leader(Lease {
                holder: self.id.clone(),
                token: token(row.try_get(0).map_err(unavailable)?)?,
                valid_until: asked_at.saturating_add(self.ttl),
            }));
        }
        Ok(Leadership::Follower { leader: self.leader().await?.map(|l| l.holder) })
    }

    async fn release(&self) -> Result<(), ElectionError> {
        self.client
            .execute(
                "UPDATE oracle_leases SET expires_at = now() - interval '1 millisecond'
                 WHERE name = $1 AND holder = $2 AND expires_at >= now()",
                &[&self.name, &self.id],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let row = self
            .client
            .query_opt(
                "SELECT holder, token, extract(epoch FROM expires_at - now())::float8 FROM oracle_leases
                 WHERE name = $1 AND expires_at >= now()",
                &[&self.name],
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let left: f64 = row.try_get(2).map_err(unavailable)?;
        Ok(Some(LeaderInfo {
            holder: row.try_get(0).map_err(unavailable)?,
            token: token(row.try_get(1).map_err(unavailable)?)?,
            // Remaining time by the server's clock, shown on this host's wall clock.
            expires_at: SystemTime::now() + Duration::from_secs_f64(left.max(0.0)),
        }))
    }

    fn raise_floor(&self, floor: FencingToken) -> bool {
        let Some(next) = floor.0.checked_add(1).filter(|n| i64::try_from(*n).is_ok()) else { return false };
        self.floor.fetch_max(next, Ordering::Relaxed);
        true
    }
}

/// Awaits a status for which `done` holds, within a bound.
async fn until(
    status: &mut watch::Receiver<EngineStatus>,
    what: &str,
    done: impl Fn(&EngineStatus) -> bool,
) -> Result<EngineStatus, Error> {
    let wait = status.wait_for(|s| done(s));
    match tokio::time::timeout(Duration::from_secs(20), wait).await {
        Ok(Ok(s)) => Ok(s.clone()),
        Ok(Err(_)) => Err(format!("the engine stopped before {what}").into()),
        Err(_) => Err(format!("not within 20 s: {what}").into()),
    }
}

type Running = (CancellationToken, tokio::task::JoinHandle<()>, watch::Receiver<EngineStatus>);

/// An engine electing through PostgreSQL as bot `id`, running until cancelled.
async fn start(url: &str, election: &str, id: &str) -> Result<Running, Error> {
    let elector = PgElector::connect(url, election, id, Duration::from_secs(10)).await?;
    let engine = Engine::builder()
        .source(FeedId::ETH_USD, Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::parse("3000", 8)?)))
        .elector(Arc::new(elector))
        // A target that already holds the source's price: every leader tick reads it and skips.
        // The example is about who leads, not about what lands.
        .submitter(Arc::new(MemoryTarget::holding(
            FeedId::ETH_USD,
            Price::parse("3000", 8)?,
            SystemTime::now(),
        )))
        .alerter(Arc::new(LogAlerter))
        .interval(Duration::from_millis(100))
        .build()?;
    let (status, cancel) = (engine.status(), CancellationToken::new());
    let task = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });
    Ok((cancel, task, status))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("PG_URL").map_err(|_| "set PG_URL to a PostgreSQL connection URL")?;
    // A fresh election per run: the table may hold earlier runs' rows.
    let election = format!("example-{}", std::process::id());

    let (cancel_a, task_a, mut status_a) = start(&url, &election, "bot-a").await?;
    let first =
        until(&mut status_a, "bot-a leads", |s| s.is_leader).await?.token.ok_or("a lease without a token")?;
    println!("bot-a leads with token {first}");
    // The second bot starts once the first leads, so which one leads first is known.
    let (cancel_b, task_b, mut status_b) = start(&url, &election, "bot-b").await?;
    let follows_a = |s: &EngineStatus| matches!(&s.last_report, Some(r) if matches!(&r.outcome, TickOutcome::Follower { leader: Some(l) } if l == "bot-a"));
    until(&mut status_b, "bot-b follows bot-a", follows_a).await?;
    println!("bot-b follows bot-a");

    // bot-a stops: its engine releases leadership on the way out, so bot-b need not wait out
    // the 10 s lease.
    cancel_a.cancel();
    task_a.await?;
    let second = until(&mut status_b, "bot-b takes over", |s| s.is_leader)
        .await?
        .token
        .ok_or("a lease without a token")?;
    println!("bot-a released; bot-b leads with token {second}");
    cancel_b.cancel();
    task_b.await?;
    if second <= first {
        return Err(format!("the new term's token {second} is not above the old {first}").into());
    }
    println!("leadership moved from bot-a (token {first}) to bot-b (token {second})");
    Ok(())
}
