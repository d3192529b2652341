#!/usr/bin/env bash
# speechocean762: hybrid systems, Sak et al. (2014)'s way: frame-level cross-entropy on the HMM-GMM's
# alignments, unidirectional LSTM and LSTMP at matched parameters (output delay 5, truncated BPTT),
# decoded through the GMM's HCLG with posteriors divided by the priors, over an LM-weight grid on dev.
# Needs run_gmm.sh's stages 1-6 (data/gmm/{train,dev}, data/gmm/lang, data/gmm/lang_test, exp/tri1;
# --gmm exp/mono after its stages 1-3).
# Usage: ./run_hybrid.sh [--stage N] [--stop-stage N] [--systems "ce_lstm ce_lstmp"] [--gmm exp/tri1]
#                        [--seed 0] [--epochs N] [--train-opts "..."] [--min-lmwt 7] [--max-lmwt 12]
#                        [--wip-grid "0.0"] [--beam 11] [--parallel true|false]
# Stages: 1 align data/gmm/train and data/gmm/dev with the GMM (<gmm>_ali, <gmm>_ali_dev);
#         2 train each system (conf/<system>.yaml over conf/ce_lstmp.yaml; with --parallel true
#           the systems train side by side, one core each); 3 HCLG and decode dev; 4 RESULTS_hybrid.md.
set -euo pipefail
stage=1
stop_stage=100
systems="ce_lstm ce_lstmp"
gmm=exp/tri1
seed=0
epochs=
train_opts=
min_lmwt=7
max_lmwt=12
wip_grid="0.0"
beam=11
parallel=true
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

for sys in $systems; do
  [ -f conf/$sys.yaml ] || { echo "$0: unknown system '$sys' (no conf/$sys.yaml)" >&2; exit 1; }
done
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  [ -f $gmm/final.mdl ] || { echo "$0: $gmm/final.mdl not found (run ./run_gmm.sh --stop-stage 6)" >&2; exit 1; }
  steps/align_si.sh --cmd "$train_cmd" data/gmm/train data/gmm/lang $gmm ${gmm}_ali
  steps/align_si.sh --cmd "$train_cmd" data/gmm/dev data/gmm/lang $gmm ${gmm}_ali_dev
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  pids=()
  for sys in $systems; do
    cfg=conf/ce_lstmp.yaml; [ $sys = ce_lstmp ] || cfg="conf/ce_lstmp.yaml conf/$sys.yaml"
    # shellcheck disable=SC2086
    run=(steps/train.sh --cmd "$train_cmd" --config "$cfg" data/gmm/train data/gmm/dev exp/$sys
         --data.alignments ${gmm}_ali --data.dev_alignments ${gmm}_ali_dev --train.seed "$seed"
         ${epochs:+--train.epochs $epochs} $train_opts)
    if [ "$parallel" = true ]; then "${run[@]}" & pids+=($!); else "${run[@]}"; fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for sys in $systems; do
    utils/mkgraph.sh data/gmm/lang_test exp/$sys exp/$sys/graph
    steps/decode.sh --cmd "$decode_cmd" --beam "$beam" --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" \
      --wip-grid "$wip_grid" exp/$sys/graph data/gmm/dev exp/$sys/decode_dev
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  opts=""
  [ "$systems" = "ce_lstm ce_lstmp" ] || opts+=" --systems \"$systems\""
  [ "$gmm" = exp/tri1 ] || opts+=" --gmm $gmm"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  [ -z "$epochs" ] || opts+=" --epochs $epochs"
  [ -z "$train_opts" ] || opts+=" --train-opts \"$train_opts\""
  [ "$min_lmwt $max_lmwt $wip_grid $beam" = "7 12 0.0 11" ] || opts+=" --min-lmwt $min_lmwt --max-lmwt $max_lmwt --wip-grid \"$wip_grid\" --beam $beam"
  utils/write_results.sh RESULTS_hybrid.md "speechocean762: hybrid LSTM and LSTMP (frame-level cross-entropy)" \
    "cd egs/speechocean762/s5 && ./run_hybrid.sh$opts" \
    "Data as RESULTS.md (run.sh's data/train and data/dev, no speed perturbation). Frame labels: $gmm's alignments (pdf ids: $(sed -n "s/.*'number of pdfs': \([0-9]*\).*/\1/p" $gmm/log/train.log | tail -n 1) HMM-state classes of its tree). Models: conf/ce_lstmp.yaml (unidirectional LSTMP 2 x 256 cells, projection 128) and conf/ce_lstm.yaml (LSTM 2 x 185 cells, no projection; the same parameters within 1% with exp/tri1's pdfs), output delay 5, truncated BPTT over 20 frames, 10 ms frames. Decoded through $gmm's HCLG with the 3-gram LM (beam $beam), posterior / prior, best of LM weights $min_lmwt-$max_lmwt x penalties $wip_grid (scoring/best_wer)." \
    $(for sys in $systems; do echo exp/$sys/decode_dev; done)
fi
