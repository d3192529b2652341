#!/usr/bin/env bash
# Data prep for FSDD: <corpus-dir>/recordings/{digit}_{speaker}_{index}.wav.
# Official split: index 0-4 is test, 5-49 train; we carve a dev set (index 5-9) out of
# the official train part for the learning-rate schedule. One speaker is held out of training
# entirely and becomes a second test set, test_<speaker>, to measure unseen-speaker WER.
# Usage: local/prepare_data.sh <corpus-dir> <heldout-speaker> <data-dir>
set -euo pipefail
[ $# -eq 3 ] || { echo "Usage: $0 <corpus-dir> <heldout-speaker> <data-dir>"; exit 1; }
rec=$(cd "$1" && pwd)/recordings; heldout=$2; data=$3
[ -d "$rec" ] || { echo "$0: $rec not found (use --corpus-dir, or --download true)"; exit 1; }
mkdir -p "$data"
words=(ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE)
tmp=$(mktemp -d)
for f in "$rec"/*.wav; do
  b=$(basename "$f" .wav)
  IFS=_ read -r digit spk idx <<< "$b"
  [[ "$digit" =~ ^[0-9]$ && "$idx" =~ ^[0-9]+$ ]] || { echo "$0: skipping unexpected file $f" >&2; continue; }
  if [ "$spk" = "$heldout" ]; then set=test_$heldout
  elif [ "$idx" -le 4 ]; then set=test
  elif [ "$idx" -le 9 ]; then set=dev
  else set=train; fi
  utt=$(printf "%s_%s_%02d" "$spk" "$digit" "$idx")
  echo "$utt $f" >> "$tmp/$set.wav"
  echo "$utt ${words[$digit]}" >> "$tmp/$set.text"
  echo "$utt $spk" >> "$tmp/$set.utt2spk"
done
[ -f "$tmp/test_$heldout.wav" ] || { echo "$0: no recordings of held-out speaker '$heldout'"; exit 1; }
for set in train dev test "test_$heldout"; do
  mkdir -p "$data/$set"
  LC_ALL=C sort "$tmp/$set.wav" > "$data/$set/wav.scp"
  LC_ALL=C sort "$tmp/$set.text" > "$data/$set/text"
  LC_ALL=C sort "$tmp/$set.utt2spk" > "$data/$set/utt2spk"
  awk '{ u[$2] = u[$2] " " $1 } END { for (s in u) print s u[s] }' "$data/$set/utt2spk" |
    LC_ALL=C sort > "$data/$set/spk2utt"
done
rm -r "$tmp"
