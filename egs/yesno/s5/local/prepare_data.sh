#!/usr/bin/env bash
# Data prep for yesno: <corpus-dir>/waves_yesno/*.wav, transcript in the file name (1 = YES, 0 = NO).
# The 60 files sorted by name: the first half train, the second half test (as Kaldi's yesno) (each utterance is its own speaker).
set -euo pipefail
[ $# -eq 2 ] || { echo "Usage: $0 <corpus-dir> <data-dir>"; exit 1; }
corpus=$(cd "$1" && pwd)/waves_yesno; data=$2
[ -d "$corpus" ] || { echo "$0: $corpus not found (use --corpus-dir, or stage 0 to download)"; exit 1; }
ls "$corpus" | grep -E '^[01_]+\.wav$' | LC_ALL=C sort > "$data.all.list" || true
mkdir -p "$data"
n=$(wc -l < "$data.all.list")
[ "$n" -gt 0 ] || { echo "$0: no yesno wav files in $corpus"; exit 1; }
for set in train test; do
  mkdir -p "$data/$set"
  if [ $set = train ]; then head -n 30 "$data.all.list"; else tail -n +31 "$data.all.list"; fi |
  while read -r f; do
    utt=${f%.wav}
    words=$(echo "$utt" | tr '_' '\n' | sed -e 's/^1$/YES/' -e 's/^0$/NO/' | tr '\n' ' ' | sed 's/ $//')
    echo "$utt $corpus/$f" >&3
    echo "$utt $words" >&4
    echo "$utt $utt" >&5
  done 3> "$data/$set/wav.scp" 4> "$data/$set/text" 5> "$data/$set/utt2spk"
  awk '{ u[$2] = u[$2] " " $1 } END { for (s in u) print s u[s] }' "$data/$set/utt2spk" |
    LC_ALL=C sort > "$data/$set/spk2utt"
done
rm "$data.all.list"
