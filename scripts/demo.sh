#!/usr/bin/env bash
# The demo: two local anvil chains (a "Base" with Chainlink's own MockV3Aggregator, a "Jeju" with
# our ManualPriceOracle), the oracle-bot keeping the oracle fresh, and the source price moving.
# Shows the bot's log lines and the on-chain values after each move. Installs what it lacks,
# starts everything fresh and stops everything on exit, so it can be run again at will.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
echo "==> building oracle-bot"
cargo build --quiet -p oracle-bot

bin="$root/.tools/bin"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# anvil's well-known development accounts (public test keys, never used on a real network).
OWNER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
UPDATER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
UPDATER_ADDR=0x70997970C51812dc3A010C7d01b50e0d17dc79C8

start_chain() { # name chain-id port
  "$bin/anvil" --chain-id "$2" --port "$3" --silent > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    "$bin/cast" chain-id --rpc-url "http://127.0.0.1:$3" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "anvil ($1) did not start; see $work/$1.log" >&2
  exit 1
}

BASE_PORT=$(free_port); JEJU_PORT=$(free_port)
BASE_RPC=http://127.0.0.1:$BASE_PORT; JEJU_RPC=http://127.0.0.1:$JEJU_PORT
echo "==> starting local chains: Base (8453) on $BASE_RPC, Jeju (420691) on $JEJU_RPC"
start_chain base 8453 "$BASE_PORT"
start_chain jeju 420691 "$JEJU_PORT"

deploy() { # rpc bytecode-file constructor-signature args...
  local rpc=$1 artifact=$2 sig=$3; shift 3
  local code args
  code=$(jq -r .bytecode "$artifact")
  args=$("$bin/cast" abi-encode "$sig" "$@")
  "$bin/cast" send --json --rpc-url "$rpc" --private-key "$OWNER_KEY" --create "${code}${args#0x}" | jq -r .contractAddress
}

echo "==> deploying Chainlink's MockV3Aggregator (ETH/USD = 3000) and ManualPriceOracle"
AGGREGATOR=$(deploy "$BASE_RPC" .tools/artifacts/MockV3Aggregator.json "constructor(uint8,int256)" 8 300000000000)
OWNER_ADDR=$("$bin/cast" wallet address "$OWNER_KEY")
ORACLE=$(deploy "$JEJU_RPC" contracts/artifacts/ManualPriceOracle.json "constructor(uint256,uint256,address)" \
  300000000000 10000000 "$OWNER_ADDR")
"$bin/cast" send --quiet --rpc-url "$JEJU_RPC" --private-key "$OWNER_KEY" "$ORACLE" "setPriceUpdater(address)" "$UPDATER_ADDR" >/dev/null
echo "    aggregator $AGGREGATOR on Base, oracle $ORACLE on Jeju, updater $UPDATER_ADDR"

show_oracle() {
  local out eth eliza last fresh
  out=$("$bin/cast" call --rpc-url "$JEJU_RPC" "$ORACLE" "getPrices()(uint256,uint256,uint256,bool)")
  read -r eth eliza last fresh <<< "$(echo "$out" | awk '{print $1}' | tr '\n' ' ')"
  printf '    on chain: ethUsdPrice=%s elizaUsdPrice=%s lastUpdateTime=%s fresh=%s\n' "$eth" "$eliza" "$last" "$fresh"
}
show_oracle

echo "==> starting oracle-bot (ticks every 2 s, minimum interval 5 s)"
: > "$work/bot.log"
BOT_ID=demo-bot-1 \
BASE_RPC_URLS=$BASE_RPC JEJU_RPC_URLS=$JEJU_RPC ORACLE_ADDRESS=$ORACLE \
PRICE_UPDATER_PRIVATE_KEY=$UPDATER_KEY CHAINLINK_ETH_USD_ADDRESS=$AGGREGATOR \
ELIZAOS_FIXED_PRICE_USD=0.10 UPDATE_INTERVAL_MS=2000 MIN_UPDATE_INTERVAL_S=5 \
HEALTH_CHECK_PORT=$(free_port) RUST_LOG=info \
  "$root/target/debug/oracle-bot" > "$work/bot.log" 2>&1 &
pids+=($!)
tail -n +1 -f "$work/bot.log" | sed -u 's/^/    [bot] /' &
pids+=($!)

# Each move waits out the bot's minimum interval, then shows what the oracle holds.
for answer in 301200000000 307500000000 308000000000 320000000000 295000000000; do
  sleep 7
  kill -0 "${pids[2]}" 2>/dev/null || { echo "oracle-bot exited; its log:" >&2; cat "$work/bot.log" >&2; exit 1; }
  printf '\n==> Chainlink ETH/USD moves to %s.%s\n' "${answer:0:-8}" "${answer: -8}"
  "$bin/cast" send --quiet --rpc-url "$BASE_RPC" --private-key "$OWNER_KEY" "$AGGREGATOR" "updateAnswer(int256)" "$answer" >/dev/null
  sleep 5
  show_oracle
done

sleep 1
echo
echo "==> stopping the bot (SIGTERM)"
kill -TERM "${pids[2]}" 2>/dev/null || true
wait "${pids[2]}" 2>/dev/null || true
sleep 0.5
updates=$(grep -c "Oracle updated successfully" "$work/bot.log" || true)
echo "==> done: $updates on-chain updates by the bot; final state:"
show_oracle
