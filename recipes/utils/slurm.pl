#!/usr/bin/env perl
# slurm.pl: run one job, or an array of jobs, on a Slurm cluster with one log file per job.
# The interface of utils/run.pl (and Kaldi's slurm.pl), so that cmd.sh can choose either:
#   export train_cmd="utils/slurm.pl --mem 8G"   decode_cmd="utils/slurm.pl --max-jobs-run 20"
#
# Usage: slurm.pl [options] [JOB=1:N] <log-file> <command> [<arg> ...]
#   JOB=1:N   an array of N jobs (sbatch --array); every "JOB" in <log-file> and in the command
#             becomes the job's id.  JOB=3 runs the single job 3.
#   options:  --max-jobs-run N (or -tc N)  at most N array tasks at a time (--array=1-N%M)
#             --num-threads N              CPUs per job (--cpus-per-task N)
#             --gpu N                      GPUs per job (--gres=gpu:N)
#             --mem SIZE                   memory per job (--mem SIZE, e.g. 8G)
#             --time T                     time limit per job (--time T)
#             --config FILE                ignored (accepted for Kaldi scripts)
#   $SLURM_PL_OPTS: more sbatch options for every submission (e.g. "--partition=gpu --qos=high").
# Each job runs in the current directory with the submitting environment (--export=ALL); its log
# has the layout of run.pl's ("# <command>", "# Started at", output, "# Accounting: time=<s>
# threads=<n>", "# Ended (code <status>) ..."). The jobs are submitted with `sbatch --wait` (this
# script returns when all are done); their scripts and Slurm's own output are in <log-dir>/q/.
# Exit status 0 when every job succeeded; otherwise 1, after naming the failed jobs and their logs.
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(dirname basename);
use File::Path qw(make_path);

my $prog = "slurm.pl";

sub usage {
  print STDERR "Usage: $prog [--max-jobs-run N] [--num-threads N] [--gpu N] [--mem SIZE] [--time T] "
    . "[JOB=1:N] <log-file> <command> [<arg> ...]\n";
  exit 1;
}

my ($max_jobs_run, $num_threads, $gpu, $mem, $time) = (0, 1, 0, "", "");
my ($job_name, $job_start, $job_end);
while (@ARGV) {
  my $a = $ARGV[0];
  if ($a =~ /^([A-Za-z_]\w*)=(\d+):(\d+)$/) {
    ($job_name, $job_start, $job_end) = ($1, $2, $3);
    die "$prog: bad job range $a: $job_start > $job_end\n" if $job_start > $job_end;
    shift @ARGV;
  } elsif ($a =~ /^([A-Za-z_]\w*)=(\d+)$/) {
    ($job_name, $job_start, $job_end) = ($1, $2, $2);
    shift @ARGV;
  } elsif ($a eq "-V") {
    shift @ARGV;
  } elsif ($a =~ /^-/ && $a ne "-") {
    shift @ARGV;
    my ($opt, $val);
    if ($a =~ /^(--[^=]+)=(.*)$/) { ($opt, $val) = ($1, $2); } else { usage() unless @ARGV; ($opt, $val) = ($a, shift @ARGV); }
    if ($opt eq "--max-jobs-run" || $opt eq "-tc") {
      die "$prog: $opt needs a non-negative integer, got '$val'\n" unless $val =~ /^\d+$/;
      $max_jobs_run = $val;
    } elsif ($opt eq "--num-threads") {
      die "$prog: --num-threads needs a positive integer, got '$val'\n" unless $val =~ /^\d+$/ && $val > 0;
      $num_threads = $val;
    } elsif ($opt eq "--gpu") {
      die "$prog: --gpu needs an integer, got '$val'\n" unless $val =~ /^\d+$/;
      $gpu = $val;
    } elsif ($opt eq "--mem") {
      $mem = $val;
    } elsif ($opt eq "--time") {
      $time = $val;
    } elsif ($opt eq "--config") {
    } else {
      print STDERR "$prog: warning: ignoring option $opt $val\n";
    }
  } else {
    last;
  }
}
usage() if @ARGV < 2;
my $log_template = shift @ARGV;
my @words = @ARGV;
if (!defined $job_name) {
  ($job_start, $job_end) = (1, 1);
} elsif ($job_end > $job_start && index($log_template, $job_name) < 0) {
  die "$prog: " . ($job_end - $job_start + 1) . " jobs would share the log file $log_template; "
    . "put $job_name in its name\n";
}

