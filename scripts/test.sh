#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints (ruff, then the import contracts of pyproject.toml,
# then mypy on the package), then runs every tier (unit, service, integration against a real kube-apiserver built from source, load
# gate, browser).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
CHATFLEET_WITH_BROWSER=${CHATFLEET_WITH_BROWSER:-1} CHATFLEET_WITH_NODE=${CHATFLEET_WITH_NODE:-1} \
  CHATFLEET_WITH_MONITORING=${CHATFLEET_WITH_MONITORING:-1} \
  CHATFLEET_WITH_PIPELINES=${CHATFLEET_WITH_PIPELINES:-1} \
  CHATFLEET_WITH_POSTGRES=${CHATFLEET_WITH_POSTGRES:-1} bash scripts/bootstrap.sh
printf '\033[1m[test]\033[0m ruff\n'
.venv/bin/ruff check .
printf '\033[1m[test]\033[0m lint-imports\n'
.venv/bin/python scripts/lint_imports.py
printf '\033[1m[test]\033[0m mypy\n'
.venv/bin/python scripts/typecheck.py
printf '\033[1m[test]\033[0m pytest\n'
exec .venv/bin/python -m pytest "$@"
