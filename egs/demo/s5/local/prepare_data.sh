#!/usr/bin/env bash
# Data prep for the demo corpus shipped in data/demo: <corpus-dir>/{train,test}/<utt>.flac and a
# `text` file per part; the utterance id starts with the speaker id (s01-000 is speaker s01).
# Writes Kaldi data dirs <data-dir>/{train,test} with absolute audio paths.
# Usage: local/prepare_data.sh <corpus-dir> <data-dir>
set -euo pipefail
[ $# -eq 2 ] || { echo "Usage: $0 <corpus-dir> <data-dir>"; exit 1; }
[ -d "$1" ] || { echo "$0: corpus dir $1 not found (use --corpus-dir)"; exit 1; }
corpus=$(cd "$1" && pwd); data=$2
for part in train test; do
  src=$corpus/$part
  [ -f "$src/text" ] || { echo "$0: $src/text not found"; exit 1; }
  dst=$data/$part
  mkdir -p "$dst"
  LC_ALL=C sort "$src/text" > "$dst/text"
  awk -v dir="$src" '{ print $1, dir "/" $1 ".flac" }' "$dst/text" > "$dst/wav.scp"
  awk '{ spk = $1; sub(/-.*/, "", spk); print $1, spk }' "$dst/text" > "$dst/utt2spk"
  awk '{ u[$2] = u[$2] " " $1 } END { for (s in u) print s u[s] }' "$dst/utt2spk" | LC_ALL=C sort > "$dst/spk2utt"
  while read -r _ f; do
    [ -f "$f" ] || { echo "$0: missing audio file $f"; exit 1; }
  done < "$dst/wav.scp"
  echo "$0: $dst: $(wc -l < "$dst/text") utterances"
done
