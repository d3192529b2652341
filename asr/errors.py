"""The toolkit's exception base: errors about the user's input, reported as one clear line.

The ``asr`` command catches :class:`AsrError` and prints its message without a
traceback; everything else is a bug and keeps its traceback.
"""


class AsrError(Exception):
    """Bad input or a failed precondition that the user can fix; the message names the file."""


# Exit status of a command that finished but left bad input out (``--skip-bad``, ``data.skip_bad``):
# everything else was processed and written; the bad items are named in its log. 0 = nothing
# skipped, 1 = an error (nothing was lost, but the work is not done), 2 = a usage error.
EXIT_SKIPPED = 3
