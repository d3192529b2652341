#!/usr/bin/env bash
# speechocean762: LSTM architectures compared at matched size. One table (RESULTS_comparison.md) with
# dev WER (greedy and lexicon + 3-gram LM), parameter count and training time for a deep LSTM, a deep
# LSTMP (Sak et al. 2014: better than the LSTM at equal or fewer parameters), a BLSTM, a BLSTMP and the
# four LSTM ablations of Levy et al. (2018), all on the same data, for the same epochs, with the same seed.
# Usage: ./run_comparison.sh [--stage N] [--stop-stage N] [--systems "lstm lstmp ..."] [--units char]
#                            [--epochs N] [--seed N] [--nj N] [--train-set DIR] [--dev-set DIR]
#                            [--jobs N] [--threads N] [--train-opts "..."] [--proj-opts "..."] [--lstmp-opts "..."]
#                            [--resume true]
# Needs run.sh's stages 1-4 (data/train_sp and data/dev with feats.scp, data/lang/lm_3gram.arpa).
# Stages: 0 check the inputs and that every system is within --tolerance of the reference size,
#         1 train (steps/train.sh, conf/train.yaml + the overrides below, into exp/cmp_<system>),
#         2 decode dev greedy, 3 decode dev with the LM over the weight/penalty grid (tuned on dev),
#         4 RESULTS_comparison.md (utils/results_table.py --update: text around the table is kept).
# Stages 1-3 run per system, as one job of $train_cmd each (run.pl --max-jobs-run N: one after another,
# or --jobs N systems at a time; logs in exp/cmp_log/). A system that fails (e.g. training stopped by
# non-finite gradients) is named, the others still run, and the script then exits with an error
# before stage 4; the failed system's exp dir keeps its checkpoints.
#
# Everything but the recurrent layers is conf/train.yaml's: 40 fbank + speaker CMVN + SpecAugment,
# 3 frames stacked and every 3rd kept, 3 layers, dropout 0.1, Adam with SortaGrad and exponential
# decay, train.seed (all systems draw the same initialisation seed, batch order and augmentation).
# The reference size is that config's 3-layer BLSTM 160: 1,604,189 parameters with the 29 character
# units (the output layer is included in every count). Each other architecture gets the width whose
# count is closest to it (utils/match_model_size.py --solve, bisection over model.hidden with
# build_model's own count; the projected models keep proj = hidden / 2):
#
#   system            cell              dir  hidden  proj  params (char)  vs reference
#   lstm              lstm              uni    270     -     1,601,939      -0.1%
#   lstmp             lstm (LSTMP)      uni    352   176     1,603,213      -0.1%
#   blstm             lstm              bi     160     -     1,604,189      reference
#   blstmp            lstm (LSTMP)      bi     211   106     1,605,557      +0.1%
#   lstm-srnn         lstm-srnn         uni    292     -     1,601,649      -0.2%
#   lstm-srnn-out     lstm-srnn-out     uni    349     -     1,600,543      -0.2%
#   lstm-srnn-hidden  lstm-srnn-hidden  uni    485     -     1,604,409      +0.0%
#   lstm-gates        lstm-gates        uni    551     -     1,601,786      -0.1%
#
# The Levy et al. variants are unidirectional (as in their paper, and so that each removes one
# part from the deep LSTM row above it) with the same 3 layers and no projection; fewer weights
# per cell buy them wider layers at the same count. Unidirectional models run without
# model.delay (CTC may emit late on its own). Stage 0 recounts every system with the units and
# config in use and stops if one is more than --tolerance (10%) from the reference; to re-solve
# after changing conf/train.yaml, e.g.:
#   utils/match_model_size.py --config conf/train.yaml --data.train data/train_sp --target config \
#     --solve --model.cell lstm-srnn --model.bidirectional false --model.proj 0
# Training times are only comparable when the systems train one after another on an otherwise idle
# machine (the default), or all under the same load: --jobs 2 --threads 1 keeps both cores of a
# 2-core machine busy with two one-thread trainings (slowest first), which finishes sooner. On 2
# CPU cores the reference's 13 epochs take about 55 min (RESULTS.md), and the projected models (torch
# has no oneDNN kernel for LSTMP; the uni LSTMP runs on our fused loop) and the deep LSTM run slower
# per step than it, so the full
# comparison at conf/train.yaml's epochs is a night's run; fewer --epochs or a --systems subset
# give a shorter one. Training step time of every system against the reference at matched size:
# tests/bench/matched_size.py.
set -euo pipefail
stage=0
stop_stage=100
systems="lstm lstmp blstm blstmp lstm-srnn lstm-srnn-out lstm-srnn-hidden lstm-gates"
units=char                   # char | bpe<vocab size> | phone (for every system)
epochs=                      # empty = conf/train.yaml's
seed=                        # empty = conf/train.yaml's train.seed
nj=2
jobs=1                       # stages 1-3: systems trained and decoded at the same time (each with --threads)
threads=                     # stage 1: torch threads per training job; empty = conf/train.yaml's train.num_threads
train_opts=                  # stage 1: more `asr train` overrides for every system, e.g. "--train.average_last 1"
# stage 1: overrides for the projected systems only (lstmp, blstmp). Measured in RESULTS.md ("LSTMP:
# why it stalled"): at lr 0.003 (conf/train.yaml's until 2026-12-01) the uni LSTMP stays all-blank; with gate_norm and
# lr 0.001 it learns, and the BLSTMP matches the BLSTM. "" = the same config as the others.
proj_opts="--model.gate_norm true --optim.lr 0.001"
# stage 1: and then for the uni LSTMP alone: with gate_norm at lr 0.001 it still lost its first layer to
# saturation after ~800 updates; at 0.0005 it did not (RESULTS.md, 2026-12-02: 35.8% dev char accuracy after
# 1,500 updates against 24.9%, the LSTM with gate_norm at 0.001 36.0%)
lstmp_opts="--optim.lr 0.0005"
resume=false                 # stage 1: continue each system from its newest epoch checkpoint
train_order="lstmp blstmp lstm blstm lstm-srnn-out lstm-srnn lstm-srnn-hidden lstm-gates"  # --jobs: slowest first
train_set=data/train_sp
dev_set=data/dev
lm=data/lang/lm_3gram.arpa
lm_weights="0.5 1 1.5 2 3"
word_ins_penalties="-1 0 1 2"
tolerance=0.1                # stage 0: largest relative difference from the reference size
only=                        # internal: run stages 1-3 for the N-th system of the job order only
default_grid="$lm_weights/$word_ins_penalties"
orig_args=("$@")
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh

