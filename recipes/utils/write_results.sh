#!/usr/bin/env bash
# Write a recipe's RESULTS.md from the `wer` files of its decode dirs (atomically).
# Usage: utils/write_results.sh [--append <file>]... <out.md> <title> <command> <data-note> <decode-dir> [<decode-dir> ...]
#  e.g.: utils/write_results.sh RESULTS.md "yesno: CTC" "./run.sh" "Data: yesno (OpenSLR 1)." exp/ctc/decode_test
# Records, for each decode dir, its %WER line, the command that produced it, the date, the host, and
# the training time from <exp>/history.json when present. Prints the table. When <out.md> already has
# the lines "<!-- results: begin -->" and "<!-- results: end -->", only what is between them is
# replaced: text written by hand around them (e.g. a table of seeds) is kept. Each --append file's
# lines are listed under the table (other measurements: word times, words on non-speech).
set -euo pipefail
appends=()
while [ "${1:-}" = --append ]; do
  [ $# -ge 2 ] && [ -f "$2" ] || { echo "$0: --append ${2:-}: no such file" >&2; exit 1; }
  appends+=("$2"); shift 2
done
if [ $# -lt 5 ]; then
  echo "Usage: $0 <out.md> <title> <command> <data-note> <decode-dir> [<decode-dir> ...]" >&2; exit 1
fi
out=$1; title=$2; command=$3; note=$4; shift 4
for d in "$@"; do
  [ -f "$d/wer" ] || { echo "$0: $d/wer not found (decode and score first)" >&2; exit 1; }
done
tmp=$(mktemp "$(dirname "$out")/.results.XXXXXX")
block=$(mktemp "$(dirname "$out")/.results.XXXXXX")
trap 'rm -f "$tmp" "$block"' EXIT
{
  echo "# $title"
  echo
  echo "Produced by \`$command\` on $(date -u +%Y-%m-%d) ($(uname -m), $(nproc) CPU cores)."
  echo "$note"
  echo
  echo "| decode dir | %WER | details |"
  echo "|---|---|---|"
  for d in "$@"; do
    line=$(grep -m1 '^%WER' "$d/wer")
    echo "| \`$d\` | $(echo "$line" | awk '{print $2}') | \`$line\` |"
  done
  if [ ${#appends[@]} -gt 0 ]; then
    echo
    for f in "${appends[@]}"; do
      while IFS= read -r line; do echo "- \`$f\`: $line"; done < "$f"
    done
  fi
  for d in "$@"; do
    hist=$(dirname "$d")/history.json
    if [ -f "$hist" ]; then
      secs=$(grep -o '"time_s": [0-9.]*' "$hist" | awk '{s += $2} END {printf "%.0f", s}')
      epochs=$(grep -c '"epoch"' "$hist")
      echo
      echo "Training: $epochs epochs, ${secs} s ($(dirname "$d"))."
      # the curves as pictures when matplotlib is there (asr plot; the plot extra)
      if asr plot -q "$(dirname "$d")" 2>/dev/null; then
        echo "Training curves: \`$(dirname "$d")/plots/\` (loss.png, accuracy.png, lr.png; \`asr plot $(dirname "$d")\`)."
      fi
      break
    fi
  done
} > "$block"
begin="<!-- results: begin -->"; end="<!-- results: end -->"
if [ -f "$out" ] && grep -qxF "$begin" "$out" && grep -qxF "$end" "$out"; then
  awk -v b="$begin" -v e="$end" -v f="$block" '
    $0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$out" > "$tmp"
else
  cp "$block" "$tmp"
fi
mv "$tmp" "$out"
rm -f "$block"
trap - EXIT
cat "$out"
