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

step "feature gates: each library alone, with no features and with each feature alone"
# `cargo check` only (quick): a feature that does not really gate, or code that needs one it
# does not enable, fails here rather than in an embedder's build.
for spec in "oracle-core:evm test-utils" "oracle-sources:" "oracle-election:etcd etcd-tls" \
    "oracle-alerts:telegram discord"; do
    crate=${spec%%:*}
    cargo check -q --locked -p "$crate" --no-default-features --all-targets
    for feature in ${spec#*:}; do
        cargo check -q --locked -p "$crate" --no-default-features --features "$feature" --all-targets
    done
done
# Without `evm`, oracle-core must not pull in alloy (`cargo tree -i` fails when it is absent).
if cargo tree -q --locked -p oracle-core --no-default-features -e normal -i alloy >/dev/null 2>&1; then
    echo "oracle-core without features depends on alloy" >&2
    exit 1
fi

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps --locked

step "cargo package: the libraries, the bot and the CLI (offline, not verified)"
# Cargo >= 1.84 packages interdependent workspace crates together. Verification (building each
# packaged crate on its own) also works offline but rebuilds every dependency with each crate's
# own features, several minutes on a small machine: `cargo package` without `--no-verify` before
# a release.
cargo package -q --workspace --exclude oracle-tests --exclude oracle-examples --locked --no-verify \
    --allow-dirty --offline

step "contract artifacts match the source"
node contracts/build.mjs --check

log=$(mktemp)
trap 'rm -f "$log"' EXIT

step "Solidity tests (forge)"
bash scripts/forge-test.sh 2>&1 | tee -a "$log"

step "Rust tests (unit, end to end, doc)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee -a "$log"

# One closing line for the whole suite (cargo's last line is whichever crate ran last).
count() { { grep -hoE "$1" "$log" || true; } | awk '{ if (match($0, /[0-9]+/)) s += substr($0, RSTART, RLENGTH) } END { print s + 0 }'; }
passed=$(count '(test result: ok\. |: )[0-9]+ (passed|tests passed)')
failed=$(count '[0-9]+ failed')
echo
echo "suite: $passed passed, $failed failed"
