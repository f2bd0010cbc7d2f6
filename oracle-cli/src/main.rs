//! `oracle-cli`: the operator's tool for the oracle. Everything is in the library; see
//! `docs/cli.md`.

fn main() {
    std::process::exit(oracle_cli::run(std::env::args_os()));
}
