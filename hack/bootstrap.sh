#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine:
# Debian packages, the Python virtual environment, and the Go-built Kubernetes tools.
# Each step is skipped when already done, so a second run takes seconds.
#
# Usage: hack/bootstrap.sh [--no-go]   (--no-go: skip the control-plane build; the demo needs none)
set -euo pipefail
cd "$(dirname "$0")/.."

build_go=1
[[ "${1:-}" == "--no-go" ]] && build_go=0

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Debian packages: PostgreSQL (storage tests), Chromium (dashboard tests), Lua (Argo CD
# health checks), Go when the machine has none.
debs=(postgresql chromium lua5.4 ca-certificates)
command -v go >/dev/null 2>&1 || debs+=(golang-go)
missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: one virtual environment, reinstalled only when pyproject.toml changes.
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=".venv/.ottc-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  log "installing Python packages (first run downloads TensorFlow: a few minutes)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.ottc-installed-*
  touch "$stamp"
fi

# Dashboard front-end: pinned npm packages bundled into the Python package (no CDN at run
# time). Rebuilt only when frontend/ changed since the last build.
dashboard_static=runtime/ott_runtime/dashboard/static
frontend_stamp="$(cat frontend/package-lock.json frontend/build.mjs frontend/*.html frontend/src/* | sha256sum | cut -c1-16)"
# (the stamp lives in node_modules, which npm ci recreates: never inside the package)
if [[ ! -f "frontend/node_modules/.ottc-built-$frontend_stamp" || ! -f "$dashboard_static/index.html" || ! -f "$dashboard_static/graphiql.html" ]]; then
  command -v npm >/dev/null 2>&1 || as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  log "building the dashboard (npm ci && npm run build)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
  touch "frontend/node_modules/.ottc-built-$frontend_stamp"
fi

if ((build_go)); then
  hack/build-tools.sh >/dev/null
fi
log "ready"
