#!/usr/bin/env bash
# speechocean762: the HMM-GMM baselines, Kaldi's way: the corpus's lexicon (ARPAbet with stress;
# the stress variants of a phone share a tree root), SIL and SPN (<UNK>) silences, a monophone GMM
# system trained on data/train (not speed-perturbed), then a triphone system (exp/tri1, a decision
# tree on the monophone alignments), each decoded through its HCLG with run.sh's 3-gram LM over an
# LM-weight grid on data/dev. Needs run.sh's stages 1 and 4 (data/train, data/dev,
# data/lang/lexicon.txt, data/lang/lm_3gram.arpa).
# Usage: ./run_gmm.sh [--stage N] [--stop-stage N] [--totgauss 1000] [--boost-silence 1.25] [--seed 0] [--dir exp/mono]
#                     [--min-lmwt 9] [--max-lmwt 13] [--wip-grid "0.5 1.0"] [--beam 11]
#                     [--num-leaves 2000] [--tri-totgauss 10000]
# Each grid setting is a decoding pass over dev (about 2.5 min at beam 13 on one core): the default
# grid is small.
# Stages: 1 filterbank features + CMVN of copies of data/train and data/dev (data/gmm/<set>); 2 dict,
#         lang dir and G.fst; 3 steps/train_mono.sh; 4 HCLG and decode dev; 5 <dir>/RESULTS.md;
#         6 align train with <dir> (<dir>_ali), steps/train_deltas.sh into exp/tri1 (Kaldi's
#         librispeech tri1 sizes: 2000 leaves, 10000 Gaussians); 7 its HCLG and decode dev;
#         8 exp/tri1/RESULTS.md.
set -euo pipefail
stage=1
stop_stage=100
totgauss=1000
boost_silence=1.25  # Kaldi's librispeech/wsj monophone setting
seed=0
dir=exp/mono
lm=data/lang/lm_3gram.arpa
min_lmwt=9
max_lmwt=13
wip_grid="0.5 1.0"
beam=11
num_leaves=2000
tri_totgauss=10000
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
exp=$dir

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  mkdir -p data/gmm
  for s in train dev; do
    [ -d data/$s ] || { echo "$0: data/$s not found (run ./run.sh --stop-stage 1)" >&2; exit 1; }
    rm -rf data/gmm/$s
    utils/copy_data_dir.sh data/$s data/gmm/$s
    rm -f data/gmm/$s/feats.scp data/gmm/$s/cmvn.scp
    steps/make_fbank.sh --nj 2 --cmd "$train_cmd" --fbank-config conf/fbank.conf data/gmm/$s exp/make_fbank_gmm/$s fbank_gmm
    steps/compute_cmvn_stats.sh data/gmm/$s exp/make_fbank_gmm/$s fbank_gmm
  done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  [ -f data/lang/lexicon.txt ] && [ -f $lm ] || { echo "$0: run ./run.sh --stage 4 --stop-stage 4 first" >&2; exit 1; }
  d=data/gmm/dict; mkdir -p $d
  { echo "<UNK> SPN"; tr '\t' ' ' < data/lang/lexicon.txt; } > $d/lexicon.txt
  printf 'SIL\nSPN\n' > $d/silence_phones.txt
  echo SIL > $d/optional_silence.txt
  # one line per base phone: its stress variants share a root (Kaldi's librispeech dict)
  cut -d' ' -f2- $d/lexicon.txt | tr ' ' '\n' | grep -v '^SPN$' | grep . | LC_ALL=C sort -u |
    awk '{b = $1; sub(/[0-9]+$/, "", b); s[b] = s[b] " " $1} END {for (b in s) print substr(s[b], 2)}' |
    LC_ALL=C sort > $d/nonsilence_phones.txt
  utils/prepare_lang.sh --position-dependent-phones false $d "<UNK>" data/gmm/local/lang data/gmm/lang
  utils/format_lm.sh data/gmm/lang $lm $d/lexicon.txt data/gmm/lang_test
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  steps/train_mono.sh --cmd "$train_cmd" --totgauss "$totgauss" --boost-silence "$boost_silence" --seed "$seed" \
    data/gmm/train data/gmm/lang $exp
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  utils/mkgraph.sh data/gmm/lang_test $exp $exp/graph
  steps/decode.sh --cmd "$decode_cmd" --beam "$beam" --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" --wip-grid "$wip_grid" \
    $exp/graph data/gmm/dev $exp/decode_dev
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  opts=""
  [ "$totgauss" = 1000 ] || opts+=" --totgauss $totgauss"
  [ "$boost_silence" = 1.25 ] || opts+=" --boost-silence $boost_silence"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  [ "$dir" = exp/mono ] || opts+=" --dir $dir"
  [ "$min_lmwt $max_lmwt $wip_grid $beam" = "9 13 0.5 1.0 11" ] || opts+=" --min-lmwt $min_lmwt --max-lmwt $max_lmwt --wip-grid \"$wip_grid\" --beam $beam"
  utils/write_results.sh $exp/RESULTS.md "speechocean762: monophone HMM-GMM" "cd egs/speechocean762/s5 && ./run_gmm.sh$opts" \
    "Data as RESULTS.md (run.sh's data/train and data/dev, no speed perturbation). Monophones of the corpus lexicon (stress variants share a root), SIL/SPN silences; 40 log-mel bins -> 13 cepstra + deltas, speaker CMVN; decoded with the 3-gram LM (beam $beam), best of LM weights $min_lmwt-$max_lmwt x penalties $wip_grid (scoring/best_wer)." \
    $exp/decode_dev
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  steps/align_si.sh --cmd "$train_cmd" --boost-silence "$boost_silence" data/gmm/train data/gmm/lang $exp ${exp}_ali
  steps/train_deltas.sh --cmd "$train_cmd" --boost-silence "$boost_silence" --seed "$seed" \
    "$num_leaves" "$tri_totgauss" data/gmm/train data/gmm/lang ${exp}_ali exp/tri1
