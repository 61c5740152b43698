#!/usr/bin/env bash
# Smoke-test the deployable arm64 `bootstrap` (from target/lambda/bootstrap.zip,
# made by scripts/build-lambda.sh) on this x86_64 machine: qemu-user runs it
# against a stand-in for the Lambda Runtime API (scripts/lambda-runtime-standin.py)
# that hands it one `{"health_check": true}` event, which needs no Home
# Assistant; lee must answer with its version. Exits non-zero on any failure.
#
# Installs what it lacks from Debian: qemu-user-static (qemu-aarch64-static),
# and libc6-arm64-cross for the arm64 loader and glibc, since the binary is
# linked dynamically against glibc (2.17 symbols) like any provided.al2023 one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ZIP="${CARGO_TARGET_DIR:-target}/lambda/bootstrap.zip"
SYSROOT=/usr/aarch64-linux-gnu
[ -f "$ZIP" ] || die "$ZIP is missing: run scripts/build-lambda.sh first"

command -v qemu-aarch64-static >/dev/null || apt_install qemu-user-static
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || apt_install libc6-arm64-cross
command -v qemu-aarch64-static >/dev/null || die "qemu-aarch64-static is still missing"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Unpack the zip as Lambda would, keeping the mode it stores.
python3 - "$ZIP" "$work" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    info = z.getinfo("bootstrap")
    path = z.extract(info, sys.argv[2])
    os.chmod(path, (info.external_attr >> 16) & 0o777)
PY
[ -x "$work/bootstrap" ] || die "bootstrap in $ZIP is not executable"

# A clean environment: no BASE_URL, so nothing reaches for the network.
env -i PATH="$PATH" HOME="$HOME" \
    python3 scripts/lambda-runtime-standin.py --event '{"health_check": true}' --timeout 60 -- \
    qemu-aarch64-static -L "$SYSROOT" "$work/bootstrap" >"$work/answer.json" \
    || die "the arm64 bootstrap did not answer the health check"

echo "answer: $(cat "$work/answer.json")"
python3 - "$work/answer.json" <<'PY' || die "the answer carries no lee version"
import json, sys
answer = json.load(open(sys.argv[1]))
version = answer["lee"]["version"]
assert isinstance(version, str) and version, answer
print(f"ok: arm64 bootstrap under qemu answered the health check, lee {version}")
PY
