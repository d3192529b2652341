# Command-line option parsing for recipe scripts (Kaldi's utils/parse_options.sh semantics).
# Sourced, not run:  . utils/parse_options.sh   (after the script has set its defaults)
#
# - `--foo-bar VALUE` or `--foo-bar=VALUE` sets the shell variable `foo_bar`, which must
#   already exist (the script's default declares the option); otherwise "invalid option".
# - A variable whose default is `true` or `false` only accepts `true` or `false`.
# - `--config FILE` first sources FILE, a file of `name=value` lines, so options given on
#   the command line win over the file whatever their order.  Every name in FILE must be
#   an option of the script.  When the script itself declares a variable `config`,
#   `--config` is an ordinary option instead (e.g. steps/train.sh passes a YAML file on).
# - `--help` / `-h` prints $help_message (or, when the script has none, its leading
#   comment block) to stderr and exits 0, as Kaldi's does.
# - Parsing stops at the first argument that is not an option (or after `--`); the
#   positional arguments are left in "$@".
# Works under `set -euo pipefail`.  Helper variables are named _po_* and unset at the end.

_po_usage() {
  if [ -n "${help_message:-}" ]; then
    printf '%b\n' "$help_message" 1>&2
  else
    # The script's header comments (after the shebang) are its usage text.
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" 1>&2
  fi
}

# Pass 1: --config files, in command-line order, before any other option.
_po_own_config=false
[ -n "${config+set}" ] && _po_own_config=true
if ! $_po_own_config; then
  _po_args=("$@")
  _po_i=0
  while [ $_po_i -lt ${#_po_args[@]} ]; do
    _po_arg=${_po_args[$_po_i]}
    case "$_po_arg" in
      --) break ;;
      --config=*|--config)
        if [ "$_po_arg" = --config ]; then
          if [ $((_po_i + 1)) -ge ${#_po_args[@]} ]; then
            echo "$0: option --config needs a value" 1>&2; exit 1
          fi
          _po_file=${_po_args[$((_po_i + 1))]}
        else
          _po_file=${_po_arg#--config=}
        fi
        if [ ! -r "$_po_file" ]; then
          echo "$0: cannot read config file '$_po_file'" 1>&2; exit 1
        fi
        _po_lineno=0
        while IFS= read -r _po_line || [ -n "$_po_line" ]; do
          _po_lineno=$((_po_lineno + 1))
          _po_line=${_po_line%%#*}
          [[ "$_po_line" =~ ^[[:space:]]*$ ]] && continue
          if ! [[ "$_po_line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)= ]]; then
            echo "$0: $_po_file:$_po_lineno: expected name=value, got '$_po_line'" 1>&2; exit 1
          fi
          _po_name=${BASH_REMATCH[1]}
          if [ -z "${!_po_name+set}" ]; then
            echo "$0: $_po_file:$_po_lineno: invalid option '$_po_name' (the script has no such variable)" 1>&2
            exit 1
          fi
        done < "$_po_file"
        # shellcheck disable=SC1090
        . "$_po_file"
        ;;
      --*=*|-h|--help) ;;
      --*) _po_i=$((_po_i + 1)) ;;  # skip the option's value
      *) break ;;
    esac
    _po_i=$((_po_i + 1))
  done
fi

# Pass 2: every option, in order; stop at the first positional argument.
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) _po_usage; exit 0 ;;
    --) shift; break ;;
    --*=*) _po_opt=${1%%=*}; _po_value=${1#*=}; _po_nshift=1 ;;
    --*)
      _po_opt=$1
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" 1>&2; exit 1
      fi
      _po_value=$2; _po_nshift=2 ;;
    *) break ;;
  esac
  _po_name=${_po_opt#--}
  _po_name=${_po_name//-/_}
  if [ "$_po_name" = config ] && ! $_po_own_config; then
    shift $_po_nshift; continue  # sourced in pass 1
  fi
  if ! [[ "$_po_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_name+set}" ]; then
    echo "$0: invalid option $_po_opt" 1>&2; exit 1
  fi
  if [[ "${!_po_name}" == true || "${!_po_name}" == false ]] && [[ "$_po_value" != true && "$_po_value" != false ]]; then
    echo "$0: option $_po_opt expects true or false, got '$_po_value'" 1>&2; exit 1
  fi
  printf -v "$_po_name" '%s' "$_po_value"
  shift $_po_nshift
done

unset -v _po_own_config _po_args _po_i _po_arg _po_file _po_lineno _po_line _po_name _po_opt _po_value _po_nshift
unset -f _po_usage
true