sub shell_quote { my ($w) = @_; $w =~ s/'/'\\''/g; return "'$w'"; }
my $cmd_template = @words == 1 ? $words[0] : join(" ", map { /^\S+$/ ? $_ : shell_quote($_) } @words);
sub for_job {
  my ($text, $id) = @_;
  return $text unless defined $job_name;
  $text =~ s/\Q$job_name\E/$id/g;
  return $text;
}

# One script per job (the command with its id filled in, as run.pl runs it), and the array's driver.
my $qdir = dirname(for_job($log_template, $job_start)) . "/q";
make_path($qdir) unless -d $qdir;
my $base = basename($log_template);
$base =~ s/\.log$//;
$base =~ s/\Q$job_name\E/array/g if defined $job_name;
my $cwd = getcwd();
for my $id ($job_start .. $job_end) {
  my $log = for_job($log_template, $id);
  my $cmd = for_job($cmd_template, $id);
  my $qlog = shell_quote($log);
  open(my $fh, ">", "$qdir/$base.$id.sh") or die "$prog: cannot write $qdir/$base.$id.sh: $!\n";
  print $fh "#!/usr/bin/env bash\ncd " . shell_quote($cwd) . " || exit 1\n"
    . "mkdir -p \"\$(dirname $qlog)\"\n"
    . "{ printf '# %s\\n' " . shell_quote($cmd) . "; echo \"# Started at \$(date)\"; echo '#'; } > $qlog\n"
    . "t0=\$(date +%s)\n"
    . "( $cmd ) >> $qlog 2>&1\ncode=\$?\nt=\$((\$(date +%s) - t0))\n"
    . "echo \"# Accounting: time=\$t threads=$num_threads\" >> $qlog\n"
    . "echo \"# Ended (code \$code) at \$(date), elapsed time \$t seconds\" >> $qlog\n"
    . "exit \$code\n";
  close($fh);
  unlink($log);  # a stale log must not count as this run's
}
open(my $fh, ">", "$qdir/$base.sh") or die "$prog: cannot write $qdir/$base.sh: $!\n";
print $fh "#!/usr/bin/env bash\nexec bash " . shell_quote("$qdir/$base") . ".\${SLURM_ARRAY_TASK_ID}.sh\n";
close($fh);

my @sbatch = ("sbatch", "--wait", "--parsable", "--export=ALL", "--job-name=$base",
              "--array=$job_start-$job_end" . ($max_jobs_run > 0 ? "%$max_jobs_run" : ""),
              "--cpus-per-task=$num_threads", "--output=$qdir/$base.%a.out");
push @sbatch, "--gres=gpu:$gpu" if $gpu > 0;
push @sbatch, "--mem=$mem" if $mem ne "";
push @sbatch, "--time=$time" if $time ne "";
push @sbatch, split(" ", $ENV{SLURM_PL_OPTS}) if $ENV{SLURM_PL_OPTS};
push @sbatch, "$qdir/$base.sh";
my $rc = system(@sbatch);
if ($rc == -1) {
  print STDERR "$prog: cannot run sbatch: $! (is Slurm installed on this machine?)\n";
  exit 1;
}

my @ids = ($job_start .. $job_end);
my %code;
for my $id (@ids) {
  my $log = for_job($log_template, $id);
  $code{$id} = "unknown (no log: see $qdir/$base.$id.out)";
  if (open(my $lf, "<", $log)) {
    while (<$lf>) { $code{$id} = $1 if /^# Ended \(code (\d+)\)/; }
    close($lf);
  }
}
my @failed = grep { $code{$_} ne "0" } @ids;
exit 0 unless @failed;
for my $id (@failed) {
  print STDERR "$prog: job " . (defined $job_name ? "$id " : "") . "failed with exit code $code{$id}, log is in "
    . for_job($log_template, $id) . "\n";
}
print STDERR "$prog: " . scalar(@failed) . " / " . scalar(@ids) . " failed\n" if @ids > 1;
exit 1;
