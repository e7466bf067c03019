#!/usr/bin/env bash
# The main job on embedded defaults: installs what it needs, then brings up the whole local stack
# (control plane, CRD, operator, simulator, sample ChatApplication, chat service + UI, gated load test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/chatfleet up "$@"
