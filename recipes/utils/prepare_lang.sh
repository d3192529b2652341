#!/usr/bin/env bash
# Make a Kaldi lang dir from a dict dir (as Kaldi's utils/prepare_lang.sh): phones.txt, words.txt,
# topo, L.fst, L_disambig.fst (OpenFst binary), oov.{txt,int} and phones/{silence,nonsilence,
# optional_silence,disambig,context_indep,roots,sets,extra_questions,...}.{txt,int,csl}.
# Usage: utils/prepare_lang.sh [options] <dict-dir> <oov-word> <tmp-dir> <lang-dir>
#  e.g.: utils/prepare_lang.sh --position-dependent-phones false data/local/dict "<SIL>" data/local/lang data/lang
# <dict-dir>: lexicon.txt (or lexiconp.txt), silence_phones.txt, nonsilence_phones.txt,
# optional_silence.txt [, extra_questions.txt]. <tmp-dir> is Kaldi's scratch dir (kept for its
# signature; nothing is left in it).
# Options:
#   --sil-prob P                     probability of the optional silence between words (default 0.5)
#   --num-sil-states N               HMM states per silence phone (default 5)
#   --num-nonsil-states N            HMM states per nonsilence phone (default 3)
#   --share-silence-phones true|false  all silence phones share one tree root (default false)
#   --position-dependent-phones false  phones are position-independent (only false is supported: word-position
#                                    variants _B _I _E _S are not made)
set -euo pipefail
sil_prob=0.5
num_sil_states=5
num_nonsil_states=3
share_silence_phones=false
position_dependent_phones=false
echo "$0 $*"
utils=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
. "$utils/parse_options.sh"
. "$utils/find_asr.sh"
if [ $# -ne 4 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
if [ "$position_dependent_phones" != false ]; then
  echo "$0: --position-dependent-phones $position_dependent_phones: only position-independent phones (false) are made" >&2
  exit 1
fi
mkdir -p "$3"
opts=(--sil-prob "$sil_prob" --num-sil-states "$num_sil_states" --num-nonsil-states "$num_nonsil_states")
[ "$share_silence_phones" = false ] || opts+=(--share-silence-phones)
"$asr" prepare-lang "${opts[@]}" "$1" "$2" "$4"
echo "$0: wrote $4"
