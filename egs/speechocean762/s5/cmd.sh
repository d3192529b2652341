# How jobs are run: run.pl runs them on this machine; with ASR_QUEUE=slurm, slurm.pl submits them to a
# Slurm cluster (sbatch --wait; $SLURM_PL_OPTS adds e.g. --partition). Edit the resources to your site.
if [ "${ASR_QUEUE:-}" = slurm ]; then
  export train_cmd="utils/slurm.pl --num-threads 2 --mem 8G"
  export decode_cmd="utils/slurm.pl --mem 4G --max-jobs-run 20"
else
  export train_cmd="utils/run.pl"
  export decode_cmd="utils/run.pl --max-jobs-run 2"
fi
