//! `elector-probe`: one leader elector in a loop, for the election tests and by hand.
//!
//! The backend comes from the bot's environment variables (`LEADER_ELECTION_BACKEND`,
//! `LEADER_LOCK_PATH`, `REDIS_URL`, `ETCD_ENDPOINTS`, `LEADER_LEASE_MS`, ...; see
//! `oracle_election::env`). Every `--tick-ms`, and at once when the elector's watch channel
//! changes while following, the probe calls `acquire_or_renew`. As leader it checks the lease
//! with `Fence::check` and then acts on the fenced target (`--action-log`).
//!
//! Stdout, one line per event:
//!
//! ```text
//! LEADER <token> <ms the lease is still valid>   became leader (or resumed) with <token>
//! ACTED <token>                                   first accepted action of the term
//! FOLLOWER <leader or ->                          another bot leads (or nobody, and we lost)
//! FENCED <token>                                  Fence::check refused: not acting
//! REFUSED <token>                                 the target refused our token
//! RELEASED <token>                                we released leadership
//! ERROR <message>                                 an election round failed
//! STOPPED                                         we are exiting
//! ```
//!
//! Stdin commands: `release` (release and rest for `--rest-ms`), `stale` (act once with the last
//! term's token without checking the lease: the target must refuse it once a newer leader
//! acted), `stop` (release and exit; also on end of input and SIGTERM).

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use oracle_core::{Fence, FencingToken, LeaderElector, Leadership, Lease};
use oracle_election::{ElectorConfig, LeaseConfig};
use oracle_tests::election::FencedTarget;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    signal::unix::{SignalKind, signal},
    sync::watch,
};

/// Runs one leader elector and reports its state changes.
#[derive(Debug, Parser)]
#[command(name = "elector-probe")]
struct Args {
    /// The bot id.
    #[arg(long)]
    id: String,
    /// The shared action log (the fenced target).
    #[arg(long)]
    action_log: PathBuf,
    /// Milliseconds between rounds.
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
    /// The lease validity required by `Fence::check`, in milliseconds.
    #[arg(long, default_value_t = 100)]
    margin_ms: u64,
    /// Release after leading this many milliseconds (default: never).
    #[arg(long)]
    hold_ms: Option<u64>,
    /// After a release, stay out of the election this many milliseconds.
    #[arg(long, default_value_t = 300)]
    rest_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    Leader(FencingToken),
    Follower(Option<String>),
    Fenced(FencingToken),
    Error,
    Released,
}

struct Probe {
    id: String,
    state: State,
    target: FencedTarget,
    margin: Duration,
    last_lease: Option<Lease>,
    acted: Option<FencingToken>,
    leading_since: Option<Instant>,
    rest_until: Option<Instant>,
}

impl Probe {
    fn enter(&mut self, state: State, line: impl FnOnce() -> String) {
        let changed = match (&self.state, &state) {
            (State::Error, State::Error) => false,
            (a, b) => a != b,
        };
        if changed {
            println!("{}", line());
            if !matches!(state, State::Leader(_)) {
                // The next accepted action, in this term or a resumed one, prints ACTED again.
                self.acted = None;
            }
            self.state = state;
        }
    }

    /// Checks the lease with a live fence (as the engine does), then acts; reports LEADER only
    /// while the fence passes.
    async fn act(&mut self, elector: &Arc<dyn LeaderElector>, lease: &Lease) {
        let token = lease.token;
        let fence = Fence::live(Arc::clone(elector), lease.clone(), self.margin);
        if fence.check().is_err() {
            self.enter(State::Fenced(token), || format!("FENCED {token}"));
            return;
        }
        let valid_ms = fence.deadline().map_or(0, |d| d.remaining().as_millis());
        if self.state != State::Leader(token) {
            self.leading_since = Some(Instant::now());
        }
        self.enter(State::Leader(token), || format!("LEADER {token} {valid_ms}"));
        match act(&self.target, &self.id, token).await {
            Ok(true) => {
                if self.acted != Some(token) {
                    self.acted = Some(token);
                    println!("ACTED {token}");
                }
            }
            Ok(false) => println!("REFUSED {token}"),
            Err(e) => println!("ERROR action log: {e}"),
        }
    }

