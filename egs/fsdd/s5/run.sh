#!/usr/bin/env bash
# FSDD: CTC on the Free Spoken Digit Dataset (isolated English digits, 8 kHz).
# Official split: recordings with index 0-4 are the test set, 5-49 the training set (we take
# index 5-9 of it as a dev set for the learning-rate schedule). One speaker is also held out of
# training entirely: test_<speaker> measures the WER on an unseen voice.
# Usage: ./run.sh [--stage N] [--stop-stage N] [--corpus-dir DIR] [--download true|false]
#                 [--speechocean-dir DIR] [--heldout-speaker NAME] [--nj N] [--epochs N] [--seed N] [--train-opts "--section.field value ..."] [--nproc N] [--dist ddp|model-avg|hogwild|asgd]
# Stages: 0 download (only with --download true), 1 data prep (with digit strings: training
#         recordings of 1-3 digits, and test_concat, 3-7 test digits in a row; test_nonspeech,
#         silence and noise), 2 bigram LM of the
#         training text (the ten digit words), 3 train (features on the fly), 4 decode (lexicon +
#         LM search; greedy on test and test_concat for comparison) + score, 5 RESULTS.md.
set -euo pipefail
stage=0
stop_stage=100
corpus_dir=../../../../shared/corpora/fsdd  # holds recordings/
download=false
heldout_speaker=theo
num_sequences=400  # training recordings of 1-3 digits in a row (local/make_sequences.py)
num_nonspeech=100  # training recordings of noise alone, with an empty transcript (the same script)
# speechocean762's digit-string utterances (26 more voices) join the training data when this dir
# exists ("" = never; the recipe runs without it, with a note, and RESULTS.md says which it was)
speechocean_dir=../../../../shared/corpora/speechocean762
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

test_sets="test test_$heldout_speaker test_concat"
if [ $stage -le 0 ] && [ $stop_stage -ge 0 ] && [ "$download" = true ]; then
  local/download.sh "$corpus_dir"
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  local/prepare_data.sh "$corpus_dir" "$heldout_speaker" data
  # Digits in a row with pauses around them: the model has to find each digit (see the script).
  local/make_sequences.py --num $num_sequences --nonspeech $num_nonspeech data/train data/train_seq
  extra=
  rm -rf data/train_so
  if [ -n "$speechocean_dir" ] && [ -f "$speechocean_dir/train/text" ]; then
    local/prepare_speechocean_digits.sh "$speechocean_dir" data/train_so
    extra=data/train_so
  elif [ -n "$speechocean_dir" ]; then
    echo "$0: note: no speechocean762 at $speechocean_dir: training on FSDD alone (--speechocean-dir DIR adds it)" >&2
  fi
  utils/combine_data.sh data/train_all data/train data/train_seq $extra
  # A recogniser's test: strings of 3-7 test-split digits joined by 0.2-0.5 s pauses (fixed seed).
  local/make_sequences.py --num 100 --seed 1 --min-digits 3 --max-digits 7 --min-pause 0.2 data/test data/test_concat
  utils/validate_data_dir.sh --no-feats --allow-empty-text data/train_all
  for s in dev $test_sets; do utils/validate_data_dir.sh --no-feats data/$s; done
  # No speech at all (silence, noise, hum): a recogniser answers these with no words.
  local/make_nonspeech.py data/test_nonspeech
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  mkdir -p data/lang
  asr train-lm -q --order 2 --kaldi-text data/train_all/text data/lang/lm_bigram.arpa
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  # shellcheck disable=SC2086
  steps/train.sh --cmd "$train_cmd" --nproc "$nproc" --dist "$dist" --config conf/train.yaml data/train_all data/dev exp/ctc \
    --train.seed "$seed" ${epochs:+--train.epochs $epochs} $train_opts
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  # shellcheck disable=SC2086
  steps/decode_sets.sh --nj $nj --cmd "$decode_cmd" --lm data/lang/lm_bigram.arpa --greedy "test test_concat" exp/ctc $test_sets
  # Where the words are emitted, on the digit strings (greedy CTC word times against the digits' audio).
  asr transcribe -q --model exp/ctc --format ctm data/test_concat/wav.scp > exp/ctc/decode_test_concat_greedy/ctm
  local/score_word_times.py data/test_concat/word_times exp/ctc/decode_test_concat_greedy/ctm |
    tee exp/ctc/decode_test_concat_greedy/word_times
  # Words emitted on recordings without speech, greedy and with the lexicon + LM (should be none).
  mkdir -p exp/ctc/decode_test_nonspeech
  asr transcribe -q --model exp/ctc data/test_nonspeech/wav.scp > exp/ctc/decode_test_nonspeech/text.greedy
  asr transcribe -q --model exp/ctc --lm data/lang/lm_bigram.arpa data/test_nonspeech/wav.scp \
    > exp/ctc/decode_test_nonspeech/text.lm
  local/count_words.sh exp/ctc/decode_test_nonspeech/text.{greedy,lm} | tee exp/ctc/decode_test_nonspeech/words
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  so_note=""  # what RESULTS.md says about the extra voices (stage 1 made data/train_so or not)
  if [ -d data/train_so ]; then
    so_note=", and the $(wc -l < data/train_so/text) digit strings ($(wc -l < data/train_so/spk2utt) speakers) of speechocean762 (OpenSLR 101, CC BY 4.0)"
  fi
  utils/write_results.sh --append exp/ctc/decode_test_concat_greedy/word_times \
    --append exp/ctc/decode_test_nonspeech/words RESULTS.md "FSDD: CTC, word-sized BPE units" \
    "cd egs/fsdd/s5 && ./run.sh${epochs:+ --epochs $epochs}$run_opts" \
    "Data: Free Spoken Digit Dataset v1.0.10 (Jakobovski et al., CC BY-SA 4.0), 5 speakers; test = index 0-4 of the 4 training speakers; test_$heldout_speaker = every recording of $heldout_speaker, who is not in training; test_concat = 100 strings of 3-7 test digits joined by 0.2-0.5 s pauses (local/make_sequences.py). Training: the training files, $num_sequences strings of 1-3 training digits and $num_nonspeech recordings of noise alone (empty transcripts)$so_note. Lexicon search with a bigram LM of the training text; decode_*_greedy: greedy CTC." \
    $(for s in $test_sets; do echo exp/ctc/decode_$s; done) exp/ctc/decode_test_greedy exp/ctc/decode_test_concat_greedy
fi
