#!/usr/bin/env bash
# Build deploy/template.yaml the way SAM users do, and check it: `sam build`
# (BuildMethod rust-cargolambda: `cargo lambda build --release --arm64 --bin
# bootstrap` in the workspace, the very build scripts/build-lambda.sh makes,
# so after it nothing is compiled again), then that both give the same
# `bootstrap`, then `sam validate --lint` (SAM's translator and cfn-lint,
# offline). Installs the SAM CLI and cargo-lambda from PyPI into the tools
# virtualenv under ~/.cache/lee-tools (pinned). Writes target/sam/.
#
#   scripts/sam-build.sh    (after scripts/build-lambda.sh, or alone)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BUILD_DIR="$TARGET_DIR/sam"
tools_venv aws-sam-cli==1.151.0 cargo-lambda==1.8.6
ensure_rust_target aarch64-unknown-linux-gnu
# SAM marks its cargo-lambda builder as beta; it asks for this to run it.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 SAM_CLI_TELEMETRY=0
sam --version

started=$SECONDS
sam build --template deploy/template.yaml --build-dir "$BUILD_DIR" \
    --parameter-overrides EnableFunctionUrl=true \
    || die "sam build failed"
note "sam build took $((SECONDS - started))s"

built="$BUILD_DIR/LeeFunction/bootstrap"
[ -x "$built" ] || die "sam build did not produce $built"
cargo_lambda="$TARGET_DIR/lambda/bootstrap/bootstrap"
[ -x "$cargo_lambda" ] || die "cargo lambda's $cargo_lambda is missing"
for file in "$built" "$BUILD_DIR/LeeUrlFunction/bootstrap" "$cargo_lambda"; do
    printf '  %10s bytes  %s  %s\n' "$(wc -c <"$file")" "$(sha256sum "$file" | cut -d' ' -f1)" "$file"
done
cmp -s "$built" "$cargo_lambda" || die "sam build's bootstrap differs from cargo lambda build's"
cmp -s "$built" "$BUILD_DIR/LeeUrlFunction/bootstrap" || die "the two functions got different bootstraps"

sam validate --lint --region us-east-1 --template deploy/template.yaml \
    || die "sam validate --lint found problems in deploy/template.yaml"
echo "ok: sam build gives the bootstrap cargo lambda builds, and sam validate --lint passes"
