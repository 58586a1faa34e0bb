#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# check_package.sh BUILD_DIR VERSION: builds the Debian package from BUILD_DIR (cpack) and
# checks it the way a user meets it:
#   - lintian reports no errors; desktop-file-validate, appstreamcli validate and
#     update-mime-database accept the desktop entry, the AppStream metadata and the MIME type;
#     the man pages render without warnings; bash completion completes commands and options;
#   - the package is installed with dpkg into an empty root and, from there alone (source and
#     build trees hidden behind empty mounts where the system allows, and in any case a
#     minimal environment with a temporary HOME), `brillm --version`, `brillm demo` (trains
#     the demo model from the installed corpora) and `brillm-studio` offscreen complete prompts;
#   - purging the package leaves no file behind (the user's cache is the user's).
# Exit 77 (CTest: skipped) when a tool is missing (scripts/setup.sh installs them all).
# BRILLM_PACKAGE_CHECK_STEPS: demo training steps (default 30; the real demo trains 400).
set -euo pipefail
build=$(cd "$1" && pwd) version=$2
src=$(cd "$(dirname "$0")/.." && pwd)
steps=${BRILLM_PACKAGE_CHECK_STEPS:-30}

for tool in help2man rsvg-convert cpack dpkg dpkg-deb dpkg-shlibdeps fakeroot lintian desktop-file-validate appstreamcli update-mime-database man; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/setup.sh installs it)"; exit 77; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/brillm-package-check.XXXXXX")
fail() { echo "FAIL: $*"; echo "(left for inspection: $work)"; exit 1; }
step() { echo; echo "== $*"; }

step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/cpack/brillm-studio_"$version"_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { cat "$work/cpack.log"; fail "no brillm-studio_${version}_*.deb"; }
echo "$(basename "$deb"): $(du -h "$deb" | cut -f1)"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Installed-Size\):/  &/p'
dpkg-deb -f "$deb" Depends | grep -q libtorch || fail "Depends (from dpkg-shlibdeps) does not name LibTorch"

step "lintian"
lintian --fail-on error --display-level ">=info" "$deb" | tee "$work/lintian.txt" || fail "lintian reports errors"
echo "lintian: $(grep -c '^E:' "$work/lintian.txt" || true) errors, $(grep -c '^W:' "$work/lintian.txt" || true) warnings"

step "install into an empty root (dpkg --root)"
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg_root() { dpkg --root="$root" --force-not-root --force-depends --log=/dev/null "$@"; }
dpkg_root -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
usr=$root/usr
for f in bin/brillm bin/brillm-studio share/brillm/corpora/en_austen.txt share/brillm/corpora/zh_poetry_songci.txt \
         share/brillm/corpora/README.md share/brillm/corpora/LICENSE.chinese-poetry share/doc/brillm-studio/copyright \
         share/doc/brillm-studio/changelog.gz share/man/man1/brillm.1.gz share/man/man1/brillm-demo.1.gz \
         share/man/man1/brillm-studio.1.gz share/bash-completion/completions/brillm share/mime/packages/brillm-studio.xml \
         share/icons/hicolor/scalable/apps/brillm-studio.svg share/icons/hicolor/48x48/apps/brillm-studio.png \
         share/icons/hicolor/256x256/apps/brillm-studio.png; do
  [ -e "$usr/$f" ] || fail "the package lacks /usr/$f"
