# Sourced by the steps/ and utils/ scripts: sets $asr to the `asr` command, from PATH (path.sh) or,
# when path.sh was not sourced, from the virtualenv of the checkout that holds these scripts.
asr=$(command -v asr || true)
if [ -z "$asr" ]; then
  asr=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)/.venv/bin/asr
  [ -x "$asr" ] || { echo "$0: cannot find the 'asr' command (source path.sh or install the toolkit)" >&2; exit 1; }
fi

# Kaldi's scripts spell booleans "--opt true|false"; the asr command's are flags "--opt" / "--no-opt".
# kaldi_bools "skip-fix validate" "$@" puts "$@" into the array asr_args with those options translated.
kaldi_bools() {
  local names=" $1 " a n v
  shift
  asr_args=()
  while [ $# -gt 0 ]; do
    a=$1
    n=${a#--}
    v=
    if [[ $a == --*=* ]]; then v=${n#*=}; n=${n%%=*}; fi
    if [[ $a == --* && $names == *" $n "* ]]; then
      if [ -z "$v" ] && [ $# -gt 1 ]; then v=$2; shift; fi
      case $v in
        true) asr_args+=("--$n") ;;
        false) asr_args+=("--no-$n") ;;
        *) echo "$0: --$n takes true or false, got '$v'" >&2; exit 1 ;;
      esac
    else
      asr_args+=("$a")
    fi
    shift
  done
}
