#!/usr/bin/env bash
# Copy a lang dir and add G.fst made from an ARPA LM (as Kaldi's utils/format_lm.sh): back-off arcs
# carry #0, <s> and </s> become epsilon, arcs sorted by input label (OpenFst binary).
# Usage: utils/format_lm.sh <lang-dir> <arpa-lm[.gz]> [<lexicon>] <out-lang-dir>
#  e.g.: utils/format_lm.sh data/lang data/local/lm/lm.arpa data/local/dict/lexicon.txt data/lang_test
# <lexicon> is accepted for Kaldi's signature; the LM's words are checked against <lang-dir>/words.txt.
set -euo pipefail
echo "$0 $*"
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
. "$utils/find_asr.sh"
if [ $# -ne 3 ] && [ $# -ne 4 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
lang=$1; arpa=$2; out=${!#}
tmp=
if [[ $arpa == *.gz ]]; then
  tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
  gunzip -c "$arpa" > "$tmp"; arpa=$tmp
fi
"$asr" format-lm --log-file /dev/null "$lang" "$arpa" "$out"
echo "$0: wrote $out/G.fst"
