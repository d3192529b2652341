#!/usr/bin/env bash
# Copy a data dir, optionally prefixing/suffixing utterance and speaker ids (as Kaldi's utils/copy_data_dir.sh).
# Usage: utils/copy_data_dir.sh [--utt-prefix P] [--spk-prefix P] [--utt-suffix S] [--spk-suffix S] [--validate true|false] <srcdir> <destdir>
# A thin wrapper: the work is done by `asr copy-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/find_asr.sh"
kaldi_bools "validate" "$@"
exec "$asr" copy-data-dir "${asr_args[@]}"
