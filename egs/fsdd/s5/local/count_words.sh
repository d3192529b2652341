#!/usr/bin/env bash
# Usage: local/count_words.sh <text>...   (Kaldi text: utt word...; lines may have no words)
# One line per file: how many words it has, and on how many of its recordings.
set -euo pipefail
for f in "$@"; do
  awk -v f="$f" '{ n += NF - 1; if (NF > 1) r++; t++ }
    END { printf "%s: %d words on %d of %d recordings\n", f, n, r, t }' "$f"
done
