//! `oracle-cli`: the operator's tool for inspecting the oracle and pushing emergency prices.
//!
//! This release has no commands yet; the status, emergency-update and leadership commands are
//! built on the same library pieces as the bot (`oracle-bot`'s configuration and `oracle-core`).

fn main() {
    eprintln!("oracle-cli {}: no commands in this release yet", env!("CARGO_PKG_VERSION"));
    std::process::exit(2);
}
