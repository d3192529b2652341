#!/usr/bin/env bash
# Decode several data sets with one model: the LM search a recipe reports, and greedy CTC beside it.
# Usage: steps/decode_sets.sh [options] <exp-dir> <set> [<set> ...]
#  e.g.: steps/decode_sets.sh --lm data/lang/lm_bigram.arpa --greedy test exp/ctc test test_theo
# Each data/<set> is decoded into <exp-dir>/decode_<set> (steps/decode.sh: with --lm the lexicon + LM
# search, else greedy), and each set of --greedy also into <exp-dir>/decode_<set>_greedy (greedy CTC).
# Options:
#   --nj N          parallel jobs per decode (default 1)
#   --cmd CMD       job runner (default utils/run.pl)
#   --lm FILE       word n-gram LM (ARPA) for the decode_<set> dirs (default: none, greedy)
#   --greedy "S"    sets also decoded greedily into decode_<set>_greedy (default: none)
#   --data DIR      where the sets are (default data)
set -euo pipefail
nj=1
cmd=utils/run.pl
lm=
greedy=
data=data
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -lt 2 ]; then
  echo "Usage: $0 [--nj N] [--cmd run.pl] [--lm ARPA] [--greedy \"set ...\"] <exp-dir> <set> [<set> ...]" >&2
  exit 1
fi
exp=$1; shift
for s in "$@"; do
  steps/decode.sh --nj "$nj" --cmd "$cmd" ${lm:+--lm "$lm"} "$exp" "$data/$s" "$exp/decode_$s"
done
for s in $greedy; do
  steps/decode.sh --nj "$nj" --cmd "$cmd" "$exp" "$data/$s" "$exp/decode_${s}_greedy"
done
