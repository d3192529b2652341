#!/usr/bin/env bash
# yesno: CTC on Kaldi's yesno corpus (one male speaker, 60 files of 8 words, 8 kHz).
# Usage: ./run.sh [--stage N] [--stop-stage N] [--corpus-dir DIR] [--download true|false] [--nj N]
#                 [--seed N] [--train-opts "--section.field value ..."] [--nproc N] [--dist ddp]
# Stages: 0 download (only with --download true), 1 data prep, 2 the YES/NO grammar as a bigram
#         LM (local/prepare_lm.sh, as Kaldi's task.arpabo), 3 train (features on the fly),
#         4 decode (lexicon + LM search; greedy for comparison) + score, 5 RESULTS.md.
# Note: sorted by name, every training file starts with NO and every test file with YES
# (Kaldi's split). Training on the files alone teaches the model that utterances start with NO, so
# local/crop_leading_words.py adds copies with the first 1-5 words cut off (at the pauses), each
# word alone, and 100 recordings of 8 word segments in random order; the decoding lexicon keeps the
# model to the two words.
set -euo pipefail
stage=0
stop_stage=100
corpus_dir=../../../../shared/corpora/yesno  # holds waves_yesno/
download=false
nj=1
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

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ] && [ "$download" = true ]; then
  local/download.sh "$corpus_dir"
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  local/prepare_data.sh "$corpus_dir" data
  local/crop_leading_words.py --single-words --shuffled 100 data/train data/train_cut  # see the note above
  for s in train train_cut test; do utils/validate_data_dir.sh --no-feats data/$s; done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  local/prepare_lm.sh data/lang/lm_yesno.arpa
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # shellcheck disable=SC2086
  steps/train.sh --cmd "$train_cmd" --nproc "$nproc" --dist "$dist" --config conf/train.yaml data/train_cut "" exp/ctc --train.seed "$seed" $train_opts
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_yesno.arpa --greedy test exp/ctc test
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  utils/write_results.sh RESULTS.md "yesno: CTC, characters" "cd egs/yesno/s5 && ./run.sh$run_opts" \
    "Data: Kaldi's yesno corpus (OpenSLR resource 1, from the Kaldi project). decode_test: lexicon search with the YES/NO grammar (local/prepare_lm.sh); decode_test_greedy: greedy CTC." \
    exp/ctc/decode_test exp/ctc/decode_test_greedy
fi
