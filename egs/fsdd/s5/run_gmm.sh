#!/usr/bin/env bash
# FSDD: the HMM-GMM baseline, Kaldi's way: one whole-word "phone" per digit (--states HMM states
# each, a 5-state silence), a monophone GMM system trained on the FSDD training files, decoded
# through HCLG with run.sh's bigram LM over an LM-weight grid. Trained on the FSDD training files
# and (--strings true) run.sh's 400 training strings of 1-3 digits, as the CTC model is (not on its
# noise-only recordings or speechocean762's strings). Needs run.sh's stages 1-2 (data/,
# data/lang/lm_bigram.arpa).
# Usage: ./run_gmm.sh [--stage N] [--stop-stage N] [--states 8] [--totgauss 1000] [--strings true|false]
#                     [--seed 0] [--dir exp/mono] [--num-leaves 300] [--tri-totgauss 2000]
# Stages: 1 filterbank features + CMVN of copies of the data dirs (data/gmm/<set>); 2 dict, lang dir
#         and G.fst; 3 steps/train_mono.sh into --dir; 4 HCLG and decode test, test_<speaker>
#         and test_concat; 5 <dir>/RESULTS.md; 6 align with --dir (<dir>_ali) and
#         steps/train_deltas.sh into exp/tri1 (the words' states tied by a tree over the
#         neighbouring words); 7 its HCLG and decodes; 8 exp/tri1/RESULTS.md.
set -euo pipefail
stage=1
stop_stage=100
heldout_speaker=theo
states=8
totgauss=1000
strings=true
seed=0
dir=exp/mono
num_leaves=300
tri_totgauss=2000
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
sets="test test_$heldout_speaker test_concat"
exp=$dir

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  mkdir -p data/gmm
  if [ "$strings" = true ]; then
    awk 'NF > 1 {print $1}' data/train_seq/text > data/gmm/strings.list  # not the noise-only recordings
    rm -rf data/gmm/strings; utils/subset_data_dir.sh --utt-list data/gmm/strings.list data/train_seq data/gmm/strings
    utils/combine_data.sh data/gmm/train_src data/train data/gmm/strings
  else
    rm -rf data/gmm/train_src; utils/copy_data_dir.sh data/train data/gmm/train_src
  fi
  for s in train $sets; do
    src=data/$s; [ $s != train ] || src=data/gmm/train_src
    [ -d $src ] || { echo "$0: $src not found (run ./run.sh --stop-stage 2)" >&2; exit 1; }
    rm -rf data/gmm/$s
    utils/copy_data_dir.sh $src data/gmm/$s
    rm -f data/gmm/$s/feats.scp data/gmm/$s/cmvn.scp
    steps/make_fbank.sh --nj 1 --cmd "$train_cmd" --fbank-config conf/fbank.conf data/gmm/$s exp/make_fbank_gmm/$s fbank_gmm
    steps/compute_cmvn_stats.sh data/gmm/$s exp/make_fbank_gmm/$s fbank_gmm
  done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  d=data/gmm/dict; mkdir -p $d
  words="ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE"
  { echo "<SIL> SIL"; for w in $words; do echo "$w ${w,,}"; done; } > $d/lexicon.txt
  echo SIL > $d/silence_phones.txt
  echo SIL > $d/optional_silence.txt
  for w in $words; do echo "${w,,}"; done > $d/nonsilence_phones.txt
  utils/prepare_lang.sh --num-nonsil-states "$states" --position-dependent-phones false $d "<SIL>" data/gmm/local/lang data/gmm/lang
  utils/format_lm.sh data/gmm/lang data/lang/lm_bigram.arpa $d/lexicon.txt data/gmm/lang_test
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  steps/train_mono.sh --cmd "$train_cmd" --totgauss "$totgauss" --seed "$seed" data/gmm/train data/gmm/lang $exp
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  utils/mkgraph.sh data/gmm/lang_test $exp $exp/graph
  for s in $sets; do
    steps/decode.sh --cmd "$decode_cmd" --min-lmwt 8 --max-lmwt 14 --wip-grid "0.0 1.0" $exp/graph data/gmm/$s $exp/decode_$s
  done
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  opts=""
  [ "$states" = 8 ] || opts+=" --states $states"
  [ "$totgauss" = 1000 ] || opts+=" --totgauss $totgauss"
  [ "$strings" = true ] || opts+=" --strings false"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  [ "$dir" = exp/mono ] || opts+=" --dir $dir"
  dirs=(); for s in $sets; do dirs+=("$exp/decode_$s"); done
  utils/write_results.sh $exp/RESULTS.md "FSDD: whole-word monophone HMM-GMM" "cd egs/fsdd/s5 && ./run_gmm.sh$opts" \
    "Data as RESULTS.md (run.sh's dirs); training on the FSDD training files$([ "$strings" = true ] && echo " and the 400 training strings"). One HMM per digit word ($states states), 5-state silence; 40 log-mel bins -> 13 cepstra + deltas, speaker CMVN; best of LM weights 8-14 x penalties 0, 1 (scoring/best_wer)." \
    "${dirs[@]}"
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  steps/align_si.sh --cmd "$train_cmd" data/gmm/train data/gmm/lang $exp ${exp}_ali
  steps/train_deltas.sh --cmd "$train_cmd" --seed "$seed" "$num_leaves" "$tri_totgauss" \
    data/gmm/train data/gmm/lang ${exp}_ali exp/tri1
fi
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  utils/mkgraph.sh data/gmm/lang_test exp/tri1 exp/tri1/graph
  for s in $sets; do
    steps/decode.sh --cmd "$decode_cmd" --min-lmwt 8 --max-lmwt 14 --wip-grid "0.0 1.0" exp/tri1/graph data/gmm/$s exp/tri1/decode_$s
  done
fi
if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  opts=""
  [ "$num_leaves $tri_totgauss" = "300 2000" ] || opts+=" --num-leaves $num_leaves --tri-totgauss $tri_totgauss"
  [ "$states" = 8 ] || opts+=" --states $states"
  [ "$strings" = true ] || opts+=" --strings false"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  dirs=(); for s in $sets; do dirs+=("exp/tri1/decode_$s"); done
  utils/write_results.sh exp/tri1/RESULTS.md "FSDD: whole-word triphone HMM-GMM (tri1)" "cd egs/fsdd/s5 && ./run_gmm.sh$opts" \
    "Data and features as $exp. A decision tree over the word before and after each digit word on ${exp}_ali's alignments ($(sed -n 's/.*tree: //p' exp/tri1/log/train.log)), $tri_totgauss Gaussians targeted, 35 EM passes realigning on 10, 20 and 30; best of LM weights 8-14 x penalties 0, 1 (scoring/best_wer)." \
    "${dirs[@]}"
fi
