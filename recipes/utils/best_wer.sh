#!/usr/bin/env bash
# Print the line with the lowest error rate among the score lines on stdin (Kaldi's utils/best_wer.sh).
# Usage: grep WER exp/*/decode*/wer* | utils/best_wer.sh
#        grep CER exp/*/decode*/cer | utils/best_wer.sh
# Input lines: "[<file>:]%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]" (asr score, Kaldi's
# compute-wer; %CER alike) or NIST sclite "| Sum/Avg |" lines ("-o sum"); other lines are skipped.
# Output: that line with grep's "<file>:" prefix moved to the end, e.g.
#   %WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ] exp/ctc/decode_test/wer
# The first of equal rates wins.  No score line in the input: nothing printed, a warning on stderr.
if [ $# -ne 0 ]; then
  echo "Usage: grep WER exp/*/decode*/wer* | $0" >&2
  exit 1
fi
exec perl -e '
  my ($best, $best_line);
  while (my $line = <STDIN>) {
    chomp $line;
    my ($where, $rate, $text);
    if ($line =~ /^(.*?)(%[WC]ER\s+(\S+)\s.*?)\s*$/) {
      ($where, $text, $rate) = ($1, $2, $3);
    } elsif ($line =~ /^(.*?)\|\s*Sum\/Avg\s*\|(\s*\S+){2}\s*\|(\s*\S+){4}\s+(\S+)\s+\S+\s*\|/) {
      # sclite: | Sum/Avg | #Snt #Wrd | Corr Sub Del Ins Err S.Err |
      ($where, $rate) = ($1, $4);
      ($text = substr($line, length($where))) =~ s/\s+/ /g;
      $text = "%WER $rate $text";
    } else {
      next;
    }
    next unless $rate =~ /^(\d+(\.\d*)?|inf)$/;
    $where =~ s/[\s:]+$//;
    $text .= " $where" if $where ne "";
    my $value = $rate eq "inf" ? 9**9**9 : $rate;
    if (!defined $best || $value < $best) { ($best, $best_line) = ($value, $text); }
  }
  if (defined $best_line) { print "$best_line\n"; }
  else { print STDERR "best_wer.sh: no %WER/%CER or sclite Sum/Avg line in the input\n"; }
'
