//! The `oracle-bot` process: command-line flags, logging, `--check-config`, signals and
//! configuration reloads around [`crate::run`]. `main.rs` only calls [`main`].
//!
//! Exit codes: 0 stopped on a signal after releasing leadership (or `--check-config` found the
//! configuration valid); 1 a failure while running (the target unusable at start-up, a port
//! taken, `--online` checks failed, shutdown past its bound); 2 the configuration is invalid;
//! 130 a second signal cut shutdown short.

use std::{collections::HashMap, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{
    EnvFilter, Registry, layer::SubscriberExt as _, reload, util::SubscriberInitExt as _,
};

use crate::{
    BotConfig, ConfigError,
    settings::{Flag, Layers, Origin, Secrecy},
};

/// How long shutdown may take after the first signal: stop ticking, release leadership (the
/// engine bounds that by its step timeout, 30 s), stop the endpoints.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(40);

/// Keeps an on-chain price oracle fresh: reads prices on the source chain, and, when elected
/// leader, pushes them to the oracle on the target chain.
///
/// Settings come from, in increasing precedence: defaults, the configuration file, the
/// environment (the old bot's variables), flags. `--check-config` prints each setting's value
/// and origin. See docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "oracle-bot", version, about, long_about)]
pub struct Args {
    /// The TOML configuration file (docs/configuration.md; `deploy/oracle-bot.example.toml`).
    #[arg(long, short = 'c', env = "ORACLE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Sets any setting by its variable name, above the file and the environment
    /// (`--set DEVIATION_THRESHOLD_PCT=0.5`). Repeatable. Secrets are refused here.
    #[arg(long = "set", value_name = "VAR=VALUE", value_parser = parse_assignment)]
    pub set: Vec<Flag>,
    /// This bot's id (BOT_ID).
    #[arg(long, value_name = "ID")]
    pub bot_id: Option<String>,
    /// The port of /health, /ready and /metrics (HEALTH_CHECK_PORT).
    #[arg(long, value_name = "PORT")]
    pub health_port: Option<u16>,
    /// The address they listen on (HEALTH_BIND_ADDR), e.g. 127.0.0.1.
    #[arg(long, value_name = "IP")]
    pub health_bind_addr: Option<String>,
    /// `text` (default, the old bot's lines) or `json` (one object per line, for Loki and ELK)
    /// (LOG_FORMAT).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// A tracing filter: `info`, `debug`, `oracle_core=debug,info` (LOG_LEVEL; RUST_LOG when
    /// LOG_LEVEL is unset).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Validates the configuration, prints it with each value's origin (secrets redacted) and
    /// exits: 0 valid, 2 invalid. Connects to nothing unless `--online`.
    #[arg(long)]
    pub check_config: bool,
    /// With `--check-config`: also connect, and check both chains' ids, the oracle's interface,
    /// that the key is the oracle's updater, and the election backend.
    #[arg(long, requires = "check_config")]
    pub online: bool,
}

fn parse_assignment(text: &str) -> Result<Flag, String> {
    let (var, value) = text.split_once('=').ok_or_else(|| format!("expected VAR=VALUE, got {text:?}"))?;
    Ok((var.trim().to_owned(), value.to_owned()))
}

impl Args {
    /// Every flag as `(VAR, value)`: the named ones, then `--set` (which wins).
    pub fn flags(&self) -> Vec<Flag> {
        let named = [
            ("BOT_ID", self.bot_id.clone()),
            ("HEALTH_CHECK_PORT", self.health_port.map(|p| p.to_string())),
            ("HEALTH_BIND_ADDR", self.health_bind_addr.clone()),
            ("LOG_FORMAT", self.log_format.clone()),
            ("LOG_LEVEL", self.log_level.clone()),
        ];
        named
            .into_iter()
            .filter_map(|(var, value)| value.map(|v| (var.to_owned(), v)))
            .chain(self.set.iter().cloned())
            .collect()
    }

    /// The layers these arguments and the process environment give.
    pub fn layers(&self) -> Result<Layers, ConfigError> {
        Layers::read(self.config.as_deref(), &process_env(), &self.flags())
    }
}

/// The process environment (names and values that are valid UTF-8).
pub fn process_env() -> HashMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human lines (the old bot's).
    Text,
    /// One JSON object per line.
    Json,
}

/// The log format and filter the layers ask for (before the rest of the configuration is
/// validated, so its errors are logged in the right format).
pub fn log_settings(layers: &Layers) -> Result<(LogFormat, String), ConfigError> {
    let format = match layers.get("LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("" | "text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: "LOG_FORMAT",
                reason: format!("expected text or json, got {other:?}"),
            });
        }
    };
    let filter = layers
        .get("LOG_LEVEL")
        .or_else(|| std::env::var("RUST_LOG").ok())
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    EnvFilter::try_new(&filter)
        .map_err(|e| ConfigError::Invalid { var: "LOG_LEVEL", reason: format!("{e} (got {filter:?})") })?;
    Ok((format, filter))
}

