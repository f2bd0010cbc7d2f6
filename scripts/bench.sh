#!/usr/bin/env bash
# One command for every published benchmark figure: installs what is missing (scripts/setup.sh),
# builds the release bot and the benchmarks, runs each benchmark, and rewrites the generated
# section of docs/benchmarks.md (between <!-- bench:begin --> and <!-- bench:end -->) with the
# figures, the date, the machine and the commit. Idempotent: run it again at will.
#
#   bash scripts/bench.sh           # the full run (about 15-25 minutes on 2 cores)
#   bash scripts/bench.sh --quick   # few rounds and short durations: a check that it all works
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mode=full
case "${1:-}" in
  --quick) mode=quick ;;
  "") ;;
  *) echo "usage: bash scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac
if [ "$mode" = quick ]; then
  moves=10 reads=10 elector_rounds=2 bot_rounds=2 seconds=20 scale_sizes="1 10"
else
  moves=100 reads=100 elector_rounds=10 bot_rounds=10 seconds=120 scale_sizes="1 10 100 1000"
fi

log() { printf '[bench] %s\n' "$*" >&2; }

bash scripts/setup.sh
target=${CARGO_TARGET_DIR:-$root/target}
log "building (release oracle-bot; debug benchmarks)"
cargo build --locked --release -p oracle-bot
cargo build --locked -p oracle-tests --bin update_latency --bin rpc_cost --bin bot_failover \
  --bin bot_footprint --bin targets_scale --bin bench_report
cargo build --locked -p oracle-election --example failover_bench --features etcd

out=$(mktemp -d "${TMPDIR:-/tmp}/oracle-bench.XXXXXX")
log "logs in $out"
# Run copies: the target directory may be shared with another checkout, whose next build would
# replace these binaries mid-run. The bot's copy keeps "release" in its path (the reports say
# which build they measured from it).
mkdir -p "$out/debug" "$out/release"
cp "$target/release/oracle-bot" "$out/release/"
for b in update_latency rpc_cost bot_failover bot_footprint targets_scale bench_report; do cp "$target/debug/$b" "$out/debug/"; done
cp "$target/debug/examples/failover_bench" "$out/debug/"
failed=()
# Each benchmark's whole output goes to its log; bench_report reads the logs' BENCH lines.
run() {
  local name=$1
  shift
  log "$name: $*"
  if ! "$@" 2>&1 | tee "$out/$name.log"; then
    log "$name FAILED (its rows in the report say so)"
    failed+=("$name")
  fi
}

run update_latency "$out/debug/update_latency" "$moves"
run rpc_cost "$out/debug/rpc_cost" "$reads"
run failover_bench "$out/debug/failover_bench" "$elector_rounds"
# The bots measured are the release build, as deployed.
export ORACLE_BOT_BIN="$out/release/oracle-bot"
run bot_failover "$out/debug/bot_failover" "$bot_rounds"
run bot_footprint "$out/debug/bot_footprint" "$seconds"
run targets_scale "$out/debug/targets_scale" $scale_sizes

"$out/debug/bench_report" docs/benchmarks.md "$mode" "$out"/*.log
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]} (logs in $out)"
  exit 1
fi
log "done: docs/benchmarks.md rewritten ($mode run; logs in $out)"
