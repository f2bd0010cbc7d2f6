#!/usr/bin/env bash
# The whole suite: installs what it lacks (scripts/setup.sh), then formatting, lints, the
# contract artifact check, the Solidity tests and every Rust test (unit, end-to-end on anvil, doc).
# Idempotent; exits non-zero when anything fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "tools"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "contract artifacts match the source"
node contracts/build.mjs --check

step "Solidity tests (forge)"
bash scripts/forge-test.sh

step "Rust tests (unit, end to end, doc)"
cargo test --workspace --locked
