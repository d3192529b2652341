#!/usr/bin/env bash
# Print the decode dir with the lowest WER among the given ones (their scoring/best_wer), e.g. to
# decode test sets with the best system on dev of any kind (CTC, GMM or hybrid).
# Usage: utils/best_system.sh <decode-dir> [<decode-dir> ...]
#  e.g.: utils/best_system.sh exp/ctc_char/decode_dev_lm exp/tri1/decode_dev exp/ce_*/decode_dev
# Dirs without scoring/best_wer are skipped (not every system ran); the first of equal WERs wins.
# Exit status 1, with a message, when none has a score.
set -euo pipefail
if [ $# -lt 1 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
best=$(for d in "$@"; do [ ! -f "$d/scoring/best_wer" ] || sed "s|^|$d:|" "$d/scoring/best_wer"; done |
       "$utils/best_wer.sh" 2>/dev/null | awk '{print $NF}')
[ -n "$best" ] || { echo "$0: none of these decode dirs has scoring/best_wer: $*" >&2; exit 1; }
echo "$best"
