#!/usr/bin/env bash
# Split a data dir into <data-dir>/split<N>/{1..N}, one speaker per part (--per-utt: split<N>utt/), as Kaldi's.
# Usage: utils/split_data.sh [--per-utt] <data-dir> <num-to-split>
# A thin wrapper: the work is done by `asr split-data` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
exec "$asr" split-data "$@"