    async fn release(&mut self, elector: &dyn LeaderElector) {
        if let State::Leader(token) | State::Fenced(token) = self.state {
            match elector.release().await {
                Ok(()) => println!("RELEASED {token}"),
                Err(e) => println!("ERROR release: {e}"),
            }
            self.state = State::Released;
        }
        self.leading_since = None;
    }

    async fn round(&mut self, elector: &Arc<dyn LeaderElector>, hold: Option<Duration>, rest: Duration) {
        match elector.acquire_or_renew().await {
            Ok(Leadership::Leader(lease)) => {
                self.act(elector, &lease).await;
                self.last_lease = Some(lease);
                if let (Some(hold), Some(since)) = (hold, self.leading_since)
                    && since.elapsed() >= hold
                {
                    self.release(elector.as_ref()).await;
                    self.rest_until = Some(Instant::now() + rest);
                }
            }
            Ok(Leadership::Follower { leader }) => {
                self.leading_since = None;
                let shown = leader.clone().unwrap_or_else(|| "-".into());
                self.enter(State::Follower(leader), || format!("FOLLOWER {shown}"));
            }
            Err(e) => {
                self.leading_since = None;
                self.enter(State::Error, || format!("ERROR {e}"));
            }
        }
    }
}

/// Acts on the target off the runtime's thread (the target's lock may be held for a while by a
/// paused probe), so the elector's background renewals keep running.
async fn act(target: &FencedTarget, id: &str, token: FencingToken) -> std::io::Result<bool> {
    let (target, id) = (target.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || target.act(&id, token.0)).await.map_err(std::io::Error::other)?
}

async fn changed(rx: &mut watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let get = |k: &str| std::env::var(k).ok();
    let setup = async {
        let config = ElectorConfig::from_env(get)?;
        let lease = LeaseConfig::from_env(get)?;
        tracing::info!(id = %args.id, backend = %config.describe(), ?lease, "elector-probe starting");
        config.connect(&args.id, lease).await
    };
    let elector: Arc<dyn LeaderElector> = match setup.await {
        Ok(e) => e,
        Err(e) => {
            println!("ERROR {e}");
            println!("STOPPED");
            return ExitCode::from(2);
        }
    };
    let Ok(mut sigterm) = signal(SignalKind::terminate()) else {
        println!("ERROR cannot handle SIGTERM");
        return ExitCode::from(2);
    };
    let mut wake = elector.watch().unwrap_or_else(|| watch::channel(0).1);
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let tick = Duration::from_millis(args.tick_ms);
    let hold = args.hold_ms.map(Duration::from_millis);
    let rest = Duration::from_millis(args.rest_ms);
    let mut probe = Probe {
        id: args.id.clone(),
        state: State::Start,
        target: FencedTarget::new(&args.action_log),
        margin: Duration::from_millis(args.margin_ms),
        last_lease: None,
        acted: None,
        leading_since: None,
        rest_until: None,
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let following = !matches!(probe.state, State::Leader(_));
        tokio::select! {
            _ = ticker.tick() => {}
            () = changed(&mut wake), if following => {}
            line = stdin.next_line() => match line.ok().flatten().as_deref().map(str::trim) {
                Some("release") => {
                    probe.release(elector.as_ref()).await;
                    probe.rest_until = Some(Instant::now() + rest);
                    continue;
                }
                Some("stale") => {
                    if let Some(lease) = &probe.last_lease {
                        match act(&probe.target, &probe.id, lease.token).await {
                            Ok(true) => println!("STALE_ACCEPTED {}", lease.token),
                            Ok(false) => println!("REFUSED {}", lease.token),
                            Err(e) => println!("ERROR action log: {e}"),
                        }
                    }
                    continue;
                }
                Some("stop") | None => break,
                Some(_) => continue,
            },
            _ = sigterm.recv() => break,
        }
        if probe.rest_until.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        probe.rest_until = None;
        probe.round(&elector, hold, rest).await;
    }
    probe.release(elector.as_ref()).await;
    println!("STOPPED");
    ExitCode::SUCCESS
}
