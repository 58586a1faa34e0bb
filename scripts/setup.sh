#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs every Debian package BriLLM Studio needs to build, test and run.
# Run as root (or with sudo available). Idempotent; quiet when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libgloo-dev
  nlohmann-json3-dev libicu-dev
  libgtest-dev libgmock-dev
  qt6-base-dev qt6-svg-dev libqcustomplot-dev
  libgraphviz-dev
  libhwy-dev libssl-dev libcli11-dev   # SIMD dispatch (Highway), SHA-256 (OpenSSL EVP), CLI parsing (CLI11)
  clang-format               # the formatting check (scripts/check_format.sh)
  xvfb xauth
  clang libclang-rt-14-dev   # libFuzzer targets of the checkpoint parsers (tests/fuzz)
  help2man librsvg2-bin      # man pages from the --help texts, PNG icons (packaging/)
  dpkg-dev fakeroot file lintian desktop-file-utils appstream shared-mime-info man-db  # the package check
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
echo "setup.sh: done"
