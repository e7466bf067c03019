#!/usr/bin/env bash
# The main job on embedded defaults: installs what it needs, then brings up the whole local stack in a
# cluster with a real node (control plane, kubelet + containerd, the images built here, the operator from the
# Helm chart, the simulator, the sample ChatApplication and its gated release).
# The real node needs root (a bridge, iptables rules, cgroups): `sudo bash scripts/up.sh`.
# `bash scripts/up.sh --fake-nodes` is the fast mode without containers (KWOK), which needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
node=1
for arg in "$@"; do
  case "$arg" in
    --fake-nodes|--help) node=0 ;;
  esac
done
if [ "$node" = "1" ] && [ "$(id -u)" != "0" ]; then
  echo "error: chatfleet up runs a real Kubernetes node (kubelet, containerd, runc, a bridge, iptables" \
       "rules, cgroups) and needs root: run \`sudo bash scripts/up.sh\`, or add --fake-nodes for the fast" \
       "mode without containers" >&2
  exit 2
fi
# With the node: Debian's iptables, ipset, conntrack, libseccomp, mmdebstrap, gcc and the node's Go tools too.
CHATFLEET_WITH_NODE=${CHATFLEET_WITH_NODE:-$node} bash scripts/bootstrap.sh
exec .venv/bin/chatfleet up "$@"
