#!/usr/bin/env perl
# run.pl: run one job, or an array of jobs, on this machine with one log file per job.
# The interface of Kaldi's utils/run.pl, so a recipe's $cmd can name run.pl or a queue script.
#
# Usage: run.pl [options] [JOB=1:N] <log-file> <command> [<arg> ...]
#   JOB=1:N   run N jobs; every "JOB" in <log-file> and in the command becomes the job's id
#             (any name works: SPLIT=1:4).  JOB=3 runs the single job 3.
#   options:  --max-jobs-run N (or -tc N): at most N jobs at a time (default: all at once).
#             Queue-script options are accepted and ignored: --mem 4G, --num-threads N
#             (reported in the log), --gpu 0, --config FILE, --time T, and any other
#             "--name value" pair (with a warning).
# The command's words are joined into one bash command line: a word without white space is
# used verbatim, so '|' '>' '2>&1' given as separate words act as pipes and redirections
# (write them as \| \> on the caller's command line); a word with white space is quoted and
# reaches the program as one argument.  A command given as a single word is taken as a whole
# bash command line: run.pl log "foo | bar > out".
# Each log starts with "# <command>" and "# Started at <date>", then the job's stdout and
# stderr, and ends with "# Accounting: time=<s> threads=<n>" and
# "# Ended (code <status>) at <date>, elapsed time <s> seconds".
# Exit status 0 when every job succeeded; otherwise 1, after naming the failed jobs and
# their logs on stderr.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(WNOHANG);

my $prog = "run.pl";

sub usage {
  print STDERR "Usage: $prog [--max-jobs-run N] [JOB=1:N] <log-file> <command> [<arg> ...]\n"
    . "e.g.: $prog JOB=1:4 exp/log/decode.JOB.log asr decode data/split4/JOB exp/decode/JOB\n";
  exit 1;
}

my $max_jobs_run = 0;  # 0 = all jobs at once
my $num_threads = 1;
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
  } elsif ($a eq "-V") {  # qsub's "export the environment": always true here
    shift @ARGV;
  } elsif ($a =~ /^-/ && $a ne "-") {
    shift @ARGV;
    my ($opt, $val);
    if ($a =~ /^(--[^=]+)=(.*)$/) {
      ($opt, $val) = ($1, $2);
    } else {
      usage() unless @ARGV;
      ($opt, $val) = ($a, shift @ARGV);
    }
    if ($opt eq "--max-jobs-run" || $opt eq "-tc") {
      die "$prog: $opt needs a non-negative integer, got '$val'\n" unless $val =~ /^\d+$/;
      $max_jobs_run = $val;
    } elsif ($opt eq "--num-threads") {
      die "$prog: --num-threads needs a positive integer, got '$val'\n" unless $val =~ /^\d+$/ && $val > 0;
      $num_threads = $val;
    } elsif ($opt eq "--gpu") {
      die "$prog: --gpu needs an integer, got '$val'\n" unless $val =~ /^\d+$/;
      print STDERR "$prog: warning: --gpu $val ignored: run.pl does not assign GPUs, jobs see every device\n"
        if $val > 0;
    } elsif ($opt eq "--mem" || $opt eq "--config" || $opt eq "--time") {
      # queue.pl / slurm.pl resource options: nothing to reserve on this machine.
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

# The command line handed to bash.
my $cmd_template;
if (@words == 1) {
  $cmd_template = $words[0];
} else {
  $cmd_template = join(" ", map { /^\S+$/ ? $_ : shell_quote($_) } @words);
}

sub shell_quote {
  my ($w) = @_;
  $w =~ s/'/'\\''/g;
  return "'$w'";
}

sub for_job {
  my ($text, $id) = @_;
  return $text unless defined $job_name;
  $text =~ s/\Q$job_name\E/$id/g;
  return $text;
}

sub now { return scalar localtime(); }

# Runs in a child process: writes the log and returns the job's exit status.
sub run_job {
  my ($id) = @_;
  my $log = for_job($log_template, $id);
  my $cmd = for_job($cmd_template, $id);
  my $dir = dirname($log);
  make_path($dir) unless -d $dir;
  open(my $fh, ">", $log) or do { print STDERR "$prog: cannot write log file $log: $!\n"; return 1; };
  print $fh "# $cmd\n# Started at " . now() . "\n#\n";
  close($fh);
  my $t0 = time();
  my $pid = fork();
  die "$prog: fork failed: $!\n" unless defined $pid;
  if ($pid == 0) {
    open(STDOUT, ">>", $log) or die "$prog: cannot append to $log: $!\n";
    open(STDERR, ">&", \*STDOUT) or die "$prog: cannot redirect stderr: $!\n";
    exec("bash", "-c", $cmd) or die "$prog: cannot run bash: $!\n";
  }
  waitpid($pid, 0);
  my $status = $?;
  my $code = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
  my $elapsed = time() - $t0;
  open($fh, ">>", $log) or return 1;
  print $fh "# Accounting: time=$elapsed threads=$num_threads\n";
  print $fh "# Ended (code $code) at " . now() . ", elapsed time $elapsed seconds\n";
  close($fh);
  return $code;
}

my @ids = ($job_start .. $job_end);
my $limit = $max_jobs_run > 0 ? $max_jobs_run : scalar(@ids);
my %running;  # pid -> job id
my %code;     # job id -> exit status

sub reap_one {
  my $pid = waitpid(-1, 0);
  if ($pid <= 0) {  # no child left to wait for: should not happen, but never spin
    $code{$_} = 1 for values %running;
    %running = ();
    return;
  }
  return unless exists $running{$pid};
  my $id = delete $running{$pid};
  my $status = $?;
  $code{$id} = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
}

for my $id (@ids) {
  reap_one() while keys(%running) >= $limit;
  my $pid = fork();
  die "$prog: fork failed: $!\n" unless defined $pid;
  if ($pid == 0) {
    my $c = run_job($id);
    POSIX::_exit($c > 255 ? 255 : $c);
  }
  $running{$pid} = $id;
}
reap_one() while %running;

my @failed = grep { $code{$_} != 0 } @ids;
exit 0 unless @failed;
my $n = @ids;
if (!defined $job_name) {
  print STDERR "$prog: job failed with exit code $code{$failed[0]}, log is in $log_template\n";
} else {
  my $pattern = $log_template;
  $pattern =~ s/\Q$job_name\E/*/g if $n > 1;
  print STDERR "$prog: " . scalar(@failed) . " / $n failed, log is in $pattern\n";
  for my $id (@failed) {
    print STDERR "$prog: job $id failed with exit code $code{$id}, log is in " . for_job($log_template, $id) . "\n";
  }
}
exit 1;
