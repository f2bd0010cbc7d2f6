#!/usr/bin/env bash
# The demo: two local anvil chains ("Base" with Chainlink's own MockV3Aggregator and the real
# Uniswap V3 factory with an elizaOS/WETH pool, "Jeju" with our ManualPriceOracle), two
# oracle-bots electing a leader through a lock file, the prices moving, the leader stopped part
# way and the follower taking over on chain. Installs what it lacks; starts everything fresh and
# stops everything on exit, so it can be run again at will. The script is thin: the scenario is
# tests/src/bin/demo.rs, on the same harness as the end-to-end tests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
echo "==> building oracle-bot and the demo"
cargo build --quiet -p oracle-bot -p oracle-tests --bin oracle-bot --bin demo
exec "$root/target/debug/demo" "$root/target/debug/oracle-bot"
