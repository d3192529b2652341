#!/usr/bin/env bash
# Your own recordings: prepare them, fine-tune a trained model on them, decode and score.
# A template to copy (see the README, "Your own data"): nothing here is specific to a corpus.
# Usage: ./run.sh --init-model EXP_OR_CKPT --train-src SRC [--test-src SRC] [--stage N] [--stop-stage N]
#                 [--lm ARPA] [--speaker-regex RE] [--finetune-opts "--epochs 10 --lr 0.001 ..."] [--nj 1]
# SRC: a folder of audio files with same-name .txt/.lab transcripts, a CSV/TSV (path,text[,speaker]
# [,start,end]), JSON Lines or a lhotse manifest (asr prepare --help). Without --test-src every 10th
# utterance of --train-src is held out as data/test.
# Stages: 1 asr prepare -> data/all (and data/test_src), then data/train + data/test;
#         2 decode data/test with the init model (before); 3 fine-tune on data/train (steps/finetune.sh,
#         no dev set); 4 decode data/test with the fine-tuned model (after); 5 RESULTS.md.
set -euo pipefail
stage=1
stop_stage=100
init_model=
train_src=
test_src=
lm=              # word LM (ARPA) for a lexicon + LM search; empty = greedy decoding
speaker_regex=   # speaker = first group of this regex in each audio path (when the source has none)
finetune_opts=   # steps/finetune.sh options
nj=1
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
[ -n "$init_model" ] && [ -n "$train_src" ] || { echo "$0: give --init-model and --train-src (see the header)" >&2; exit 1; }
prep_opts=(); [ -z "$speaker_regex" ] || prep_opts=(--speaker-regex "$speaker_regex")
lm_opts=(); [ -z "$lm" ] || lm_opts=(--lm "$lm")

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  asr prepare "${prep_opts[@]}" "$train_src" data/all
  if [ -n "$test_src" ]; then
    asr prepare "${prep_opts[@]}" "$test_src" data/test
    utils/copy_data_dir.sh data/all data/train
  else  # every 10th utterance is the test set
    awk 'NR % 10 == 0 {print $1}' data/all/utt2spk > data/all/test.list
    awk 'NR % 10 != 0 {print $1}' data/all/utt2spk > data/all/train.list
    asr subset-data-dir -q --utt-list data/all/test.list data/all data/test
    asr subset-data-dir -q --utt-list data/all/train.list data/all data/train
  fi
  echo "$0: data/train $(wc -l < data/train/utt2spk) utterances, data/test $(wc -l < data/test/utt2spk)"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  mkdir -p exp
  steps/decode.sh --nj $nj --cmd "$decode_cmd" "${lm_opts[@]}" "$init_model" data/test exp/init/decode_test
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # shellcheck disable=SC2086
  steps/finetune.sh --cmd "$train_cmd" $finetune_opts "$init_model" data/train "" exp/finetuned
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  steps/decode.sh --nj $nj --cmd "$decode_cmd" "${lm_opts[@]}" exp/finetuned data/test exp/finetuned/decode_test
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  utils/write_results.sh RESULTS.md "Your data: $init_model fine-tuned" \
    "cd egs/custom/s5 && ./run.sh --init-model $init_model --train-src $train_src${test_src:+ --test-src $test_src}" \
    "Before: the init model; after: fine-tuned on data/train (steps/finetune.sh${finetune_opts:+ $finetune_opts})." \
    exp/init/decode_test exp/finetuned/decode_test
fi
