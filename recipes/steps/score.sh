#!/usr/bin/env bash
# Score a decode dir against its data dir's transcripts (Kaldi's steps/score_kaldi.sh, one hypothesis).
# Usage: steps/score.sh [--cmd utils/run.pl] [--cer true|false] [--mode all|present|strict] <data-dir> <decode-dir>
# Reads <data-dir>/text and <decode-dir>/text.  Writes <decode-dir>/wer (%WER, %SER and "Scored"
# lines, as compute-wer), <decode-dir>/per_utt (alignments), and with --cer true <decode-dir>/cer
# (%CER lines); the log is <decode-dir>/log/score.log.
# --mode: reference utterances without hypothesis are all deletions (all, default), skipped
# (present) or an error (strict); see `asr score --help`.
set -euo pipefail
cmd=utils/run.pl
cer=false
mode=all
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -ne 2 ]; then
  echo "Usage: $0 [--cmd utils/run.pl] [--cer true|false] [--mode all|present|strict] <data-dir> <decode-dir>" >&2
  exit 1
fi
data=$1; dir=$2
for f in "$data/text" "$dir/text"; do
  [ -f "$f" ] || { echo "$0: no such file $f" >&2; exit 1; }
done
case "$mode" in all|present|strict) ;; *) echo "$0: --mode must be all, present or strict, got '$mode'" >&2; exit 1 ;; esac
mkdir -p "$dir/log"
rm -f "$dir/wer" "$dir/cer" "$dir/per_utt"  # never leave an old score next to a new text
score=(asr score --mode "$mode" --output "$dir/wer" --per-utt "$dir/per_utt" "$data/text" "$dir/text")
if [ "$cer" = true ]; then
  $cmd "$dir/log/score.log" "${score[@]}" '&&' asr score --cer --mode "$mode" --output "$dir/cer" "$data/text" "$dir/text"
else
  $cmd "$dir/log/score.log" "${score[@]}"
fi
grep -H '^%WER' "$dir/wer" | utils/best_wer.sh
[ "$cer" = true ] && grep -H '^%CER' "$dir/cer" | utils/best_wer.sh
true
