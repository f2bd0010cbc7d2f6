//! `oracle-cli`: the failover runbook as safe commands, thin over the library crates. It reads
//! the bot's own configuration (the same environment variables, through
//! [`oracle_bot::BotConfig`]) and composes the same sources, electors and oracle bindings.
//!
//! The common path, an emergency price with the running bots held off:
//!
//! ```text
//! $ export JEJU_RPC_URLS=https://rpc.jeju.example ORACLE_ADDRESS=0x...
//! $ oracle-cli status                                   # what is on chain, who leads
//! $ oracle-cli emergency-update --eth 3245.67 --elizaos 0.0842 \
//!       --keystore owner.json --hold-lease --dry-run    # simulate, show, send nothing
//! $ oracle-cli emergency-update --eth 3245.67 --elizaos 0.0842 \
//!       --keystore owner.json --hold-lease              # confirm at the prompt
//! ```
//!
//! From Rust, [`run`] takes the arguments and returns the exit code ([`exit`]); the binary is a
//! thin `main` around it. `docs/cli.md` documents every command.

mod chain;
mod commands;
mod error;
mod keys;
mod output;
mod settings;

use std::{ffi::OsString, path::PathBuf};

use clap::{Args, Parser, Subcommand};

pub use self::{
    error::{CliError, exit},
    output::Report,
};

/// The operator's tool for the oracle: status, prices, emergency updates, the updater key,
/// leadership, failover drills and deployments.
#[derive(Debug, Parser)]
#[command(name = "oracle-cli", version, about, long_about = None)]
pub struct Cli {
    /// Print one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The oracle's on-chain state, each bot's /health and /ready, and who leads.
    Status(BotsArgs),
    /// What each source says now, next to the chain, and what the bot would decide; sends nothing.
    Prices,
    /// The owner's bypass of the deviation rule: simulate, confirm, send.
    EmergencyUpdate(commands::emergency::EmergencyArgs),
    /// The owner rotates the updater key (`setPriceUpdater`): simulate, confirm, send.
    SetUpdater(commands::set_updater::SetUpdaterArgs),
    /// Who leads, and forcing the leader to step down.
    #[command(subcommand)]
    Leader(LeaderCommand),
    /// The failover drill: measure a real takeover between running bots.
    Drill(commands::drill::DrillArgs),
    /// Deploy a new (plain or fenced) oracle from the project's artifacts.
    DeployOracle(commands::deploy::DeployArgs),
    /// Whether the oracle is paused (the deployed contract has no pause: says so).
    Paused,
    /// Pause the oracle (the deployed contract has no pause: says what it offers instead).
    Pause,
    /// Unpause the oracle (the deployed contract has no pause: says so).
    Unpause,
}

/// The leadership commands.
#[derive(Debug, Subcommand)]
pub enum LeaderCommand {
    /// Who leads (id, fencing token, lease expiry) and what each bot thinks.
    Status(BotsArgs),
    /// Force the current leader to step down; another bot takes over.
    Resign(commands::leader::ResignArgs),
}

/// The bots to ask.
#[derive(Debug, Clone, Args)]
pub struct BotsArgs {
    /// A bot's base URL (`http://host:3000`); repeat for each bot. Default: ORACLE_BOT_URLS
    /// (comma-separated).
    #[arg(long = "bot", value_name = "URL")]
    pub bots: Vec<String>,
}

/// Where a signing command's key comes from. The key itself is never a flag unless forced.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// An encrypted Ethereum v3 keystore (what `cast wallet new` writes).
    #[arg(long, env = "ORACLE_CLI_KEYSTORE", value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// The keystore's password, from a file readable by its owner only (else: a prompt).
    #[arg(long, env = "ORACLE_CLI_PASSWORD_FILE", value_name = "FILE", requires = "keystore")]
    pub password_file: Option<PathBuf>,
    /// A file holding the hex private key, readable by its owner only (mode 600).
    #[arg(long, env = "ORACLE_CLI_KEY_FILE", value_name = "FILE", conflicts_with = "keystore")]
    pub key_file: Option<PathBuf>,
    /// The hex private key itself: refused unless --allow-key-argument (it would stay in the
    /// shell history). Prefer ORACLE_CLI_PRIVATE_KEY.
    #[arg(long, value_name = "HEX", hide = true)]
    pub private_key: Option<String>,
    /// Accept --private-key.
    #[arg(long, hide = true)]
    pub allow_key_argument: bool,
}

/// The simulate-confirm-send flow's switches.
#[derive(Debug, Clone, Args)]
pub struct TxArgs {
    /// Do not ask; send after a successful simulation (for scripts).
    #[arg(long)]
    pub yes: bool,
    /// Stop after the simulation: show the plan, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The most to pay per gas, in gwei (default: MAX_GAS_PRICE_GWEI, 100).
    #[arg(long, value_name = "GWEI")]
    pub max_fee_gwei: Option<String>,
}

/// Runs the CLI with `args` (the program name first); prints the report or the error and
/// returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    init_logging();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(report) => {
            if json {
                println!("{}", report.json);
            } else {
                print!("{}", report.human);
            }
            exit::OK
        }
        Err(e) => {
            if json {
                let doc = serde_json::json!({ "ok": false, "error": { "kind": e.kind(), "message": e.to_string() } });
                println!("{doc}");
            }
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Logs go to stderr, warnings only unless `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
