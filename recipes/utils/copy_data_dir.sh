#!/usr/bin/env bash
# Copy a data dir, optionally prefixing/suffixing utterance and speaker ids (as Kaldi's utils/copy_data_dir.sh).
# Usage: utils/copy_data_dir.sh [--utt-prefix P] [--spk-prefix P] [--utt-suffix S] [--spk-suffix S] <srcdir> <destdir>
# A thin wrapper: the work is done by `asr copy-data-dir` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" copy-data-dir "$@"