fi
if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  utils/mkgraph.sh data/gmm/lang_test exp/tri1 exp/tri1/graph
  steps/decode.sh --cmd "$decode_cmd" --beam "$beam" --min-lmwt "$min_lmwt" --max-lmwt "$max_lmwt" --wip-grid "$wip_grid" \
    exp/tri1/graph data/gmm/dev exp/tri1/decode_dev
fi
if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  opts=""
  [ "$num_leaves $tri_totgauss" = "2000 10000" ] || opts+=" --num-leaves $num_leaves --tri-totgauss $tri_totgauss"
  [ "$boost_silence" = 1.25 ] || opts+=" --boost-silence $boost_silence"
  [ "$seed" = 0 ] || opts+=" --seed $seed"
  [ "$min_lmwt $max_lmwt $wip_grid $beam" = "9 13 0.5 1.0 11" ] || opts+=" --min-lmwt $min_lmwt --max-lmwt $max_lmwt --wip-grid \"$wip_grid\" --beam $beam"
  utils/write_results.sh exp/tri1/RESULTS.md "speechocean762: triphone HMM-GMM (tri1)" "cd egs/speechocean762/s5 && ./run_gmm.sh$opts" \
    "Data and features as exp/mono (13 cepstra + deltas, speaker CMVN). A decision tree on ${exp}_ali's alignments (phone windows of 3, questions clustered from the data plus the lang dir's extra questions; $(sed -n 's/.*tree: //p' exp/tri1/log/train.log)), $tri_totgauss Gaussians targeted, 35 EM passes realigning on 10, 20 and 30; decoded with the 3-gram LM (beam $beam), best of LM weights $min_lmwt-$max_lmwt x penalties $wip_grid (scoring/best_wer)." \
    exp/tri1/decode_dev
fi
