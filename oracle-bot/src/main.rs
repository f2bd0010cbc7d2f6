//! `oracle-bot`: keeps an on-chain price oracle fresh. `oracle-bot --help` lists the flags;
//! docs/configuration.md the settings. All of it lives in the library ([`oracle_bot::daemon`]).
// The library holds the code and uses the package's dependencies; this binary only calls it.
#![allow(unused_crate_dependencies)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    oracle_bot::daemon::main().await
}
