#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sets up, builds (Release, build/) and runs the main job: completing a prompt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then scripts/setup.sh; fi
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target brillm
exec build/bin/brillm demo "$@"
