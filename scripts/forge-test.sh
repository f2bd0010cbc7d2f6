#!/usr/bin/env bash
# Runs the Solidity tests with the pinned forge and solcjs from .tools (install them with scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/contracts"
exec "$root/.tools/bin/forge" test --offline --use "$root/.tools/bin/solc" "$@"
