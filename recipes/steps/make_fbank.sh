#!/usr/bin/env bash
# Compute log-mel filterbank features of a data dir into Kaldi ark/scp files (as Kaldi's steps/make_fbank.sh).
# Usage: steps/make_fbank.sh [options] <data-dir> [<log-dir> [<fbank-dir>]]
#  e.g.: steps/make_fbank.sh --nj 4 --cmd utils/run.pl --fbank-config conf/fbank.conf data/train exp/make_fbank/train fbank
# <log-dir> defaults to <data-dir>/log, <fbank-dir> to <data-dir>/data.
# Options:
#   --nj N                            parallel jobs, one part of utils/split_data.sh each (default 4)
#   --cmd CMD                         job runner, e.g. utils/run.pl (default: run.pl next to this script)
#   --fbank-config FILE               Kaldi fbank option file (default conf/fbank.conf; Kaldi defaults if absent)
#   --compress true|false             store compressed matrices (default true)
#   --write-utt2num-frames true|false write <data-dir>/utt2num_frames (default true)
#   --skip-bad true|false             log and skip utterances with unreadable audio (default false)
# Writes <fbank-dir>/raw_fbank_<name>.<n>.{ark,scp}, then <data-dir>/feats.scp and <data-dir>/utt2num_frames.
set -euo pipefail

nj=4
cmd=
fbank_config=conf/fbank.conf
compress=true
write_utt2num_frames=true
skip_bad=false

echo "$0 $*"
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../utils" && pwd)
. "$utils/parse_options.sh"

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
data=$1
logdir=${2:-$data/log}
fbankdir=${3:-$data/data}
[ -n "$cmd" ] || cmd="$utils/run.pl"
. "$utils/find_asr.sh"

# Validate first: a broken data dir fails here with the file and line, not in N job logs.
"$utils/validate_data_dir.sh" --no-text --no-feats "$data"

config_opt=()
if [ -f "$fbank_config" ]; then
  config_opt=(--config "$(readlink -f "$fbank_config")")
elif [ "$fbank_config" != conf/fbank.conf ]; then
  echo "$0: no such fbank config: $fbank_config" >&2; exit 1
else
  echo "$0: $fbank_config not found: using Kaldi's default fbank options"
fi

name=$(basename "$data")
mkdir -p "$fbankdir" "$logdir"
fbankdir=$(cd "$fbankdir" && pwd)  # absolute: feats.scp must work from any directory

if [ -f "$data/feats.scp" ]; then
  mkdir -p "$data/.backup"
  echo "$0: moving $data/feats.scp to $data/.backup"
  mv "$data/feats.scp" "$data/.backup/"
fi

num_spk=$(wc -l < "$data/spk2utt")
if [ "$nj" -gt "$num_spk" ]; then
  echo "$0: only $num_spk speakers: using --nj $num_spk instead of $nj"
  nj=$num_spk
fi
"$utils/split_data.sh" "$data" "$nj"
sdata=$data/split$nj

skip_opt=()
$skip_bad && skip_opt=(--skip-bad)
compress_opt=--no-compress
[ "$compress" = true ] && compress_opt=--compress
$cmd JOB=1:"$nj" "$logdir/make_fbank_${name}.JOB.log" \
  "$asr" compute-fbank "${config_opt[@]}" "${skip_opt[@]}" "$compress_opt" \
    --utt2num-frames "$logdir/utt2num_frames.JOB" \
    "$sdata/JOB" "$fbankdir/raw_fbank_${name}.JOB.ark" "$fbankdir/raw_fbank_${name}.JOB.scp" \
  || {
    # exit status 3 of a job: done, with bad utterances skipped (--skip-bad); anything else is a failure
    if grep -L "^# Ended (code [03])" "$logdir"/make_fbank_${name}.*.log | grep -q .; then
      echo "$0: computing features failed; see $logdir/make_fbank_${name}.*.log" >&2; exit 1
    fi
    echo "$0: WARNING: bad utterances were skipped; they are named in $logdir/make_fbank_${name}.*.log" >&2
  }

# Combine the parts: sorted (C locale), written to a temporary name and renamed.
for n in $(seq "$nj"); do cat "$fbankdir/raw_fbank_${name}.$n.scp"; done | LC_ALL=C sort -k1,1 > "$data/.feats.scp.tmp"
mv "$data/.feats.scp.tmp" "$data/feats.scp"
if $write_utt2num_frames; then
  for n in $(seq "$nj"); do cat "$logdir/utt2num_frames.$n"; done | LC_ALL=C sort -k1,1 > "$data/.utt2num_frames.tmp"
  mv "$data/.utt2num_frames.tmp" "$data/utt2num_frames"
fi
rm -f "$logdir"/utt2num_frames.*

nf=$(wc -l < "$data/feats.scp")
nu=$(wc -l < "$data/utt2spk")
if [ "$nf" -ne "$nu" ]; then
  echo "$0: it seems not all of the feature files were successfully processed ($nf != $nu);"
  echo "consider using utils/fix_data_dir.sh $data"
  if [ "$nf" -lt $((nu - nu / 20)) ]; then
    echo "$0: less than 95% of the features were computed; see $logdir/make_fbank_${name}.*.log" >&2
    exit 1
  fi
fi
echo "Succeeded creating filterbank features for $name"
