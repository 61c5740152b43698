#!/usr/bin/env bash
# Check deploy/template.yaml the way SAM users deploy it: `sam validate --lint`
# (offline: cfn-lint inside SAM, no AWS call, no credentials) and `sam build`
# (BuildMethod rust-cargolambda), which reuses the workspace's target dir, so
# after scripts/build-lambda.sh it only relinks. Installs aws-sam-cli and
# cargo-lambda from PyPI into the virtualenv under ~/.cache/lee-tools (pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

tools_venv aws-sam-cli==1.151.0 cargo-lambda==1.8.6
export SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

sam validate --lint -t deploy/template.yaml || die "sam validate --lint found problems in deploy/template.yaml"
build_dir="$CARGO_TARGET_DIR/sam-build"
sam build -t deploy/template.yaml --build-dir "$build_dir" >/dev/null || die "sam build failed for deploy/template.yaml"
for f in LeeFunction LeeUrlFunction; do
    [ -x "$build_dir/$f/bootstrap" ] || die "sam build produced no $build_dir/$f/bootstrap"
    echo "sam build: $f/bootstrap $(stat -c %s "$build_dir/$f/bootstrap") bytes"
done