arch_opts() {  # the `asr train` model overrides of architecture $1 (sizes: see the header)
  local uni="--model.bidirectional false --model.proj 0"
  case $1 in
    lstm) echo "--model.cell lstm $uni --model.hidden 270" ;;
    lstmp) echo "--model.cell lstm --model.bidirectional false --model.hidden 352 --model.proj 176 $proj_opts $lstmp_opts" ;;
    blstm) echo "--model.cell lstm --model.bidirectional true --model.hidden 160 --model.proj 0" ;;
    blstmp) echo "--model.cell lstm --model.bidirectional true --model.hidden 211 --model.proj 106 $proj_opts" ;;
    lstm-srnn) echo "--model.cell lstm-srnn $uni --model.hidden 292" ;;
    lstm-srnn-out) echo "--model.cell lstm-srnn-out $uni --model.hidden 349" ;;
    lstm-srnn-hidden) echo "--model.cell lstm-srnn-hidden $uni --model.hidden 485" ;;
    lstm-gates) echo "--model.cell lstm-gates $uni --model.hidden 551" ;;
    *) echo "run_comparison.sh: unknown system '$1' (lstm lstmp blstm blstmp lstm-srnn lstm-srnn-out" \
            "lstm-srnn-hidden lstm-gates)" >&2; return 1 ;;
  esac
}
units_config=conf/units_$units.yaml  # the units are a config file (conf/units_*.yaml), as in run.sh
[ -f "$units_config" ] || { echo "run_comparison.sh: unknown units '$units' (no $units_config)" >&2; exit 1; }
suffix=""; [ "$units" = char ] || suffix=_$units  # other units get their own exp dirs and table
exp_dir() { echo "exp/cmp_$1$suffix"; }
for sys in $systems; do arch_opts "$sys" > /dev/null; done
order=""  # the job order: slowest first (tests/bench/matched_size.py), then any other system given
for sys in $train_order $systems; do
  case " $systems " in *" $sys "*) case " $order " in *" $sys "*) ;; *) order+=" $sys" ;; esac ;; esac
done
read -r -a order <<< "$order"
if [ -n "$only" ]; then  # one job of the stages 1-3 below
  systems=${order[$((only - 1))]}
  stage=$(( stage > 1 ? stage : 1 ))
fi

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  for f in $train_set/feats.scp $dev_set/feats.scp $lm; do
    [ -f "$f" ] || { echo "run_comparison.sh: $f not found (run ./run.sh --stop-stage 4 first)" >&2; exit 1; }
  done
  for sys in $systems; do
    # shellcheck disable=SC2046
    if ! line=$(utils/match_model_size.py --config conf/train.yaml --config "$units_config" --data.train "$train_set" \
                --target config --tolerance "$tolerance" $(arch_opts "$sys")); then
      echo "run_comparison.sh: $sys: ${line:-no count}; not within $tolerance of the reference (re-solve the" \
           "sizes: see the header)" >&2
      exit 1
    fi
    echo "$sys: $line"
  done
