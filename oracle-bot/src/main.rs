//! `oracle-bot`: keeps an on-chain price oracle fresh. Configuration comes from environment
//! variables (see `docs/configuration.md`); SIGINT or SIGTERM stops it after releasing leadership.

use std::process::ExitCode;

use oracle_bot::{BotConfig, run};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Operators grep these lines: no colour codes unless a person is watching.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = match BotConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oracle-bot: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    match run(config, cancel).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "oracle-bot stopped");
            eprintln!("oracle-bot: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_on_signal(cancel: CancellationToken) {
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
    tracing::info!("signal received, shutting down");
    cancel.cancel();
}
