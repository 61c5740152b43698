#!/usr/bin/env bash
# Deploy a prebuilt lee zip (a release's lee-lambda-<tag>-arm64.zip, or
# target/lambda/bootstrap.zip) with deploy/template.yaml, no Rust needed:
# checks the zip against its .sha256 when one lies beside it, writes a copy of
# the template whose functions take their code from that zip (instead of
# `sam build`'s), and runs `sam deploy` with it and the options given.
#
#   scripts/deploy-zip.sh ZIP [--check | sam deploy options, e.g. --guided --region eu-west-1]
#
# --check writes and validates the template (sam validate --lint) and deploys
# nothing. Installs the SAM CLI from PyPI into ~/.cache/lee-tools (pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

[ $# -ge 1 ] || die "usage: scripts/deploy-zip.sh ZIP [--check | sam deploy options]"
zip=$1
shift
[ -f "$zip" ] || die "$zip: no such file (download lee-lambda-<tag>-arm64.zip from the GitHub release)"
zip=$(cd "$(dirname "$zip")" && pwd)/$(basename "$zip")
if [ -f "$zip.sha256" ]; then
    (cd "$(dirname "$zip")" && sha256sum --check --status "$(basename "$zip").sha256") \
        || die "$zip does not match $zip.sha256: download it again"
    note "$zip matches its SHA-256"
fi
python3 - "$zip" <<'PY' || die "$zip is not a Lambda zip holding bootstrap"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.namelist() == ["bootstrap"], z.namelist()
PY

out="${CARGO_TARGET_DIR:-target}/sam-zip"
mkdir -p "$out"
# The template's CodeUri (the workspace, for sam build) becomes the zip.
grep -q '^    CodeUri: \.\.$' deploy/template.yaml || die "deploy/template.yaml has no 'CodeUri: ..' to replace"
sed "s|^    CodeUri: \.\.\$|    CodeUri: $zip|" deploy/template.yaml >"$out/template.yaml"
tools_venv aws-sam-cli==1.151.0
export SAM_CLI_TELEMETRY=0
if [ "${1:-}" = "--check" ]; then
    sam validate --lint --region us-east-1 --template "$out/template.yaml" \
        || die "the template for $zip does not validate"
    echo "ok: $out/template.yaml deploys $zip"
    exit 0
fi
sam deploy --template-file "$out/template.yaml" --capabilities CAPABILITY_IAM "$@"
