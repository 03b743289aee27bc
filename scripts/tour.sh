#!/usr/bin/env bash
# The nats-actix tour: installs nats-server if missing, starts one on a free
# local port, runs `cargo run --quiet --example tour` against it and stops
# the server on exit. Run from anywhere: bash scripts/tour.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# the current server line only; a missing 2.9.10 (used by the test matrix)
# is fine for the tour, hence CI= (a warning, not a failure)
CI= bash scripts/install-nats-server.sh >/dev/null || true

SERVER=""
for candidate in "$ROOT"/.tools/nats-server-*/bin/nats-server; do
    [[ -x "$candidate" ]] && SERVER="$candidate"
done
if [[ -z "$SERVER" ]]; then
    SERVER="$(command -v nats-server || true)"
fi
if [[ -z "$SERVER" ]]; then
    echo "error: no nats-server found; run: bash scripts/install-nats-server.sh" >&2
    exit 1
fi

# `-p -1` picks a port but does not print it: pick a free one ourselves
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
LOG="$(mktemp -t tour-nats-server.XXXXXX.log)"

"$SERVER" -a 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
SERVER_PID=$!
cleanup() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$LOG"
}
trap cleanup EXIT INT TERM

# wait until the server accepts connections
for _ in $(seq 1 100); do
    if grep -q "Server is ready" "$LOG" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "error: nats-server exited:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q "Server is ready" "$LOG" || { echo "error: nats-server did not start" >&2; cat "$LOG" >&2; exit 1; }

export NATS_URL="nats://127.0.0.1:$PORT"
echo "nats-server $("$SERVER" --version 2>&1 | sed 's/.*: //') listening on $NATS_URL"
cargo run --quiet --example tour
