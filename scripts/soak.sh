#!/usr/bin/env bash
# Soak: 100 000 mixed events (or $1) through the release `lee` stdio
# harness against the embedded demo home: every event answered once and in
# order, RSS flat within 1 MiB after warm-up, slots reclaimed, cache within
# capacity (scripts/soak.py checks and prints the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

cargo build --release --quiet --bin lee || die "building lee failed"
python3 scripts/soak.py target/release/lee "${1:-100000}"