done
desktop=$(ls "$usr"/share/applications/*.desktop)
metainfo=$(ls "$usr"/share/metainfo/*.metainfo.xml)
echo "$(dpkg-deb -c "$deb" | wc -l) entries; $(basename "$desktop"), $(basename "$metainfo")"

step "desktop-file-validate, appstreamcli validate, update-mime-database"
desktop-file-validate "$desktop" || fail "desktop-file-validate"
appstreamcli validate --no-net "$metainfo" || fail "appstreamcli validate"
grep -q "<launchable type=\"desktop-id\">$(basename "$desktop")</launchable>" "$metainfo" || fail "the metainfo does not launch $(basename "$desktop")"
mkdir -p "$work/mime/packages" && cp "$usr/share/mime/packages/brillm-studio.xml" "$work/mime/packages/"
update-mime-database "$work/mime" >/dev/null || fail "update-mime-database"
grep -q 'application/x-brillm-model:\*\.brillm' "$work/mime/globs2" || fail "no *.brillm glob"
grep -q 'MimeType=application/x-brillm-model;' "$desktop" || fail "the desktop entry does not open application/x-brillm-model"
for size in 16 22 24 32 48 64 128 256; do
  file "$usr/share/icons/hicolor/${size}x${size}/apps/brillm-studio.png" | grep -q "PNG image data, $size x $size" || fail "icon ${size}x${size}"
done

step "man pages"
ls "$usr/share/man/man1"
for page in "$usr"/share/man/man1/*.1.gz; do
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) || fail "man $page"
  [ -z "$warnings" ] || fail "man $(basename "$page"): $warnings"
done
zcat "$usr/share/man/man1/brillm-demo.1.gz" | grep -q -- 'prompt' || fail "brillm-demo(1) lacks --prompt"

# From here on only the installed tree: an empty environment, a temporary HOME, and (where
# mount namespaces are allowed) the source and build trees hidden behind empty mounts.
home=$work/home
mkdir -p "$home"
can_hide=0
unshare -m --propagation private true 2>/dev/null && can_hide=1
run_installed() {
  local pre='cd "$HOME"' launcher=()
  if [ $can_hide = 1 ]; then
    launcher=(unshare -m --propagation private)
    pre="mount -t tmpfs none '$src' && case '$build' in '$src'/*) ;; *) mount -t tmpfs none '$build' ;; esac && $pre"
  fi
  env -i PATH="$usr/bin:/usr/bin:/bin" HOME="$home" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen TMPDIR="$work" \
    "${launcher[@]}" bash -c "$pre && exec \"\$@\"" run "$@"
}
if [ $can_hide = 1 ]; then
  run_installed bash -c "test ! -e '$src/CMakeLists.txt' && test ! -e '$build/CMakeCache.txt'" ||
    fail "the source or build tree is still visible"
  echo "(source and build trees hidden behind empty mounts)"
fi

step "bash completion"
run_installed bash -c '
  _init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
  _filedir() { :; }
  source "$1"
  COMP_WORDS=(brillm de); COMP_CWORD=1; _brillm; [ "${COMPREPLY[*]}" = demo ] || { echo "brillm de<TAB>: ${COMPREPLY[*]}"; exit 1; }
  COMP_WORDS=(brillm demo --pro); COMP_CWORD=2; _brillm
  [[ " ${COMPREPLY[*]} " == *" --prompt "* && " ${COMPREPLY[*]} " == *" --progress-json "* ]] || { echo "brillm demo --pro<TAB>: ${COMPREPLY[*]}"; exit 1; }
  COMP_WORDS=(brillm patch ""); COMP_CWORD=2; _brillm
  [[ " ${COMPREPLY[*]} " == *" new "* ]] || { echo "brillm patch <TAB>: ${COMPREPLY[*]}"; exit 1; }
  echo "completes: brillm de -> demo; brillm demo --pro -> ${COMPREPLY[*]:0:0}--prompt, --progress-json; brillm patch -> new, ..."
' completion "$usr/share/bash-completion/completions/brillm" || fail "bash completion"

step "brillm --version"
out=$(run_installed brillm --version) || fail "brillm --version"
echo "$out"
[ "$out" = "brillm $version" ] || fail "brillm --version printed '$out'"
out=$(run_installed brillm-studio --version) || fail "brillm-studio --version"
echo "$out"
[ "$out" = "brillm-studio $version" ] || fail "brillm-studio --version printed '$out'"

step "brillm demo (trains the demo model from the installed corpora, $steps steps)"
run_installed brillm demo --steps "$steps" --prompt "It is a truth" --max-new-tokens 12 >"$work/demo.out" 2>"$work/demo.err" ||
  { cat "$work/demo.err"; fail "brillm demo"; }
cat "$work/demo.err" | tr '\r' '\n' | grep -v '^\s*$' | grep -v 'training step' | tail -n 4
echo "completion: $(cat "$work/demo.out")"
grep -q "from $usr/share/brillm/corpora/en_austen.txt" "$work/demo.err" || fail "the demo did not train from the installed corpus"
[ -s "$work/demo.out" ] || fail "brillm demo printed no completion"
model=$(ls "$home"/.cache/brillm/demo-en-*/model.brillm | head -n 1)
[ -f "$model" ] || fail "no demo model in the temporary HOME"

if command -v gio >/dev/null; then
  step "the MIME type recognises the model by name and by content (gio)"
  cp "$model" "$work/model-without-suffix"
  for f in "$model" "$work/model-without-suffix"; do
    type=$(XDG_DATA_DIRS="$work:/usr/share" gio info -a standard::content-type "$f" | sed -n 's/.*content-type: //p')
    echo "$(basename "$f"): $type"
    [ "$type" = application/x-brillm-model ] || fail "$f is $type"
  done
fi

step "brillm-studio offscreen on the demo model"
run_installed brillm-studio --model "$model" --prompt "It is a truth" --max-new-tokens 8 --quit-after-completion --report-timings \
  >"$work/studio.out" 2>"$work/studio.err" || { cat "$work/studio.err"; fail "brillm-studio --model"; }
cat "$work/studio.out"
grep -q '"tokens": *8' "$work/studio.out" || fail "the studio did not complete 8 tokens"
# Without --model: the studio asks the brillm beside it for the (now cached) demo model.
run_installed brillm-studio --prompt "It is a truth" --max-new-tokens 4 --quit-after-completion --report-timings \
  >"$work/studio-demo.out" 2>"$work/studio-demo.err" || { cat "$work/studio-demo.err"; fail "brillm-studio (demo)"; }
grep -q '"tokens": *4' "$work/studio-demo.out" || { cat "$work/studio-demo.err"; fail "the studio's demo did not complete"; }
echo "the studio found $usr/bin/brillm and its demo model"

step "dpkg --purge leaves nothing behind"
dpkg_root --purge brillm-studio >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
left=$(cd "$root" && find . -mindepth 1 -not -path './var/lib/dpkg*' -not -path ./var -not -path ./var/lib | head -n 20)
[ -z "$left" ] || fail "left behind after purge: $left"
echo "nothing left in the root; the user's cache: $(du -sh "$home/.cache/brillm" | cut -f1) in the temporary HOME"

rm -rf "$work"
echo
echo "PASS: $(basename "$deb")"
