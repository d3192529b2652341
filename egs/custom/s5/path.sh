# Puts the toolkit's `asr` command and the shared utils on PATH (sourced by run.sh and steps).
ASR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
[ -x "$ASR_ROOT/.venv/bin/asr" ] && export PATH="$ASR_ROOT/.venv/bin:$PATH"
export PATH="$PWD/utils:$PATH"
export LC_ALL=C
export PYTHONUNBUFFERED=1
