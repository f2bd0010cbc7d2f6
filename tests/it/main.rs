//! The end-to-end tests as one test binary (one link of alloy, redis and etcd-client instead of
//! one per file), a module per area: sources, election, engine and transactions on anvil, the
//! guarantees, RPC failover, alerts, the CLI, deployment files and monitoring, hostile input,
//! and the soak. Run one area with `cargo test -p oracle-tests --test it <module>::`.

mod alerts;
mod cli;
mod contract_artifacts;
mod deploy;
mod election_etcd;
mod election_file;
mod election_redis;
mod engine_anvil;
mod examples;
mod fleet_share;
mod guarantees;
mod hostile;
mod hostile_election;
mod monitoring;
mod props_oracle_library;
mod rpc_failover;
mod soak;
mod sources_chainlink;
mod sources_composite;
mod sources_config;
mod sources_http;
mod sources_median;
mod sources_oracle_library;
mod sources_uniswap;
mod targets;
mod transactions_anvil;
