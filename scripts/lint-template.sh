#!/usr/bin/env bash
# Validate the SAM template with cfn-lint (PyPI, pinned, installed into the
# tools virtualenv under ~/.cache/lee-tools), informational checks included.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

tools_venv cfn-lint==1.58.0
cfn-lint --version
cfn-lint --include-checks I -- deploy/template.yaml || die "cfn-lint found problems in deploy/template.yaml"
echo "ok: cfn-lint passes deploy/template.yaml"
