#!/usr/bin/env bash
# Train a monophone HMM-GMM system (as Kaldi's steps/train_mono.sh): flat start on the first 10
# utterances, equally spaced alignments, then EM passes that realign on --realign-iters and split
# Gaussians towards --totgauss. Features: feats.scp with the speaker's CMVN (cmvn.scp), a DCT to
# --num-ceps cepstra (MFCC-like, for diagonal Gaussians) and deltas.
# Usage: steps/train_mono.sh [options] <data-dir> <lang-dir> <exp-dir>
#  e.g.: steps/train_mono.sh --totgauss 400 data/train data/lang exp/mono
# Options:
#   --cmd CMD              job runner (default utils/run.pl)
#   --nj N                 accepted for Kaldi's signature: training runs as one process
#   --num-iters N          training passes (default 40)
#   --totgauss N           target number of Gaussians (default 1000)
#   --boost-silence B      factor on silence weights while aligning (default 1.0)
#   --realign-iters "..."  passes that start with a realignment (default Kaldi's)
#   --num-ceps N           cepstra kept (default 13; 0 = the stored features as they are)
#   --norm-vars true|false CMVN also normalises variances (default false)
#   --seed N               seed of the split Gaussians' perturbation (default 0; runs repeat exactly)
# Writes <exp-dir>/{final.mdl,tree,ali.1.gz,cmvn_opts,delta_opts,dct_opts,num_jobs,phones.txt,log/train.log}.
set -euo pipefail
cmd=utils/run.pl
nj=1
num_iters=40
totgauss=1000
boost_silence=1.0
realign_iters=
num_ceps=13
norm_vars=false
seed=0
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 3 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
data=$1; lang=$2; dir=$3
utils/validate_data_dir.sh --no-wav "$data"
mkdir -p "$dir/log"
opts=(--num-iters "$num_iters" --totgauss "$totgauss" --boost-silence "$boost_silence" --num-ceps "$num_ceps" --seed "$seed")
[ -z "$realign_iters" ] || opts+=(--realign-iters "$realign_iters")
[ "$norm_vars" = false ] || opts+=(--norm-vars)
[ "$nj" = 1 ] || echo "$0: note: --nj $nj: training runs as one process" >&2
$cmd "$dir/log/train_mono.log" asr train-mono --log-file /dev/null "${opts[@]}" "$data" "$lang" "$dir"
tail -n 1 "$dir/log/train.log" | sed 's/^/'"${0##*/}"': /'
