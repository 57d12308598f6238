#!/usr/bin/env bash
# Install what Nuage needs and is missing: Debian packages (as root), the Python venv and the
# browser libraries (npm).
# Usage: scripts/bootstrap.sh demo|test    (test adds the services, QEMU and Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

base=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev libvirt0 gettext)
full=(postgresql redis-server libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
      dnsmasq-base busybox-static linux-image-amd64 chromium poppler-utils cpio
      dropbear-bin openssl docker-compose libvirt-daemon-driver-lxc)
want=("${base[@]}")
[ "$mode" = test ] && want+=("${full[@]}")
# node and npm (the consoles' browser libraries): Debian's, unless an npm is already there
# (NodeSource's nodejs package brings its own and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A Python 3.11 that is not Debian's (pyenv, a container image) brings its own venv and headers.
if python3 -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null \
   && [ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e python3 -e python3-venv -e python3-dev || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "==> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is rebuilt only when pyproject.toml changes.
stamp=.venv/.stamp-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -e "$stamp" ]; then
  echo "==> Python packages into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  rm -f .venv/.stamp-*
  touch "$stamp"
fi

# Browser libraries of the consoles (xterm.js, noVNC) from package-lock.json, served as static
# files from node_modules; reinstalled only when the lock file changes.
npm_stamp=node_modules/.stamp-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -e "$npm_stamp" ]; then
  echo "==> npm ci (console libraries)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  touch "$npm_stamp"
fi
