# How jobs are run: run.pl runs them on this machine (Kaldi's queue.pl/slurm.pl are not provided).
export train_cmd="utils/run.pl"
export decode_cmd="utils/run.pl --max-jobs-run 2"
