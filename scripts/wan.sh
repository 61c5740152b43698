#!/usr/bin/env bash
# The WAN benchmark (issue 12): lee against the real Home Assistant of
# ../shared/ha behind nginx (TLS, a test CA made at run time) behind a latency
# relay that also behaves like a frozen Lambda sandbox; lee warm, after the
# server dropped the idle connection, cold, and a new-connection-per-request
# baseline, side by side, as a markdown table. Installs nginx and openssl with
# apt-get when missing, builds the release `lee`, starts Home Assistant when it
# is not running, and stops everything it started (also on Ctrl-C).
# The measuring is done by scripts/wan.py; see --help.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"

usage() {
    cat <<'EOF'
Usage: scripts/wan.sh [options]

lee over a simulated WAN: client -> latency relay (RTT/2 each way; frozen-sandbox
mode) -> nginx (TLS, test CA) -> Home Assistant. Per RTT and directive kind
(Discovery, TurnOn, ReportState): lee warm, lee after nginx dropped the idle
connection (told the proxy's timeout through KEEPALIVE_TIMEOUT_S, and with its
default), lee cold (a new process), and a baseline that opens a new HTTPS
connection per request; also TLS session resumption on reconnects. Prints a
markdown table: median and p95 wall ms, in RTTs over Home Assistant's own time,
errors, billed duration at 128 MB, and the issue's targets.

Options:
  --rtt LIST          round-trip times in ms (default 20,50,100)
  --samples N         samples per kind and scenario (default 30; the
                      resumption rows take N/2)
  --drop-samples N    rounds of the after-drop scenario, each a wait of
                      keepalive + 1 s (default 15)
  --keepalive S       nginx keepalive_timeout in s, at least 2 (default 5); lee
                      is told 60/75 of it (4 s for 5 s) in the "told" variant
  --out FILE          also write the report to FILE
  --no-freeze         the relay passes the server's close on (a client that is
                      merely idle, not frozen)
  -h, --help          this text

With the defaults a run takes about 6 minutes on 2 cores (plus the first
build of lee and, when not yet set up, Home Assistant's setup: 2-3 minutes).
LEE_BIN=/path/to/lee measures that binary instead of building this tree's
(LEE_VERSION=... says what it is in the report).
Needs root or sudo only to install nginx/openssl. Home Assistant: the harness
in ../shared/ha (LEE_HA_HOME, default ~/.cache/lee-ha); one that is already
running is used and left running.
EOF
}

rtt=20,50,100
samples=30
drop_samples=15
keepalive=5
out=
freeze=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rtt) rtt=${2:?--rtt needs a value}; shift 2 ;;
        --samples) samples=${2:?--samples needs a value}; shift 2 ;;
        --drop-samples) drop_samples=${2:?--drop-samples needs a value}; shift 2 ;;
        --keepalive) keepalive=${2:?--keepalive needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --no-freeze) freeze=(--no-freeze); shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done
