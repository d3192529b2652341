#!/usr/bin/env bash
# Speed-perturbed copy of a data dir: ids prefixed sp<factor>-, wav.scp entries become sox pipes (as Kaldi's).
# Usage: utils/perturb_data_dir_speed.sh <warping-factor> <srcdir> <destdir>
# A thin wrapper: the work is done by `asr perturb-data-dir-speed` (asr/datadir.py); run it with --help for all options.
set -euo pipefail
asr=$(command -v asr || true)
if [ -z "$asr" ]; then  # not on PATH (path.sh not sourced): use the virtualenv of the checkout holding this script
  asr=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi
exec "$asr" perturb-data-dir-speed "$@"
