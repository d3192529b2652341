#!/usr/bin/env bash
# FSDD from a model trained on another corpus: fine-tune a speechocean762 model (egs/speechocean762/s5,
# read English, 16 kHz) on FSDD's training data and compare it with FSDD models trained from scratch
# on the same data for the same number of epochs: the recipe's own BLSTM (conf/train.yaml) and one
# with the init model's architecture and units. Needs run.sh's stages 1-2 (data dirs, bigram LM);
# for a clean comparison run those with --speechocean-dir "" (then FSDD's training data holds no
# speechocean762 speech).
# Usage: ./run_transfer.sh --init-model DIR [--stage N] [--stop-stage N] [--train-set data/train_all]
#                          [--units keep|new] [--epochs N] [--lr X] [--subset N] [--seed N] [--nj 1]
#   --subset N  train on N utterances of the training set only (every k-th: the low-resource case)
# Stages: 1 the training subset (with --subset), 2 fine-tune the init model (steps/finetune.sh, dev set
#         for early stopping), 3 the scratch models with the same epochs, 4 decode every model on
#         test, test_theo and test_concat (lexicon + bigram LM), 5 exp/RESULTS_transfer<suffix>.md.
set -euo pipefail
stage=1
stop_stage=100
init_model=
train_set=data/train_all
units=keep
epochs=10
lr=0.001
subset=0
seed=0
nj=1
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
[ -n "$init_model" ] || { echo "$0: --init-model DIR is required (e.g. ../../speechocean762/s5/exp/ctc_char)" >&2; exit 1; }
[ -e "$init_model" ] || { echo "$0: init model $init_model not found" >&2; exit 1; }
suffix=_e${epochs}_s$seed  # the experiment dirs' names say epochs, seed and subset
train=$train_set
if [ "$subset" != 0 ]; then suffix=_n$subset$suffix; train=${train_set}_n$subset; fi
init_dir=$init_model; [ -d "$init_dir" ] || init_dir=$(dirname "$init_model")
[ -f "$init_dir/config.yaml" ] || { echo "$0: no config.yaml beside $init_model (an experiment dir of asr train)" >&2; exit 1; }
ft=exp/transfer${suffix}_finetuned_$units
scratch=exp/transfer${suffix}_scratch
scratch_arch=exp/transfer${suffix}_scratch_init_arch
sets="test test_theo test_concat"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ] && [ "$subset" != 0 ]; then
  mkdir -p data/local
  n=$(wc -l < $train_set/utt2spk)
  awk -v n=$n -v k=$subset 'NR % int(n / k) == 0 && c < k {print $1; c++}' $train_set/utt2spk > data/local/subset_$subset.list
  asr subset-data-dir -q --utt-list data/local/subset_$subset.list $train_set $train
  echo "$0: $train: $(wc -l < $train/utt2spk) utterances"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  new_units=()  # --units new: the recipe's word-sized BPE units, with a fresh output layer
  [ "$units" != new ] || new_units=(--data.units bpe --data.bpe_vocab_size 60)
  steps/finetune.sh --cmd "$train_cmd" --epochs $epochs --lr $lr --units $units --max-utts 16 \
    "$init_model" $train data/dev $ft --train.seed $seed "${new_units[@]}"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # the recipe's own model and schedule, for as many epochs
  steps/train.sh --cmd "$train_cmd" --config conf/train.yaml $train data/dev $scratch \
    --train.seed $seed --train.epochs $epochs --train.average_last 1 --train.keep_last 1
  # the init model's architecture, units and frontend, trained from scratch as long as the fine-tuning
  steps/train.sh --cmd "$train_cmd" --config "$init_dir/config.yaml" $train data/dev $scratch_arch \
    --frontend.feature_source wav --train.seed $seed --train.epochs $epochs --train.average_last 1 \
    --train.keep_last 1 --train.num_threads 1 --data.max_utts 16 --optim.warmup_steps 50
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for m in $ft $scratch $scratch_arch; do
    steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_bigram.arpa $m $sets
  done
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  utils/write_results.sh exp/RESULTS_transfer$suffix.md \
    "fsdd: $init_model fine-tuned on $train against models trained from scratch ($epochs epochs)" \
    "cd egs/fsdd/s5 && ./run_transfer.sh --init-model $init_model --units $units --epochs $epochs --lr $lr --subset $subset --seed $seed" \
    "Fine-tuned: steps/finetune.sh (lr $lr, constant; units $units). Scratch: conf/train.yaml; scratch_init_arch: the init model's config (its architecture, units and frontend, on the FSDD waveforms). Early stopping only for the fine-tuning (dev set)." \
    $(for m in $ft $scratch $scratch_arch; do for s in $sets; do echo $m/decode_$s; done; done)
fi
