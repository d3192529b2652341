#!/usr/bin/env bash
# The yesno "grammar" as a word bigram ARPA file: any sequence of YES and NO, both equally likely at
# every position (what Kaldi's yesno task.arpabo is). Not estimated from the training text: sorted by
# name, every training file starts with NO and every test file with YES.
# Usage: local/prepare_lm.sh <out.arpa>
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 <out.arpa>"; exit 1; }
mkdir -p "$(dirname "$1")"
cat > "$1.tmp" <<'ARPA'
\data\
ngram 1=4
ngram 2=8

\1-grams:
-1.0	</s>
-99	<s>	0
-0.30103	YES	0
-0.30103	NO	0

\2-grams:
-0.30103	<s> YES
-0.30103	<s> NO
-0.3467875	YES YES
-0.3467875	YES NO
-1.0	YES </s>
-0.3467875	NO YES
-0.3467875	NO NO
-1.0	NO </s>

\end\
ARPA
mv "$1.tmp" "$1"
