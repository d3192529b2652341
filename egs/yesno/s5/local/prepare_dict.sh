#!/usr/bin/env bash
# The yesno dict dir (Kaldi's egs/yesno/s5 input/): one phone per word, silence SIL.
# Usage: local/prepare_dict.sh <dict-dir>
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 <dict-dir>"; exit 1; }
mkdir -p "$1"
printf '<SIL> SIL\nNO N\nYES Y\n' > "$1/lexicon.txt"
echo SIL > "$1/silence_phones.txt"
echo SIL > "$1/optional_silence.txt"
printf 'N\nY\n' > "$1/nonsilence_phones.txt"
