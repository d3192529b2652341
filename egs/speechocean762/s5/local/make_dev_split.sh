#!/usr/bin/env bash
# Splits <src> into a speaker-disjoint <dev> (the speakers in local/dev_speakers.txt: 13 of the 125
# training speakers, every 10th in sorted order, 6 female and 7 male) and <train> (the others).
set -euo pipefail
[ $# -eq 3 ] || { echo "Usage: $0 <src-dir> <train-dir> <dev-dir>"; exit 1; }
src=$1; train=$2; dev=$3
spk_list=local/dev_speakers.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cut -d' ' -f1 "$src/spk2utt" | LC_ALL=C sort | LC_ALL=C comm -23 - <(LC_ALL=C sort "$spk_list") > "$tmp"
utils/subset_data_dir.sh --spk-list "$spk_list" "$src" "$dev"
utils/subset_data_dir.sh --spk-list "$tmp" "$src" "$train"