fi
lex_opt=""; [ "$units" = phone ] && lex_opt="--lexicon data/lang/lexicon.txt"
run_system() {  # stages 1-3 for system $1, with $2 decoding jobs
  local sys=$1 dir; dir=$(exp_dir "$1")
  if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
    # shellcheck disable=SC2046,SC2086
    steps/train.sh --cmd "$train_cmd" --config "conf/train.yaml $units_config" --resume "$resume" "$train_set" \
      "$dev_set" "$dir" $(arch_opts "$sys") ${epochs:+--train.epochs $epochs} ${seed:+--train.seed $seed} \
      ${threads:+--train.num_threads $threads} $train_opts || return 1
  fi
  if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
    steps/decode.sh --nj "$2" --cmd "$decode_cmd" "$dir" "$dev_set" "$dir/decode_dev" || return 1
  fi
  if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
    # shellcheck disable=SC2086
    steps/decode_lm.sh --cmd "$decode_cmd" $lex_opt --lm-weights "$lm_weights" \
      --word-ins-penalties "$word_ins_penalties" "$dir" "$lm" "$dev_set" "$dir/decode_dev_lm" || return 1
  fi
}
if [ -n "$only" ]; then
  run_system "$systems" "$nj"
  exit
fi
if [ $stop_stage -ge 1 ] && [ $stage -le 3 ]; then
  # One job per system in the job order, at most $jobs at a time; each job is this script with --only.
  mkdir -p exp/cmp_log
  rm -f exp/cmp_log/system.*.log
  job_nj=$nj; [ "$jobs" -le 1 ] || job_nj=1
  last=$(( stop_stage < 3 ? stop_stage : 3 ))
  $train_cmd --max-jobs-run "$jobs" JOB=1:${#order[@]} exp/cmp_log/system.JOB.log \
    ./run_comparison.sh "${orig_args[@]}" --stage "$stage" --stop-stage "$last" --nj "$job_nj" --only JOB || true
  failed=""
  for i in "${!order[@]}"; do
    log=exp/cmp_log/system.$((i + 1)).log
    echo "run_comparison.sh: ${order[$i]} ($log):"
    cat "$log"
    grep -q "^# Ended (code 0)" "$log" || failed+=" ${order[$i]}"
  done
  [ -z "$failed" ] || { echo "run_comparison.sh: failed:$failed (their output is above)" >&2; exit 1; }
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  out=RESULTS_comparison$suffix.md
  opts="--units $units --systems \"$systems\"${epochs:+ --epochs $epochs}${seed:+ --seed $seed}"
  [ "$jobs" -le 1 ] || opts+=" --jobs $jobs"
  [ -z "$threads" ] || opts+=" --threads $threads"
  [ -z "$train_opts" ] || opts+=" --train-opts \"$train_opts\""
  [ "$train_set" = data/train_sp ] || opts+=" --train-set $train_set"
  [ "$dev_set" = data/dev ] || opts+=" --dev-set $dev_set"
  [ "$lm_weights/$word_ins_penalties" = "$default_grid" ] ||
    opts+=" --lm-weights \"$lm_weights\" --word-ins-penalties \"$word_ins_penalties\""
  if [ "$jobs" -le 1 ]; then timing="one system after another on the host below"
  else timing="$jobs systems at a time${threads:+ ($threads thread(s) each)}, slowest first, on the host below (the \
last systems of a worker may have run alone, so their times are somewhat lower than the others')"; fi
  # shellcheck disable=SC2046
  utils/results_table.py --title "speechocean762: LSTM architectures at matched size (dev = 13 held-out speakers)" \
    --command "cd egs/speechocean762/s5 && ./run_comparison.sh $opts" \
    --note "Same data ($train_set), epochs, seed and configuration (conf/train.yaml) for every system; only \
the recurrent layers differ, each sized to within $(awk "BEGIN {print $tolerance * 100}")% of the reference BLSTM's \
parameter count (widths and the reasons for them: the header of run_comparison.sh). 'uni'/'bi' in the model column: \
unidirectional/bidirectional; the four Levy et al. (2018) ablations (lstm-srnn, lstm-srnn-out, lstm-srnn-hidden, \
lstm-gates) are unidirectional, to compare with the deep LSTM. Sak et al. (2014) claim: cmp_lstmp <= cmp_lstm at \
equal parameters. Training minutes were measured $timing. Greedy = CTC best path; \
LM = lexicon + $(basename "$lm") search with the LM weight / insertion penalty that is best on dev (tuned on the set \
it reports, so optimistic by the same amount for every system). Data: speechocean762 (OpenSLR 101, Zhang et al. \
2021, CC BY 4.0), train half only." \
    --update "$out" $(for sys in $systems; do exp_dir "$sys"; done)
  cat "$out"
fi
