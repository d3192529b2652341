#!/usr/bin/env bash
# Fine-tune a trained model on new data (e.g. ~100 utterances of one new speaker) with `asr train`:
# frontend, CMVN statistics, units and weights come from the init model, with a fresh optimizer and
# a constant, small learning rate (asr/train/init.py says what the init model decides).
# Usage: steps/finetune.sh [options] <init-model> <train-dir> <dev-dir|""> <exp-dir> [--section.field value ...]
#  e.g.: steps/finetune.sh exp/ctc data/adapt "" exp/ctc_adapt
# Options:
#   --epochs N              passes over the new data (default 10; with a dev dir, at most this many)
#   --lr X                  Adam learning rate, constant (default 0.001; measured: egs/fsdd/s5/RESULTS_adapt.md)
#   --freeze-layers K       keep the lowest K recurrent layers fixed (default 0)
#   --units keep|extend|new the init model's units; theirs plus the new transcripts'; or new ones
#                           (--data.units ...) with a fresh output layer (default keep)
#   --early-stop N          with a dev dir: stop after N epochs without a better dev loss, and end
#                           at the best epoch (default 2)
#   --max-utts N            utterances per batch at most (default 8: enough updates from little data)
#   --cmd CMD               job runner (default utils/run.pl)
# Everything after <exp-dir> is passed to `asr train` as overrides (e.g. --frontend.speed_perturb "[0.9,1.1]").
# Writes <exp-dir>/{config.yaml,epoch-N.pt,final.pt,history.json}, as steps/train.sh does.
set -euo pipefail
epochs=10
lr=0.001
freeze_layers=0
units=keep
early_stop=2
max_utts=8
cmd=utils/run.pl
. ./path.sh 2>/dev/null || true
. utils/parse_options.sh
if [ $# -lt 4 ]; then
  echo "Usage: $0 [--epochs N] [--lr X] [--freeze-layers K] [--units keep|extend|new] <init-model> <train-dir> <dev-dir|\"\"> <exp-dir> [overrides]" >&2
  exit 1
fi
init=$1; train=$2; dev=$3; exp=$4; shift 4
[ -e "$init" ] || { echo "$0: init model $init not found (a checkpoint or an experiment dir)" >&2; exit 1; }
case $units in keep|extend|new) ;; *) echo "$0: --units $units: keep, extend or new" >&2; exit 1 ;; esac
stop_opts=()
[ -z "$dev" ] || stop_opts=(--train.early_stop "$early_stop")
steps/train.sh --cmd "$cmd" "$train" "$dev" "$exp" \
  --train.init_from "$init" --train.init_units "$units" --train.freeze_layers "$freeze_layers" \
  --train.epochs "$epochs" --optim.lr "$lr" --optim.schedule constant --optim.warmup_steps 0 \
  --data.max_utts "$max_utts" --train.average_last 1 "${stop_opts[@]}" "$@"
