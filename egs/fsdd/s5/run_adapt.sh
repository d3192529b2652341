#!/usr/bin/env bash
# FSDD: adapt the recipe's model to the held-out speaker with 100 of their recordings, and measure
# the WER on their other 400 before and after (steps/finetune.sh). Needs run.sh's stages 1-3
# (data/test_<speaker>, data/lang/lm_bigram.arpa, exp/ctc).
# Usage: ./run_adapt.sh [--stage N] [--stop-stage N] [--heldout-speaker theo] [--model exp/ctc]
#                       [--finetune-opts "--epochs 10 ..."] [--nj 1]
# Stages: 1 split test_<speaker> into adapt_<speaker> (recording index 0-9 of each digit: 100 files)
#         and test_<speaker>_rest (index 10-49: 400 files); 2 decode the model on test_<speaker>_rest
#         and test; 3 fine-tune on adapt_<speaker> (no dev set); 4 decode the fine-tuned model on
#         the same sets; 5 exp/RESULTS_adapt.md (this run's table; RESULTS_adapt.md holds the seed table).
set -euo pipefail
stage=1
stop_stage=100
heldout_speaker=theo
model=exp/ctc
finetune_opts=  # steps/finetune.sh options, e.g. "--epochs 5 --lr 0.0003 --freeze-layers 1"
nj=1
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
spk=$heldout_speaker
adapted=${model}_adapt_$spk
sets="test_${spk}_rest test"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  [ -d data/test_$spk ] || { echo "$0: data/test_$spk not found (run ./run.sh --stop-stage 1)" >&2; exit 1; }
  # utterance ids are <speaker>_<digit>_<index, 2 digits>
  awk '{split($1, p, "_"); if (p[3] + 0 < 10) print $1}' data/test_$spk/utt2spk > data/local/adapt_$spk.list
  awk '{split($1, p, "_"); if (p[3] + 0 >= 10) print $1}' data/test_$spk/utt2spk > data/local/rest_$spk.list
  asr subset-data-dir -q --utt-list data/local/adapt_$spk.list data/test_$spk data/adapt_$spk
  asr subset-data-dir -q --utt-list data/local/rest_$spk.list data/test_$spk data/test_${spk}_rest
  echo "$0: adapt_$spk $(wc -l < data/adapt_$spk/utt2spk) utterances, test_${spk}_rest $(wc -l < data/test_${spk}_rest/utt2spk)"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_bigram.arpa $model $sets
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # shellcheck disable=SC2086
  steps/finetune.sh --cmd "$train_cmd" $finetune_opts $model data/adapt_$spk "" $adapted
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_bigram.arpa $adapted $sets
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  utils/write_results.sh exp/RESULTS_adapt.md "fsdd: $model adapted to $spk with 100 of their recordings" \
    "cd egs/fsdd/s5 && ./run_adapt.sh${finetune_opts:+ --finetune-opts \"$finetune_opts\"}" \
    "Adaptation data: data/adapt_$spk (recording index 0-9 of each digit); test: the other 400 (index 10-49) and the official test set (speakers seen in training: forgetting). No dev set (steps/finetune.sh's defaults)." \
    $(for s in $sets; do echo $model/decode_$s; done) $(for s in $sets; do echo $adapted/decode_$s; done)
fi