/// Changes the log filter of the running process.
type FilterHandle = reload::Handle<EnvFilter, Registry>;

fn init_logging(format: LogFormat, filter: &str) -> Option<FilterHandle> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    // Operators grep these lines: no colour codes unless a person is watching.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false))
            .try_init(),
    };
    installed.ok().map(|()| handle)
}

/// The process's `main`.
pub async fn main() -> ExitCode {
    let args = Args::parse();
    let layers = match args.layers() {
        Ok(l) => l,
        Err(e) => return config_error(&e),
    };
    let (format, filter) = match log_settings(&layers) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    let config = BotConfig::from_layers(&layers);
    if args.check_config {
        return check_config(&layers, config, args.online).await;
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    let filter_handle = init_logging(format, &filter);
    banner(&layers, &config);
    let cancel = CancellationToken::new();
    let engine_slot = Arc::new(tokio::sync::OnceCell::new());
    tokio::spawn(signals(cancel.clone()));
    tokio::spawn(reloads(args, Arc::clone(&engine_slot), filter_handle, layers));
    let run = crate::run_with(config, cancel.clone(), engine_slot);
    tokio::pin!(run);
    let result = tokio::select! {
        r = &mut run => r,
        () = async {
            cancel.cancelled().await;
            tokio::time::sleep(SHUTDOWN_BOUND).await;
        } => {
            tracing::error!(bound = ?SHUTDOWN_BOUND, "shutdown did not finish in time: exiting");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => {
            tracing::info!("oracle-bot stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "oracle-bot stopped");
            eprintln!("oracle-bot: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("oracle-bot: configuration error: {e}");
    ExitCode::from(2)
}

/// The start-up banner: the version, then one line per setting that is not at its default,
/// with its origin, secrets redacted (one line each keeps lines short and greppable).
fn banner(layers: &Layers, config: &BotConfig) {
    tracing::info!(bot_id = %config.bot_id, version = env!("CARGO_PKG_VERSION"), "oracle-bot {}", env!("CARGO_PKG_VERSION"));
    for (setting, shown, origin) in layers.report() {
        if origin != Origin::Default {
            tracing::info!(setting = setting.var, value = %shown.unwrap_or_default(), origin = %origin, "setting");
        }
    }
}

/// SIGTERM or SIGINT cancels; a second one exits at once with 130.
async fn signals(cancel: CancellationToken) {
    wait_for_stop_signal().await;
    tracing::info!("signal received, shutting down (a second signal exits at once)");
    cancel.cancel();
    wait_for_stop_signal().await;
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
}

/// On SIGHUP: re-reads the file and flags (the environment of a running process does not
/// change), applies what can change safely, and names what needs a restart.
async fn reloads(
    args: Args,
    engine: Arc<tokio::sync::OnceCell<crate::Running>>,
    filter: Option<FilterHandle>,
    mut current: Layers,
) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: configuration reloads are off");
            return;
        };
        while hup.recv().await.is_some() {
            let Some(engine) = engine.get() else {
                tracing::warn!("SIGHUP before the engine started: ignored");
                continue;
            };
            match reload_once(&args, engine, filter.as_ref(), &current) {
                Ok(next) => current = next,
                Err(e) => {
                    tracing::error!(error = %e, "configuration reload refused; the running configuration stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (args, engine, filter, current);
}

/// One reload: the new layers, validated whole before anything is applied.
fn reload_once(
    args: &Args,
    running: &crate::Running,
    filter: Option<&FilterHandle>,
    current: &Layers,
) -> Result<Layers, ConfigError> {
    let layers = args.layers()?;
    let (_, level) = log_settings(&layers)?;
    let next = BotConfig::from_layers(&layers)?;
    let (reloadable, needs_restart) = crate::settings::changes(current, &layers);
    // Every target's policy is checked before any is applied: a reload applies whole or not at
    // all. Each target keeps the overrides it started with (a change to them needs a restart).
    let policies = running
        .engines
        .iter()
        .map(|(_, overrides)| overrides.apply(&next.policy))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid { var: "the update policy", reason: e.to_string() })?;
    for ((engine, _), policy) in running.engines.iter().zip(policies) {
        engine
            .reconfigure(policy, next.update_interval)
            .map_err(|e| ConfigError::Invalid { var: "UPDATE_INTERVAL_MS", reason: e.to_string() })?;
    }
    if let Some(layer) = &running.alert_layer {
        layer.set_min_severity("telegram", next.alerts.telegram_min_severity);
        layer.set_min_severity("discord", next.alerts.discord_min_severity);
    }
    if let Some(filter) = filter
        && let Err(e) = filter.modify(|f| *f = EnvFilter::new(&level))
    {
        tracing::warn!(error = %e, "cannot change the log filter");
    }
    tracing::info!(
        changed = %reloadable.join(", "),
        deviation_threshold_bps = next.policy.deviation_threshold_bps(),
        interval = ?next.update_interval,
        "configuration reloaded (SIGHUP)"
    );
    if !needs_restart.is_empty() {
        tracing::warn!(
            settings = %needs_restart.join(", "),
            "these settings changed but take effect only after a restart"
        );
    }
    Ok(layers)
}

/// `--check-config`: prints every setting with its origin, validates, and with `online`
/// connects and checks the chains, the oracle, the key and the election backend.
async fn check_config(layers: &Layers, config: Result<BotConfig, ConfigError>, online: bool) -> ExitCode {
    let report = layers.report();
    let width = report.iter().map(|(s, _, _)| s.var.len()).max().unwrap_or(0);
    println!("{:width$}  {:40}  origin", "setting", "value");
    for (setting, shown, origin) in &report {
        let shown = match (shown, setting.secrecy) {
            (Some(v), _) => v.clone(),
            (None, _) => "(default)".to_owned(),
        };
        let shown = if setting.secrecy == Secrecy::Secret && *origin == Origin::Default {
            "(unset)".into()
        } else {
            shown
        };
        println!("{:width$}  {:40}  {origin}", setting.var, shown);
    }
    if let Some((_, path)) = layers.inline_feeds() {
        println!("feeds: the [feeds] table of {}", path.display());
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oracle-bot: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match &config.targets {
        None => println!(
            "configuration valid: bot {} updates {} as {}",
            config.bot_id,
            config.oracle_address,
            config.updater_key.signer().address()
        ),
        Some(targets) => {
            for line in targets.describe() {
                println!("{line}");
            }
            println!(
                "configuration valid: bot {} drives {} targets on {} chains (fleet slack {})",
                config.bot_id,
                targets.targets.len(),
                targets.chains.len(),
                targets.fleet_slack
            );
        }
    }
    if !online {
        return ExitCode::SUCCESS;
    }
    match crate::online::check(&config).await {
        Ok(lines) => {
            for line in lines {
                println!("online: {line}");
            }
            println!("online checks passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oracle-bot: online check failed: {e}");
            ExitCode::FAILURE
        }
    }
}