[[ $rtt =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--rtt wants comma-separated milliseconds, e.g. 20,50,100"
[[ $samples =~ ^[1-9][0-9]*$ ]] || die "--samples wants a positive number"
[[ $drop_samples =~ ^[1-9][0-9]*$ ]] || die "--drop-samples wants a positive number"
if ! [[ $keepalive =~ ^[0-9]+$ ]] || [ "$keepalive" -lt 2 ]; then
    die "--keepalive wants whole seconds, at least 2"
fi
case "$rtt" in 0 | 0,* | *,0 | *,0,*) die "--rtt: 0 ms is measured anyway (the rig's own overhead)" ;; esac
if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
fi

# What this run started, for the trap.
workdir=
driver=
started_ha=
ha_dir=${LEE_HA_DIR:-$root/../shared/ha}
ha_home=${LEE_HA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/lee-ha}

cleanup() {
    local pidfile pid
    if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
        kill -TERM "$driver" 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
    if [ -n "$workdir" ]; then
        # wan.py stops these itself; this covers a driver that was killed.
        for pidfile in "$workdir/nginx.pid" "$workdir/relay.pid"; do
            if [ -s "$pidfile" ]; then
                pid=$(cat "$pidfile")
                if kill -0 "$pid" 2>/dev/null; then
                    kill "$pid" 2>/dev/null || true
                fi
            fi
        done
        rm -rf "$workdir"
    fi
    if [ -n "$started_ha" ]; then
        note "stopping the Home Assistant this run started"
        "$ha_dir/stop.sh" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# nginx and openssl from Debian's packages.
nginx=$(command -v nginx || true)
[ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
if [ -z "$nginx" ]; then
    apt_install nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    # Debian starts the system's nginx on install where it can: this run leaves no nginx running.
    if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
        note "stopping the system nginx that the package installation started"
        as_root systemctl stop nginx || true
    elif [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
        note "stopping the system nginx that the package installation started"
        as_root "$nginx" -s quit || true
    fi
fi
command -v openssl >/dev/null || apt_install openssl
command -v python3 >/dev/null || apt_install python3
command -v curl >/dev/null || apt_install curl

# The release stdio harness: this tree's, or LEE_BIN.
if [ -n "${LEE_BIN:-}" ]; then
    lee=$(cd "$(dirname "$LEE_BIN")" && pwd)/$(basename "$LEE_BIN")
    [ -x "$lee" ] || die "LEE_BIN=$LEE_BIN is not an executable"
    lee_version="${LEE_VERSION:-$lee (LEE_BIN)}"
else
    command -v cargo >/dev/null || die "cargo is missing (install Rust with rustup)"
    note "cargo build --release -p lee-stdio"
    (cd "$root" && cargo build --release --quiet -p lee-stdio) || die "building lee failed"
    lee=$root/target/release/lee
    [ -x "$lee" ] || die "$lee was not built"
    commit=$(git -C "$root" log -1 --format='%h of %cd' --date=iso 2>/dev/null || echo unknown)
    # Uncommitted Rust changes may be part of the binary, and so of the figures: say so.
    dirty=$(git -C "$root" status --porcelain -- '*.rs' '*Cargo.toml' Cargo.lock 2>/dev/null | wc -l || true)
    lee_version="commit $commit"
    [ "${dirty:-0}" -eq 0 ] || lee_version="$lee_version, built with $dirty uncommitted Rust files in the tree"
fi

# Home Assistant: use a running one, else set it up and start it (and stop it afterwards).
ha_ready() {
    local url token_file
    [ -f "$ha_home/env" ] || return 1
    url=$(sed -n 's/^LEE_HA_URL=//p' "$ha_home/env")
    token_file=$(sed -n 's/^LEE_HA_TOKEN_FILE=//p' "$ha_home/env")
    [ -n "$url" ] && [ -r "$token_file" ] || return 1
    curl -sf -o /dev/null -m 5 -H "Authorization: Bearer $(cat "$token_file")" "$url/api/"
}
if ! ha_ready; then
    [ -x "$ha_dir/setup.sh" ] || die "no Home Assistant harness at $ha_dir (set LEE_HA_DIR)"
    note "starting Home Assistant (setup.sh, start.sh in $ha_dir)"
    started_ha=1
    "$ha_dir/setup.sh" >&2 || die "Home Assistant setup failed"
    "$ha_dir/start.sh" >&2 || die "Home Assistant did not start"
    ha_ready || die "Home Assistant does not answer after start.sh"
fi
ha_url=$(sed -n 's/^LEE_HA_URL=//p' "$ha_home/env")
token_file=$(sed -n 's/^LEE_HA_TOKEN_FILE=//p' "$ha_home/env")

workdir=$(mktemp -d "${TMPDIR:-/tmp}/lee-wan.XXXXXX")
command_line="scripts/wan.sh --rtt $rtt --samples $samples --drop-samples $drop_samples --keepalive $keepalive${freeze[*]:+ ${freeze[*]}}"
args=(bench --lee "$lee" --nginx "$nginx" --workdir "$workdir" --ha-url "$ha_url" --token-file "$token_file"
    --rtt "$rtt" --samples "$samples" --drop-samples "$drop_samples" --keepalive "$keepalive"
    --lee-version "$lee_version" --command "$command_line" "${freeze[@]}")
[ -z "$out" ] || args+=(--out "$out")
# In the background so that a TERM or INT to this script alone reaches the trap at once.
python3 "$here/wan.py" "${args[@]}" &
driver=$!
wait "$driver"
driver=
