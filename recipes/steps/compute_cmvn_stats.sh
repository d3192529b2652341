#!/usr/bin/env bash
# Compute CMVN statistics of a data dir's features (as Kaldi's steps/compute_cmvn_stats.sh).
# Usage: steps/compute_cmvn_stats.sh [--fake] [--global] <data-dir> [<log-dir> [<cmvn-dir>]]
#  e.g.: steps/compute_cmvn_stats.sh data/train exp/make_fbank/train fbank
# <log-dir> defaults to <data-dir>/log, <cmvn-dir> to <data-dir>/data.
# Options:
#   --fake    statistics that normalise nothing (mean 0, variance 1), as Kaldi's --fake
#   --global  one matrix over all utterances: <cmvn-dir>/global_cmvn_<name>.stats (Kaldi binary matrix,
#             readable by apply-cmvn) instead of per-speaker statistics
# Per speaker (default): <cmvn-dir>/cmvn_<name>.{ark,scp}, and <data-dir>/cmvn.scp keyed by speaker.
set -euo pipefail

fake=false
global=false
echo "$0 $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --fake) fake=true; shift ;;
    --global) global=true; shift ;;
    --help|-h) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 0 ;;
    --*) echo "$0: invalid option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
data=$1
logdir=${2:-$data/log}
cmvndir=${3:-$data/data}
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../utils" && pwd)
. "$utils/find_asr.sh"

# Validate first; feats.scp is required here (audio and text are not).
"$utils/validate_data_dir.sh" --no-text --no-wav "$data"

name=$(basename "$data")
mkdir -p "$cmvndir" "$logdir"
cmvndir=$(cd "$cmvndir" && pwd)  # absolute: cmvn.scp must work from any directory
fake_opt=()
$fake && fake_opt=(--fake)

if $global; then
  "$asr" compute-cmvn-stats "${fake_opt[@]}" --log-file "$logdir/cmvn_${name}.log" \
    "$data/feats.scp" "$cmvndir/global_cmvn_${name}.stats" \
    || { echo "$0: error computing CMVN stats; see $logdir/cmvn_${name}.log" >&2; exit 1; }
  echo "Succeeded creating global CMVN stats for $name: $cmvndir/global_cmvn_${name}.stats"
  exit 0
fi

"$asr" compute-cmvn-stats "${fake_opt[@]}" --log-file "$logdir/cmvn_${name}.log" --spk2utt "$data/spk2utt" \
  "$data/feats.scp" "ark,scp:$cmvndir/cmvn_${name}.ark,$cmvndir/cmvn_${name}.scp" \
  || { echo "$0: error computing CMVN stats; see $logdir/cmvn_${name}.log" >&2; exit 1; }
LC_ALL=C sort -k1,1 "$cmvndir/cmvn_${name}.scp" > "$data/.cmvn.scp.tmp"
mv "$data/.cmvn.scp.tmp" "$data/cmvn.scp"

nc=$(wc -l < "$data/cmvn.scp")
ns=$(wc -l < "$data/spk2utt")
if [ "$nc" -ne "$ns" ]; then
  echo "$0: warning: $ns speakers but $nc CMVN statistics; see $logdir/cmvn_${name}.log"
fi
echo "Succeeded creating CMVN stats for $name"
