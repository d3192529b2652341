#!/usr/bin/env bash
# Align a data dir with an HMM-GMM model (as Kaldi's steps/align_si.sh): <ali-dir>/ali.1.gz (gzipped
# Kaldi archive of transition ids; kaldiio.load_ark reads it) and the model, tree and feature
# options beside it. Utterances that do not align are named in the log and left out.
# Usage: steps/align_si.sh [options] <data-dir> <lang-dir> <src-dir> <ali-dir>
#  e.g.: steps/align_si.sh data/train data/lang exp/mono exp/mono_ali
# Options:
#   --cmd CMD              job runner (default utils/run.pl)
#   --nj N                 accepted for Kaldi's signature: alignment runs as one process
#   --boost-silence B      factor on silence weights while aligning (default 1.0)
#   --beam B --retry-beam B  alignment beams (default 6 and 24)
set -euo pipefail
cmd=utils/run.pl
nj=1
boost_silence=1.0
beam=6
retry_beam=24
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 4 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
data=$1; lang=$2; src=$3; dir=$4
utils/validate_data_dir.sh --no-wav "$data"
mkdir -p "$dir/log"
$cmd "$dir/log/align.log" asr align-si --log-file /dev/null --boost-silence "$boost_silence" --beam "$beam" \
  --retry-beam "$retry_beam" "$data" "$lang" "$src" "$dir"
echo "$0: aligned $data with $src into $dir"
