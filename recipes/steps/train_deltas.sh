#!/usr/bin/env bash
# Train a triphone HMM-GMM system on an alignment dir (as Kaldi's steps/train_deltas.sh): tree
# statistics of the aligned frames per phone window and HMM state, phone questions clustered from
# them (plus the lang dir's extra questions), a decision tree grown to <num-leaves> leaves (splits
# that gain less than --thresh are not made; leaves of a root that cost less than --cluster-thresh
# to merge are merged), one Gaussian per leaf, the alignments converted to the new tree, then EM
# passes that realign on --realign-iters and split Gaussians towards <tot-gauss>. The features are
# those of the alignment dir's model (its cmvn_opts, delta_opts, dct_opts).
# Usage: steps/train_deltas.sh [options] <num-leaves> <tot-gauss> <data-dir> <lang-dir> <ali-dir> <exp-dir>
#  e.g.: steps/train_deltas.sh 2000 10000 data/train data/lang exp/mono_ali exp/tri1
# Options:
#   --cmd CMD              job runner (default utils/run.pl)
#   --nj N                 accepted for Kaldi's signature: training runs as one process
#   --num-iters N          training passes (default 35)
#   --boost-silence B      factor on silence weights while aligning (default 1.0)
#   --realign-iters "..."  passes that start with a realignment (default "10 20 30")
#   --thresh G             smallest log-likelihood gain of a split (default 300)
#   --cluster-thresh G     merging threshold after splitting (default -1: the last split's gain; 0: none)
#   --beam B --retry-beam B  alignment beams (default 10 and 40)
#   --seed N               seed of the split Gaussians' perturbation (default 0; runs repeat exactly)
# Writes <exp-dir>/{final.mdl,tree,ali.1.gz,questions.int,cmvn_opts,delta_opts,dct_opts,num_jobs,phones.txt,log/train.log}.
set -euo pipefail
cmd=utils/run.pl
nj=1
num_iters=35
boost_silence=1.0
realign_iters="10 20 30"
thresh=300
cluster_thresh=-1
beam=10
retry_beam=40
seed=0
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 6 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
numleaves=$1; totgauss=$2; data=$3; lang=$4; alidir=$5; dir=$6
utils/validate_data_dir.sh --no-wav "$data"
for f in "$alidir/final.mdl" "$alidir/ali.1.gz" "$lang/phones/roots.int" "$lang/phones/sets.int"; do
  [ -f "$f" ] || { echo "$0: no such file $f" >&2; exit 1; }
done
mkdir -p "$dir/log"
[ "$nj" = 1 ] || echo "$0: note: --nj $nj: training runs as one process" >&2
$cmd "$dir/log/train_deltas.log" asr train-deltas --log-file /dev/null --num-iters "$num_iters" \
  --boost-silence "$boost_silence" --realign-iters "$realign_iters" --thresh "$thresh" \
  --cluster-thresh "$cluster_thresh" --beam "$beam" --retry-beam "$retry_beam" --seed "$seed" \
  "$numleaves" "$totgauss" "$data" "$lang" "$alidir" "$dir"
tail -n 1 "$dir/log/train.log" | sed 's/^/'"${0##*/}"': /'
