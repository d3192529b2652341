#!/usr/bin/env bash
# yesno: CTC on Kaldi's yesno corpus (one male speaker, 60 files of 8 words, 8 kHz).
# Usage: ./run.sh [--stage N] [--stop-stage N] [--corpus-dir DIR] [--download true|false] [--nj N]
#                 [--seed N] [--train-opts "--section.field value ..."] [--nproc N] [--dist ddp|model-avg|hogwild|asgd]
# Stages: 0 download (only with --download true), 1 data prep, 2 the YES/NO grammar as a bigram
#         LM (local/prepare_lm.sh, as Kaldi's task.arpabo), 3 train CTC (features on the fly),
#         4 decode (lexicon + LM search; greedy for comparison) + score; the HMM-GMM baseline, as
#         Kaldi's yesno: 5 filterbank features + CMVN, 6 dict, lang dir and G.fst, 7 monophone GMM
#         (400 Gaussians), HCLG, decode over the LM-weight grid, and the CTC model's word times
#         scored against the GMM's forced alignment of the test set; 8 hybrid: exp/mono's alignments
#         of data/train, a unidirectional LSTMP trained with frame-level cross-entropy (conf/ce.yaml),
#         decoded through HCLG, its word times scored as the CTC model's; 9 RESULTS.md.
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

# word_times <model> <decode-dir> <what>: the model's CTM of data/test (asr transcribe) scored against
# the GMM's forced alignment exp/mono_ali_test/words.ctm, into <decode-dir>/word_times
word_times() {
  asr transcribe -q --model "$1" --format ctm data/test/wav.scp > "$2/ctm"
  asr score-times exp/mono_ali_test/words.ctm "$2/ctm" |
    sed "s|^|$2/ctm$3 against the forced alignment exp/mono_ali_test/words.ctm: |" > "$2/word_times"
  cat "$2/word_times"
}

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
  for s in train test; do
    steps/make_fbank.sh --nj 1 --cmd "$train_cmd" --fbank-config conf/fbank.conf data/$s exp/make_fbank/$s fbank
    steps/compute_cmvn_stats.sh data/$s exp/make_fbank/$s fbank
  done
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  local/prepare_dict.sh data/local/dict
  utils/prepare_lang.sh --position-dependent-phones false data/local/dict "<SIL>" data/local/lang data/lang_gmm
  utils/format_lm.sh data/lang_gmm data/lang/lm_yesno.arpa data/local/dict/lexicon.txt data/lang_gmm_test_tg
fi
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  steps/train_mono.sh --cmd "$train_cmd" --totgauss 400 --seed "$seed" data/train data/lang_gmm exp/mono
  utils/mkgraph.sh data/lang_gmm_test_tg exp/mono exp/mono/graph
  steps/decode.sh --cmd "$decode_cmd" exp/mono/graph data/test exp/mono/decode_test
  # Word times users can trust: the CTC model's CTM against the GMM's forced alignment of the test set
  steps/align_si.sh --cmd "$train_cmd" data/test data/lang_gmm exp/mono exp/mono_ali_test
  asr ali-to-phones -q --word-ctm exp/mono_ali_test/words.ctm --lang data/lang_gmm --data data/test \
    exp/mono_ali_test exp/mono_ali_test/ali.1.gz
  word_times exp/ctc exp/ctc/decode_test_greedy ""
fi
if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  # Hybrid, as Sak et al. (2014): frame-level cross-entropy on exp/mono's alignments of data/train,
  # a unidirectional LSTMP (delay 5, truncated BPTT over 20 frames), posteriors / priors through HCLG
  steps/align_si.sh --cmd "$train_cmd" data/train data/lang_gmm exp/mono exp/mono_ali
  steps/train.sh --cmd "$train_cmd" --config conf/ce.yaml data/train "" exp/ce_lstmp --train.seed "$seed"
  utils/mkgraph.sh data/lang_gmm_test_tg exp/ce_lstmp exp/ce_lstmp/graph
  steps/decode.sh --cmd "$decode_cmd" exp/ce_lstmp/graph data/test exp/ce_lstmp/decode_test
  word_times exp/ce_lstmp exp/ce_lstmp/decode_test " (asr transcribe, acoustic scale 0.1)"
fi
if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  utils/write_results.sh --append exp/ctc/decode_test_greedy/word_times --append exp/ce_lstmp/decode_test/word_times \
    RESULTS.md "yesno: CTC, characters; monophone HMM-GMM; hybrid LSTMP" "cd egs/yesno/s5 && ./run.sh$run_opts" \
    "Data: Kaldi's yesno corpus (OpenSLR resource 1, from the Kaldi project). decode_test: lexicon search with the YES/NO grammar (local/prepare_lm.sh); decode_test_greedy: greedy CTC. exp/mono: monophone HMM-GMM (steps/train_mono.sh --totgauss 400, 23 log-mel bins -> 13 cepstra + deltas, speaker CMVN), decoded through HCLG with the same grammar; its best LM weight and penalty of the grid (scoring/best_wer). exp/ce_lstmp: hybrid, a unidirectional LSTMP (conf/ce.yaml: 2 layers, 64 cells, projection 32, output delay 5, truncated BPTT over 20 frames) trained with frame-level cross-entropy on exp/mono's alignments of data/train (no cropped copies), decoded through the same HCLG (posterior / prior)." \
    exp/ctc/decode_test exp/ctc/decode_test_greedy exp/mono/decode_test exp/ce_lstmp/decode_test
fi
