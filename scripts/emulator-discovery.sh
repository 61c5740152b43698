#!/usr/bin/env bash
# lee's `bootstrap` answers an Alexa Discovery through a local Lambda emulator,
# against the real Home Assistant of the test harness (../shared/ha).
#
# The emulator is npm's @vercel/fun (pinned below): it serves the Lambda
# Runtime API, starts the `provided` runtime's `bootstrap` from a folder the
# way Lambda does (AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT, function name,
# memory, version), hands it the invocation and returns its answer. fun sends
# a placeholder deadline (5000 ms after 1970); bootstrap treats any deadline
# before 2000 as none and keeps to Alexa's 8 s limit.
#
# Uses the x86_64 debug build, target/debug/bootstrap, brought up to date
# here with cargo build (LEE_BOOTSTRAP=path runs another binary instead).
# Needs the harness running (../shared/ha/start.sh): LEE_HA_URL and
# LEE_HA_TOKEN_FILE, from the environment or the harness's env file.
# The Discovery must list LEE_EXPECT_ENDPOINTS endpoints (53 for the harness).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

FUN_VERSION=1.3.6
EXPECT="${LEE_EXPECT_ENDPOINTS:-53}"

if [ -z "${LEE_HA_URL:-}" ] || [ -z "${LEE_HA_TOKEN_FILE:-}" ]; then
    ha_env="${LEE_HA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/lee-ha}/env"
    [ -f "$ha_env" ] || die "Home Assistant is not running: start it with ../shared/ha/start.sh"
    set -a
    # shellcheck disable=SC1090
    . "$ha_env"
    set +a
fi
[ -r "$LEE_HA_TOKEN_FILE" ] || die "cannot read the Home Assistant token file $LEE_HA_TOKEN_FILE"

command -v node >/dev/null || die "node is missing (@vercel/fun needs Node.js 20 or later)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: @vercel/fun $FUN_VERSION needs 20 or later"
command -v npm >/dev/null || die "npm is missing"
fun_dir="$LEE_TOOLS_HOME/fun-$FUN_VERSION"
if [ ! -f "$fun_dir/node_modules/@vercel/fun/package.json" ]; then
    note "npm install @vercel/fun@$FUN_VERSION into $fun_dir"
    mkdir -p "$fun_dir"
    npm install --prefix "$fun_dir" --no-audit --no-fund --silent "@vercel/fun@$FUN_VERSION" \
        || die "npm install @vercel/fun@$FUN_VERSION failed"
fi

if [ -n "${LEE_BOOTSTRAP:-}" ]; then
    bootstrap=$LEE_BOOTSTRAP
else
    # A no-op when it is up to date (as after `cargo test --workspace`, which
    # builds the dependencies); never test a stale binary.
    cargo build -p lee-lambda --bin bootstrap
    bootstrap="${CARGO_TARGET_DIR:-target}/debug/bootstrap"
fi
[ -x "$bootstrap" ] || die "$bootstrap is not an executable"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/task"
ln -s "$(realpath "$bootstrap")" "$work/task/bootstrap"

# `debug`, the logging module fun uses, reads DEBUG: keep it out of node's way.
env -u DEBUG FUN_DIR="$fun_dir" TASK_DIR="$work/task" ANSWER_FILE="$work/answer.json" \
    node scripts/emulator-discovery.js || die "the invocation through @vercel/fun failed"

python3 - "$work/answer.json" "$EXPECT" <<'PY' || die "the Discovery answer is not the expected one"
import json, sys
text = open(sys.argv[1]).read()
answer = json.loads(text)
header = answer["event"]["header"]
if header["name"] != "Discover.Response":
    sys.exit(f"got {header['namespace']}.{header['name']}: {text[:400]}")
endpoints = answer["event"]["payload"]["endpoints"]
if len(endpoints) != int(sys.argv[2]):
    sys.exit(f"{len(endpoints)} endpoints, expected {sys.argv[2]}")
print(f"ok: Discover.Response with {len(endpoints)} endpoints through the emulator")
PY
