//! Tests of the `oracle-bot` binary and its configuration, as one test binary with a module per
//! area: the binary's start-up and environment, the daemon (layered configuration, signals,
//! HTTP hardening), fleets of processes per elector, alerts, the guarantees, hostile endpoints,
//! and the configuration's property tests. Run one area with
//! `cargo test -p oracle-bot --test it <module>::`.
// An integration test links every dependency of the package; it exercises the library and the
// binary, not those crates.
#![allow(unused_crate_dependencies)]

mod bot_alerts;
mod bot_binary;
mod bot_daemon;
mod bot_fleet;
mod bot_guarantees;
mod bot_hostile;
mod bot_targets;
mod config_props;
