//! `oracle-cli`: the operator's tool for the oracle. Everything is in the library; see
//! `docs/cli.md`.
// The library holds the code and uses the package's dependencies; this binary only calls it.
#![allow(unused_crate_dependencies)]

fn main() {
    std::process::exit(oracle_cli::run(std::env::args_os()));
}
