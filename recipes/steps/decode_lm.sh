#!/usr/bin/env bash
# Decode a data dir with a lexicon and a word n-gram LM over a grid of LM weights and word insertion
# penalties, in Kaldi's scoring layout (see `asr decode --help`):
#   <decode-dir>/scoring/<lmwt>_<wip>.txt, <decode-dir>/wer_<lmwt>_<wip>, <decode-dir>/scoring/best_wer,
#   <decode-dir>/scoring/{lmwt,wip} (the best setting), <decode-dir>/{text,wer,per_utt} for it,
#   <decode-dir>/log/lm_decode.log.
# Usage: steps/decode_lm.sh [options] <exp-dir-or-checkpoint> <lm.arpa> <data-dir> <decode-dir>
#   --cmd CMD                   job runner (default utils/run.pl)
#   --lm-weights "0.5 1 1.5 2"  LM weights to try (scale the LM's log10 probabilities)
#   --word-ins-penalties "0 0.5 1"   word insertion penalties to try
#   --lm-weight X --word-ins-penalty Y   a single setting instead (e.g. tuned on dev: scoring/lmwt, scoring/wip)
#   --lexicon FILE              words to decode (phone units: pronunciation lexicon); default: the LM's words
#   --beam N                    beam of the lexicon search (default 50)
#   --nj N                      worker processes over the grid (default 1)
# e.g. steps/decode_lm.sh exp/ctc data/lang/lm_3gram.arpa data/dev exp/ctc/decode_dev_lm
#      steps/decode_lm.sh --lm-weight $(cat exp/ctc/decode_dev_lm/scoring/lmwt) \
#        --word-ins-penalty $(cat exp/ctc/decode_dev_lm/scoring/wip) exp/ctc data/lang/lm_3gram.arpa \
#        data/test exp/ctc/decode_test_lm
set -euo pipefail
cmd=utils/run.pl
lm_weights="0.5 1 1.5 2"
word_ins_penalties="0 0.5 1"
lm_weight=
word_ins_penalty=
lexicon=
beam=50
nj=1
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 4 ]; then
  echo "Usage: $0 [--cmd run.pl] [--lm-weights '0.5 1 1.5 2'] [--word-ins-penalties '0 0.5 1'] [--beam N]" \
       "<exp-dir-or-checkpoint> <lm.arpa> <data-dir> <decode-dir>" >&2
  exit 1
fi
model=$1; lm=$2; data=$3; dir=$4
[ -e "$model" ] || { echo "$0: no such model $model" >&2; exit 1; }
[ -f "$lm" ] || { echo "$0: no such LM file $lm" >&2; exit 1; }
utils/validate_data_dir.sh --no-feats --no-text "$data"
mkdir -p "$dir/log"
opts=(--beam "$beam" --nj "$nj")
if [ -n "$lm_weight" ]; then opts+=(--lm-weight "$lm_weight"); else opts+=(--lm-weights "$lm_weights"); fi
if [ -n "$word_ins_penalty" ]; then
  opts+=(--word-ins-penalty "$word_ins_penalty")
else
  opts+=(--word-ins-penalties "$word_ins_penalties")
fi
[ -n "$lexicon" ] && opts+=(--lexicon "$lexicon")
$cmd "$dir/log/lm_decode.log" \
  asr decode --log-file /dev/null "${opts[@]}" --model "$model" --lm "$lm" "$data" "$dir"
if [ -f "$dir/scoring/best_wer" ]; then
  cat "$dir/scoring/best_wer"
fi
