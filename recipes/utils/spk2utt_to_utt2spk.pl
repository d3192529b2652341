#!/usr/bin/env perl
# spk2utt -> utt2spk, in input order.
# Usage: utils/spk2utt_to_utt2spk.pl [<file> ...] > out   (reads standard input without arguments), as Kaldi's.
# A thin wrapper: the work is done by asr.cli.datadir_tools (asr/datadir.py) in the toolkit's Python.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

# The Python that runs `asr`: next to `asr` on PATH (a virtualenv), else the virtualenv of the
# checkout holding this script (reached through egs/*/s5/utils symlinks too), else python3.
my $python;
for my $dir (split /:/, ($ENV{PATH} // "")) {
  if (-x "$dir/asr" && !-d "$dir/asr") { $python = "$dir/python" if -x "$dir/python"; last; }
}
if (!defined $python) {
  my $venv = dirname(abs_path($0)) . "/../../.venv/bin/python";
  $python = -x $venv ? $venv : "python3";
}
exec($python, "-m", "asr.cli.datadir_tools", "spk2utt-to-utt2spk", @ARGV) or die "$0: cannot run $python: $!\n";
