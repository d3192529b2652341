#!/usr/bin/env bash
# Demo recipe: trains and evaluates a small CTC model on the synthetic corpus the toolkit ships in
# data/demo (espeak-ng voices saying digits and commands; see data/demo/README.md). Needs no
# download and no other corpus: `make demo` runs it.
# Usage: ./run.sh [--stage N] [--stop-stage N] [--corpus-dir DIR] [--nj N] [--epochs N]
#                 [--seed N] [--train-opts "--section.field value ..."] [--nproc N] [--dist ddp|model-avg|hogwild|asgd]
# Stages: 1 data prep + a bigram LM of the training text, 2 train (features on the fly),
#         3 decode (lexicon + LM search; greedy for comparison) + score, 4 RESULTS.md.
set -euo pipefail
stage=0
stop_stage=100
corpus_dir=../../../data/demo
nj=1
epochs=  # empty = conf/train.yaml's
seed=0      # train.seed: initialisation, batch order, dropout and augmentation
train_opts= # more `asr train` overrides for the training stage, e.g. "--train.epochs 30 --optim.lr 0.002"
nproc=1     # training worker processes (steps/train.sh --nproc; > 1 runs torchrun)
dist=ddp    # distributed mode with --nproc > 1 (steps/train.sh --dist)
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
run_opts=""  # the options that change the training, for RESULTS.md
[ "$seed" = 0 ] || run_opts+=" --seed $seed"
[ -z "$train_opts" ] || run_opts+=" --train-opts \"$train_opts\""
[ "$nproc" = 1 ] || run_opts+=" --nproc $nproc --dist $dist"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  local/prepare_data.sh "$corpus_dir" data
  for s in train test; do utils/validate_data_dir.sh --no-feats data/$s; done
  mkdir -p data/lang
  asr train-lm -q --order 2 --kaldi-text data/train/text data/lang/lm_bigram.arpa
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  # shellcheck disable=SC2086
  steps/train.sh --cmd "$train_cmd" --nproc "$nproc" --dist "$dist" --config conf/train.yaml data/train "" exp/ctc \
    --train.seed "$seed" ${epochs:+--train.epochs $epochs} $train_opts
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_bigram.arpa --greedy test exp/ctc test
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  utils/write_results.sh RESULTS.md "Demo: CTC, characters" \
    "make demo (cd egs/demo/s5 && ./run.sh${epochs:+ --epochs $epochs}$run_opts)" \
    "Data: the synthetic demo corpus in data/demo (CC0; espeak-ng voices s01-s10 train, unseen s11-s12 test). Synthetic speech is far easier than real speech. decode_test: lexicon search with a bigram LM of the training text; decode_test_greedy: greedy CTC." \
    exp/ctc/decode_test exp/ctc/decode_test_greedy
  echo "Transcribe your own audio (any rate/format) with: asr transcribe --model egs/demo/s5/exp/ctc AUDIO..."
fi
