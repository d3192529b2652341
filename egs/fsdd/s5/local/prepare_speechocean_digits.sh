#!/usr/bin/env bash
# More voices for FSDD training: the speechocean762 utterances that are digit strings and nothing
# else (e.g. "ZERO THREE FIVE ONE"; in the train half kept in shared/: 77 utterances, 297 digits, 26
# speakers, Mandarin-L1 adults and children, 16 kHz; `asr train` resamples them to the 8 kHz of
# conf/fbank.conf). Speaker ids get the prefix "so" so that they cannot clash with FSDD's.
# speechocean762: OpenSLR 101, CC BY 4.0 (Zhang et al., 2021).
# Usage: local/prepare_speechocean_digits.sh <speechocean762-corpus-dir> <data-dir>
set -euo pipefail
[ $# -eq 2 ] || { echo "Usage: $0 <speechocean762-corpus-dir> <data-dir>" >&2; exit 1; }
root=$(cd "$1" && pwd); out=$2
[ -f "$root/train/text" ] || { echo "$0: $root/train/text not found (the corpus as kept in shared/corpora)" >&2; exit 1; }
mkdir -p "$out"
awk -v root="$root" -v out="$out" '
  BEGIN { while ((getline l < (root "/train/wav.scp")) > 0) { split(l, f, /[ \t]+/); wav[f[1]] = f[2] }
          while ((getline l < (root "/train/utt2spk")) > 0) { split(l, f, /[ \t]+/); spk[f[1]] = f[2] } }
  { ok = NF > 1
    for (i = 2; i <= NF; i++) if ($i !~ /^(ZERO|ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE)$/) ok = 0
    if (!ok || !($1 in wav) || !($1 in spk)) next
    s = "so" spk[$1]; u = s "-" $1; p = wav[$1]
    if (p !~ /^\//) p = root "/" p
    t = $2; for (i = 3; i <= NF; i++) t = t " " $i
    print u, p > (out "/wav.scp"); print u, t > (out "/text"); print u, s > (out "/utt2spk") }
' "$root/train/text"
for f in wav.scp text utt2spk; do LC_ALL=C sort -o "$out/$f" "$out/$f"; done
awk '{ u[$2] = u[$2] " " $1 } END { for (s in u) print s u[s] }' "$out/utt2spk" | LC_ALL=C sort > "$out/spk2utt"
echo "$0: $(wc -l < "$out/text") digit-string utterances of $(wc -l < "$out/spk2utt") speakers in $out"
