#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make_manpages.sh VERSION OUTDIR BRILLM [BRILLM_STUDIO]
# Man pages from the programs' own --help texts (help2man), so they never drift from them:
# brillm.1 (the commands), brillm-COMMAND.1 for every command (a command with subcommands gets
# every subcommand's help in its page), brillm-studio.1. Written gzipped (gzip -9n) into OUTDIR.
set -euo pipefail
version=$1 out=$2 brillm=$3 studio=${4:-}
help2man=${HELP2MAN:-help2man}
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export QT_QPA_PLATFORM=offscreen LC_ALL=C.UTF-8
# Reproducible dates: the changelog's newest entry, unless the caller set one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  changelog="$(dirname "$0")/changelog"
  d=$(sed -n 's/^ -- .*>  //p' "$changelog" | head -n 1)
  SOURCE_DATE_EPOCH=$(date -d "$d" +%s 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
fi

# The --help texts in the headings help2man knows: "Usage:" gives SYNOPSIS, "Options:" OPTIONS.
normalise='s/^usage: /Usage: /; s/^options:$/Options:/; s/^arguments:$/Arguments:/; s/^commands:$/Commands:/; s/^subcommands:$/Subcommands:/'

# The command list: the lines "  NAME  summary" after "commands:" in `brillm --help`.
commands=$("$brillm" --help | sed -n '/^commands:/,$ s/^  \([a-z][a-z0-9-]*\)  *\(.*\)$/\1\t\2/p')
[ -n "$commands" ] || { echo "make_manpages.sh: no commands in '$brillm --help'" >&2; exit 1; }

# A wrapper per page, named as the page: help2man takes the page's name from the program's.
wrapper() { # NAME, then the help command
  local name=$1; shift
  {
    echo '#!/usr/bin/env bash'
    echo "if [ \"\${1:-}\" = --version ]; then echo '$name $version'; exit 0; fi"
    printf '%q ' "$@"
    echo
  } >"$work/$name"
  chmod +x "$work/$name"
}

# brillm.1: the commands, and where the rest is documented.
{
  echo '[ENVIRONMENT]'
  echo '.TP'
  echo '.B BRILLM_CACHE_DIR'
  echo 'Where demo models are kept; else $XDG_CACHE_HOME/brillm, else ~/.cache/brillm.'
  echo '[FILES]'
  echo '.TP'
  echo '.I /usr/share/brillm/corpora'
  echo 'The bundled demo corpora (relative to the program: ../share/brillm/corpora) and their notices.'
  echo '[SEE ALSO]'
  sep=""
  while IFS=$'\t' read -r c _; do
    printf '%s.BR brillm-%s (1)' "$sep" "$c"
    sep=$',\n'
  done <<<"$commands"
  [ -n "$studio" ] && printf ',\n.BR brillm-studio (1)'
  echo
  echo '.PP'
  echo 'The documentation in /usr/share/doc/brillm-studio.'
} >"$work/brillm.h2m"
cat >"$work/brillm-help.sh" <<EOF
#!/usr/bin/env bash
"$brillm" --help | sed -e '$normalise'
EOF
chmod +x "$work/brillm-help.sh"
wrapper brillm "$work/brillm-help.sh"
"$help2man" --no-info --no-discard-stderr --section=1 --name="see inside a BriLLM language model: complete, trace, score, train" \
  --include="$work/brillm.h2m" --output="$work/brillm.1" "$work/brillm"

# brillm-COMMAND.1
while IFS=$'\t' read -r c summary; do
  script="$work/help-$c.sh"
  {
    echo '#!/usr/bin/env bash'
    echo "set -o pipefail"
    echo "help=\$(\"$brillm\" $c --help)"
    echo "printf '%s\n' \"\$help\" | sed -e '$normalise'"
    # Subcommands: each one's help follows, under its own heading.
    echo "subs=\$(printf '%s\n' \"\$help\" | sed -n '/^subcommands:/,\$ s/^  \\([a-z][a-z0-9-]*\\)  .*/\\1/p')"
    echo "for s in \$subs; do"
    echo "  printf '\n%s:\n' \"brillm $c \$s\""
    echo "  \"$brillm\" $c \"\$s\" --help | sed -e 's/^usage: /  /; s/^options:\$/Options of brillm $c '\"\$s\"':/; s/^arguments:\$/Arguments of brillm $c '\"\$s\"':/'"
    echo "done"
  } >"$script"
  chmod +x "$script"
  wrapper "brillm-$c" "$script"
  {
    echo '[SEE ALSO]'
    echo '.BR brillm (1)'
  } >"$work/$c.h2m"
  "$help2man" --no-info --no-discard-stderr --section=1 --name="$summary" --include="$work/$c.h2m" \
    --output="$work/brillm-$c.1" "$work/brillm-$c"
done <<<"$commands"

# brillm-studio.1: Qt's help text is already in help2man's form.
if [ -n "$studio" ]; then
  printf '[SEE ALSO]\n.BR brillm (1)\n' >"$work/studio.h2m"
  "$help2man" --no-info --no-discard-stderr --section=1 --name="see inside a BriLLM language model (the desktop studio)" \
    --include="$work/studio.h2m" --output="$work/brillm-studio.1" "$studio"
fi

for page in "$work"/*.1; do
  gzip -9n -c "$page" >"$out/$(basename "$page").gz"
done
echo "make_manpages.sh: $(ls "$out" | wc -l) man pages in $out"
