#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sets up (Debian packages), checks the formatting, builds (Release, build/, warnings as errors)
# and runs the whole test suite with CTest. GUI tests run offscreen; GPU tests skip themselves
# without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then scripts/setup.sh; fi
scripts/check_format.sh
cmake --preset release -DBRILLM_WERROR=ON >/dev/null
cmake --build --preset release -j"$(nproc)"
export QT_QPA_PLATFORM=offscreen
ctest --preset release -j"$(nproc)" "$@"
