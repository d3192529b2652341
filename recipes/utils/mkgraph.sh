#!/usr/bin/env bash
# Build the decoding graph HCLG.fst from a lang dir with G.fst and an HMM-GMM model dir (as Kaldi's
# utils/mkgraph.sh): det(L o G), the tree's context, H, disambiguation symbols removed, self-loops
# added. Writes <graph-dir>/{HCLG.fst,words.txt,phones.txt,disambig_tid.int}.
# Usage: utils/mkgraph.sh [options] <lang-dir> <model-dir> <graph-dir>
#  e.g.: utils/mkgraph.sh data/lang_test_tg exp/mono exp/mono/graph
# Options:
#   --self-loop-scale S    scale of the self-loop log-probabilities (default 0.1, Kaldi's for GMMs)
#   --transition-scale S   scale of the other transitions (default 1.0)
#   --mono                 accepted (Kaldi's deprecated flag); the context width comes from the tree
set -euo pipefail
self_loop_scale=0.1
transition_scale=1.0
echo "$0 $*"
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
args=()
for a in "$@"; do [ "$a" = --mono ] || args+=("$a"); done
set -- "${args[@]}"
. "$utils/parse_options.sh"
. "$utils/find_asr.sh"
if [ $# -ne 3 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
mkdir -p "$3"
"$asr" mkgraph --log-file /dev/null --self-loop-scale "$self_loop_scale" --transition-scale "$transition_scale" \
  "$1" "$2" "$3"
echo "$0: wrote $3/HCLG.fst"
