#!/usr/bin/env bash
# Decode a data dir with a trained model, then score it (Kaldi layout:
# <decode-dir>/{text,wer,per_utt,log/}).
# Usage: steps/decode.sh [options] <exp-dir-or-checkpoint> <data-dir> <decode-dir>
#  e.g.: steps/decode.sh --nj 2 --beam 8 exp/ctc data/test exp/ctc/decode_test
#        steps/decode.sh exp/mono/graph data/test exp/mono/decode_test    (HMM-GMM: a graph dir with HCLG.fst)
#        steps/decode.sh exp/ce_lstm/graph data/test exp/ce_lstm/decode_test   (hybrid: <decode-dir>/../final.pt)
#        steps/decode.sh exp/ctc/graph_tlg data/test exp/ctc/decode_tlg_test   (CTC through TLG.fst: utils/mkgraph_ctc.sh)
# With a graph dir (Kaldi's form) the model is <decode-dir>/.. (final.mdl; a hybrid model's final.pt,
# its posteriors divided by the priors, with its alignment model's final.mdl and tree); the lattice decoder
# runs once per LM weight (acoustic scale 1/lmwt) and insertion penalty, and the grid is scored in
# Kaldi's layout (wer_<lmwt>_<wip>, scoring/best_wer).
# Options:
#   --nj N                    parallel jobs, one per part of utils/split_data.sh (default 1)
#   --cmd CMD                 job runner (default utils/run.pl)
#   --beam N                  hypotheses kept per frame: 1 = greedy, N > 1 = CTC prefix beam search; with --lm
#                             the lexicon search's beam (default: 1, or 50 with --lm)
#   --lm FILE                 word n-gram LM (ARPA): decode constrained to its words (lexicon search)
#   --lm-weight W             LM weight (default 1.0; with --lm)
#   --word-ins-penalty P      Kaldi's word insertion penalty, positive = fewer insertions (default 0.0; with --lm)
#   --word-score S            deprecated: --word-ins-penalty -S
#   --skip-scoring true|false do not score even if <data-dir>/text exists (default false)
# HMM-GMM and hybrid (graph dir) options:
#   --beam B                  decoding beam (default 13)
#   --max-active N            active states per frame (default 7000)
#   --min-lmwt N --max-lmwt N the LM-weight grid (default 7 and 17, Kaldi's score.sh)
#   --lm-weights "W ..."      the grid's LM weights as a list (replaces min/max; a TLG graph's default
#                             "0.2 0.3 0.5 0.7 1.0 1.4": CTC posteriors are not scaled like GMM likelihoods)
#   --wip-grid "P ..."        the insertion penalties of the grid (default "0.0 0.5 1.0")
set -euo pipefail
nj=1
cmd=utils/run.pl
beam=
lm=
lm_weight=1.0
word_ins_penalty=0.0
word_score=
skip_scoring=false
max_active=7000
min_lmwt=7
max_lmwt=17
wip_grid="0.0 0.5 1.0"
lm_weights=
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 3 ]; then
  echo "Usage: $0 [--nj N] [--cmd run.pl] [--beam N] [--lm ARPA] [--skip-scoring true|false] <exp-dir-or-checkpoint> <data-dir> <decode-dir>" >&2
  exit 1
fi
model=$1; data=$2; dir=$3
if [ -f "$model/TLG.fst" ]; then
  utils/validate_data_dir.sh --no-text --no-feats "$data"
  mkdir -p "$dir/log"
  $cmd "$dir/log/decode.log" asr decode-tlg --log-file /dev/null --num-threads "$(nproc)" --beam "${beam:-13}" \
    --max-active "$max_active" --lm-weights "${lm_weights:-0.2 0.3 0.5 0.7 1.0 1.4}" --word-ins-penalties "$wip_grid" \
    "$model" "$data" "$dir"
  [ ! -f "$dir/scoring/best_wer" ] || cat "$dir/scoring/best_wer"
  exit 0
fi
if [ -f "$model/HCLG.fst" ]; then
  utils/validate_data_dir.sh --no-text --no-wav "$data"
  mkdir -p "$dir/log"
  gopts=(--beam "${beam:-13}" --max-active "$max_active" --lm-weights "${lm_weights:-$(seq -s ' ' "$min_lmwt" "$max_lmwt")}"
         --word-ins-penalties "$wip_grid")
  if [ -f "$(dirname "$dir")/final.pt" ]; then  # a hybrid model (frame-level training on pdfs)
    $cmd "$dir/log/decode.log" asr decode-hybrid --log-file /dev/null --num-threads "$(nproc)" "${gopts[@]}" \
      "$model" "$data" "$dir"
  else
    $cmd "$dir/log/decode.log" asr decode-gmm --log-file /dev/null "${gopts[@]}" "$model" "$data" "$dir"
  fi
  [ ! -f "$dir/scoring/best_wer" ] || cat "$dir/scoring/best_wer"
  exit 0
fi
utils/validate_data_dir.sh --no-feats --no-text "$data"
mkdir -p "$dir/log"
rm -f "$dir/text" "$dir/wer" "$dir/per_utt"  # never leave old results next to new ones
threads=$(( $(nproc) / nj )); [ "$threads" -ge 1 ] || threads=1
opts=()
[ -z "$beam" ] || opts+=(--beam "$beam")
penalty_opt=(--word-ins-penalty "$word_ins_penalty")
[ -z "$word_score" ] || penalty_opt=(--word-score "$word_score")  # asr warns and turns it into the penalty
[ -z "$lm" ] || opts+=(--lm "$lm" --lm-weight "$lm_weight" "${penalty_opt[@]}")
if [ "$nj" -gt 1 ]; then
  utils/split_data.sh "$data" "$nj"
  $cmd JOB=1:"$nj" "$dir/log/decode.JOB.log" \
    asr decode --log-file /dev/null --no-score --num-threads "$threads" "${opts[@]}" --model "$model" \
      "$data/split$nj/JOB" "$dir/split$nj/JOB"
  for n in $(seq "$nj"); do cat "$dir/split$nj/$n/text"; done | LC_ALL=C sort > "$dir/.text.tmp"
  mv "$dir/.text.tmp" "$dir/text"
  rm -r "$dir/split$nj"
else
  $cmd "$dir/log/decode.log" \
    asr decode --log-file /dev/null --no-score --num-threads "$threads" "${opts[@]}" --model "$model" "$data" "$dir"
fi
if [ "$skip_scoring" = false ] && [ -f "$data/text" ]; then
  steps/score.sh --cmd "$cmd" "$data" "$dir"
fi
