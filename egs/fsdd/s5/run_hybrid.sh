#!/usr/bin/env bash
# FSDD: a hybrid LSTM (frame-level cross-entropy on the whole-word GMM's alignments, Sak et al.
# 2014's training) decoded through the GMM's HCLG, on the sets of run_gmm.sh: test, the held-out
# speaker's test_<speaker>, and test_concat (strings of 3-7 digits). Needs run_gmm.sh's stages 1-3.
# Usage: ./run_hybrid.sh [--stage N] [--stop-stage N] [--gmm exp/mono] [--dir exp/ce_lstm] [--seed 0]
#                        [--train-opts "..."]
# Stages: 1 align data/gmm/train with the GMM (<gmm>_ali); 2 train (conf/ce.yaml); 3 HCLG and
#         decode each set over LM weights 4-10 x penalties 0, 1; 4 <dir>/RESULTS.md.
set -euo pipefail
stage=1
stop_stage=100
heldout_speaker=theo
gmm=exp/mono
dir=exp/ce_lstm
seed=0
train_opts=
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
sets="test test_$heldout_speaker test_concat"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  [ -f $gmm/final.mdl ] || { echo "$0: $gmm/final.mdl not found (run ./run_gmm.sh --stop-stage 3)" >&2; exit 1; }
  steps/align_si.sh --cmd "$train_cmd" data/gmm/train data/gmm/lang $gmm ${gmm}_ali
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  # shellcheck disable=SC2086
  steps/train.sh --cmd "$train_cmd" --config conf/ce.yaml data/gmm/train "" $dir \
    --data.alignments ${gmm}_ali --train.seed "$seed" $train_opts
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  utils/mkgraph.sh data/gmm/lang_test $dir $dir/graph
  for s in $sets; do
    steps/decode.sh --cmd "$decode_cmd" --min-lmwt 4 --max-lmwt 10 --wip-grid "0.0 1.0" $dir/graph data/gmm/$s $dir/decode_$s
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  opts=""
  [ "$gmm" = exp/mono ] || opts+=" --gmm $gmm"
  [ "$dir" = exp/ce_lstm ] || opts+=" --dir $dir"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  [ -z "$train_opts" ] || opts+=" --train-opts \"$train_opts\""
  dirs=(); for s in $sets; do dirs+=("$dir/decode_$s"); done
  utils/write_results.sh $dir/RESULTS.md "FSDD: hybrid LSTM on the whole-word GMM's alignments" "cd egs/fsdd/s5 && ./run_hybrid.sh$opts" \
    "Data as run_gmm.sh (the FSDD training files and the 400 training strings, data/gmm/<set>). Frame labels: $gmm's alignments. conf/ce.yaml: unidirectional LSTM 2 x 128, output delay 5, truncated BPTT over 20 frames, frame-level cross-entropy; decoded through $gmm's HCLG with the bigram LM, posterior / prior, best of LM weights 4-10 x penalties 0, 1 (scoring/best_wer)." \
    "${dirs[@]}"
fi
