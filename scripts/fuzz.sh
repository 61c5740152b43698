#!/usr/bin/env bash
# Fuzz lee: run every cargo-fuzz target in fuzz/ for a set time and print,
# per target, the executions, executions per second, corpus size and crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600, all)
#
# Installs what it lacks: a nightly toolchain (rustup) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`, about 2.5 minutes). The first build
# compiles libFuzzer (about 2 minutes).
#
# Corpora: the committed seeds in fuzz/corpus/<target>/ are only read; what
# fuzzing finds grows in fuzz/target/corpus/<target>/, kept between runs.
# When that folder is empty, classify, directive, ha_response and ndjson are seeded from Amazon's
# sample messages in the shared folder (../shared/alexa/samples, found like
# .ci/run finds it; without it they start from nothing). Crashes are written
# to fuzz/artifacts/<target>/ (reproduce one with
# `cargo +nightly fuzz run <target> <file>`); the log of each run is
# fuzz/target/logs/<target>.log, the summary fuzz/target/fuzz-summary.txt.
#
# Environment: LEE_FUZZ_JOBS (targets run at once, default 1),
# LEE_FUZZ_SANITIZER (cargo fuzz --sanitizer, default address),
# LEE_FUZZ_RSS_MB (libFuzzer -rss_limit_mb, default 2048).
# Exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ALL_TARGETS=(classify directive ha_response discovery config ndjson cache_slots)
SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
JOBS=${LEE_FUZZ_JOBS:-1}
SANITIZER=${LEE_FUZZ_SANITIZER:-address}
RSS_MB=${LEE_FUZZ_RSS_MB:-2048}

if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
    die "SECONDS_PER_TARGET must be a whole number of seconds, not '$SECONDS_PER_TARGET'"
fi
if ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    die "LEE_FUZZ_JOBS must be a whole number, at least 1"
fi
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "no fuzz target '$t' (targets: ${ALL_TARGETS[*]})"
done

# The longest input libFuzzer makes for each target, in bytes.
max_len() {
    case "$1" in
        ha_response | ndjson) echo 16384 ;;
        classify | directive | discovery) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

# --- tools -------------------------------------------------------------------
command -v rustup >/dev/null || die "rustup is missing (install Rust with rustup)"
if ! rustup toolchain list | grep -q '^nightly'; then
    note "rustup toolchain install nightly"
    rustup toolchain install nightly --profile minimal >/dev/null || die "installing nightly failed"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    note "cargo install cargo-fuzz --locked (about 2.5 minutes)"
    cargo install cargo-fuzz --locked || die "cargo install cargo-fuzz failed"
fi

# --- seeds from the shared folder (like .ci/run: $LEE_SHARED, ../shared, /work/shared)
SAMPLES=
for candidate in "${LEE_SHARED:-}" "$PWD/../shared" /work/shared; do
    if [ -n "$candidate" ] && [ -d "$candidate/alexa/samples" ]; then
        SAMPLES=$(cd "$candidate/alexa/samples" && pwd)
        break
    fi
done
[ -n "$SAMPLES" ] || note "no shared alexa/samples folder (set LEE_SHARED): runtime seeds skipped"

# Write the seeds of one target into $2 (an empty folder).
seed() {
    local target=$1 dir=$2 f i=0
    [ -n "$SAMPLES" ] || return 0
    case "$target" in
        classify | directive)
            # Amazon's sample directives, as Alexa sends them (they are not
            # copied into the repository: Amazon Software License).
            while IFS= read -r f; do
                i=$((i + 1))
                cp "$f" "$dir/sample-$i.json"
            done < <(find "$SAMPLES" -name '*.request.json' -o -name 'ReportState.json' | sort)
            ;;
        ha_response)
            # A 16-byte header of zeros (a TurnOn answered 200 at once) and an
            # answer Home Assistant could give: Amazon's sample responses.
            while IFS= read -r f; do
                i=$((i + 1))
                { head -c 16 /dev/zero; cat "$f"; } >"$dir/sample-$i"
            done < <(find "$SAMPLES" -name '*.response.json' -o -name 'ErrorResponse*.json' \
                -o -name 'StateReport.json' -o -name 'DeferredResponse.json' | sort | head -n 24)
            ;;
        ndjson)
            # A limit (2 bytes LE) and a read buffer (1 byte), then a stream
            # of pretty-printed documents and lines: once as is with a large
            # limit, once with a small one, once with CRLF line endings.
            local stream
            stream=$(find "$SAMPLES" examples -name '*.json' 2>/dev/null | sort | head -n 8)
            # shellcheck disable=SC2086
            { printf '\377\037\077'; cat $stream; } >"$dir/stream-large-limit"
            # shellcheck disable=SC2086
            { printf '\054\001\007'; cat $stream; } >"$dir/stream-limit-300"
            # shellcheck disable=SC2086
            { printf '\377\037\002'; cat $stream | sed 's/$/\r/'; } >"$dir/stream-crlf"
            ;;
    esac
}

# --- run -----------------------------------------------------------------------
FUZZ_DIR=fuzz
WORK="$FUZZ_DIR/target"
mkdir -p "$WORK/logs" "$WORK/corpus"

note "building the fuzz targets (cargo +nightly fuzz build, sanitizer $SANITIZER)"
(cd "$FUZZ_DIR" && cargo +nightly fuzz build --sanitizer "$SANITIZER") || die "building the fuzz targets failed"

# Run one target; its result line goes to $WORK/logs/<target>.result.
run_target() {
    local t=$1
    local corpus="$WORK/corpus/$t" seeds="$FUZZ_DIR/corpus/$t" artifacts="$FUZZ_DIR/artifacts/$t"
    local log="$WORK/logs/$t.log"
    mkdir -p "$corpus" "$artifacts"
    if [ -z "$(ls -A "$corpus")" ]; then
        seed "$t" "$corpus"
    fi
    local dirs=("$PWD/$corpus")
    [ -d "$seeds" ] && dirs+=("$PWD/$seeds")
    local before
    before=$(find "$artifacts" -type f | sort)
    local status=0 started=$SECONDS
    (cd "$FUZZ_DIR" && cargo +nightly fuzz run --sanitizer "$SANITIZER" "$t" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" \
        -rss_limit_mb="$RSS_MB" -timeout=10 -print_final_stats=1) >"$log" 2>&1 || status=$?

    local elapsed=$((SECONDS - started)) execs rate corp crashes found
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        # Stopped by a crash: the last status line has the count so far.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
        rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    fi
    corp=$(find "$corpus" -type f | wc -l)
    found=$(comm -13 <(printf '%s\n' "$before") <(find "$artifacts" -type f | sort) | grep -c . || true)
    crashes=$found
    if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
        crashes="error (exit $status, see $log)"
    fi
    printf '%-12s %8s %12s %8s %8s  %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$corp" \
        "$crashes" >"$WORK/logs/$t.result"
    [ "$status" -eq 0 ]
}

failed=0
running=0
for t in "${TARGETS[@]}"; do
    note "fuzzing $t for ${SECONDS_PER_TARGET}s (log: $WORK/logs/$t.log)"
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done

{
    printf '%-12s %8s %12s %8s %8s  %s\n' target seconds execs exec/s corpus crashes
    for t in "${TARGETS[@]}"; do
        cat "$WORK/logs/$t.result" 2>/dev/null || printf '%-12s (no result)\n' "$t"
    done
} | tee "$WORK/fuzz-summary.txt"

if [ "$failed" -ne 0 ]; then
    note "a target crashed or failed: inputs in $FUZZ_DIR/artifacts/, logs in $WORK/logs/"
    exit 1
fi
