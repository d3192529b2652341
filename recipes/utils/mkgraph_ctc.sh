#!/usr/bin/env bash
# Build a WFST decoding graph for a CTC model, EESEN's TLG (Miao et al. 2015): T = CTC's token
# topology over the model's units, L = the LM's words spelled in those units (a Kaldi lang dir,
# the word separator as optional silence for character units), G = the ARPA LM.
# Usage: utils/mkgraph_ctc.sh [--sil-prob 0.5] <exp-dir-or-checkpoint> <arpa> <graph-dir>
#  e.g.: utils/mkgraph_ctc.sh exp/ctc data/lang/lm_3gram.arpa exp/ctc/graph_tlg
# Writes <graph-dir>/{TLG.fst,words.txt,units.txt,phones.txt,lang/}; steps/decode.sh <graph-dir> ...
# then decodes through it over an LM-weight grid.
set -euo pipefail
sil_prob=0.5
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
. "$utils/parse_options.sh"
. "$utils/find_asr.sh"
if [ $# -ne 3 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
mkdir -p "$3"
"$asr" mkgraph-ctc --log-file /dev/null --sil-prob "$sil_prob" "$1" "$2" "$3"
echo "$0: wrote $3/TLG.fst"
