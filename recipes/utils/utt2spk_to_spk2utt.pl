#!/usr/bin/env perl
# utt2spk -> spk2utt: speakers in order of first appearance, their utterances in input order.
# Usage: utils/utt2spk_to_spk2utt.pl [<file> ...] > out   (reads standard input without arguments), as Kaldi's.
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
exec($python, "-m", "asr.cli.datadir_tools", "utt2spk-to-spk2utt", @ARGV) or die "$0: cannot run $python: $!\n";
