#!/usr/bin/env bash
# Validate skill packages (scripts/skill-package.sh's output) against Amazon's
# published Skill Management API model: the Swagger definitions in npm's
# ask-smapi-model (pinned, unpacked under ~/.cache/lee-tools), checked with
# PyPI's jsonschema (pinned, in the tools virtualenv) by
# scripts/validate-skill-package.py, which also checks the rules Amazon states
# in prose and what Home Assistant's account linking needs.
#
#   scripts/validate-skill-package.sh DIR [DIR...]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

SMAPI_MODEL_VERSION=1.24.0
[ $# -ge 1 ] || die "usage: scripts/validate-skill-package.sh DIR [DIR...] (the folder scripts/skill-package.sh wrote)"

tools_venv jsonschema==4.26.0
model=$(npm_unpacked ask-smapi-model "$SMAPI_MODEL_VERSION")
python scripts/validate-skill-package.py --spec "$model/spec.json" "$@"
