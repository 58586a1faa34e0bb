#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# studio_e2e.sh STUDIO MAKE_TEST_MODEL WORKDIR: starts brillm-studio under Xvfb on a small
# model, completes a prompt, and checks the screenshot and the exported views. Exit 77: skipped.
set -euo pipefail
studio=$1 maker=$2 work=$3
if ! command -v xvfb-run >/dev/null; then
  echo "SKIP: xvfb-run is not installed (scripts/setup.sh installs it)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work/config" "$work/cache"
export XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" QT_QPA_PLATFORM=xcb
# --help and --version need no display (xcb without DISPLAY would abort a QApplication).
env -u DISPLAY -u WAYLAND_DISPLAY "$studio" --help > "$work/help.txt" || { echo "FAIL: --help without a display"; exit 1; }
grep -q -- "--max-new-tokens" "$work/help.txt" || { echo "FAIL: --help does not list --max-new-tokens"; exit 1; }
if grep -q -- "--max-tokens" "$work/help.txt"; then echo "FAIL: the old --max-tokens is listed"; exit 1; fi
env -u DISPLAY -u WAYLAND_DISPLAY "$studio" --version | grep -q "brillm-studio" || { echo "FAIL: --version without a display"; exit 1; }
"$maker" "$work/model.brillm" --text "the cat sat on the mat. the dog sat on the log. a cat and a dog." >/dev/null
xvfb-run -a -s "-screen 0 1600x1000x24" "$studio" --model "$work/model.brillm" --prompt "the cat" \
  --max-new-tokens 12 --screenshot "$work/studio.png" --export-views "$work/views" \
  --quit-after-completion --report-timings --size 1500x950 | tee "$work/timings.json"
test -s "$work/studio.png" || { echo "FAIL: no screenshot"; exit 1; }
size=$(stat -c %s "$work/studio.png")
[ "$size" -gt 20000 ] || { echo "FAIL: screenshot is only $size bytes"; exit 1; }
for v in completion signal-path token-graph energy-heatmap cortex-map edge-inspector; do
  test -s "$work/views/$v.png" || { echo "FAIL: no $v.png"; exit 1; }
  grep -q "<svg" "$work/views/$v.svg" || { echo "FAIL: $v.svg is not SVG"; exit 1; }
done
grep -q '"steps"' "$work/views/trace.json" && grep -q '"edits"' "$work/views/trace.json" || { echo "FAIL: trace.json"; exit 1; }
grep -q '"tokens": 12' "$work/timings.json" || { echo "FAIL: expected 12 generated tokens"; exit 1; }
echo "PASS: screenshot $size bytes, every view exported"
