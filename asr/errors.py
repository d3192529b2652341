"""The toolkit's exception base: errors about the user's input, reported as one clear line.

The ``asr`` command catches :class:`AsrError` and prints its message without a
traceback; everything else is a bug and keeps its traceback.
"""

from collections.abc import Sequence


def listing(head: str, lines: Sequence[str], most: int = 20) -> str:
    """A message naming several bad items: ``head:`` then one indented line per item (at most
    ``most``, then how many more)."""
    shown = [f"  {line}" for line in lines[:most]]
    if len(lines) > most:
        shown.append(f"  ... and {len(lines) - most} more")
    return "\n".join([f"{head}:", *shown])


class AsrError(Exception):
    """Bad input or a failed precondition that the user can fix; the message names the file."""


# Exit status of a command that finished but left bad input out (``--skip-bad``, ``data.skip_bad``):
# everything else was processed and written; the bad items are named in its log. 0 = nothing
# skipped, 1 = an error (nothing was lost, but the work is not done), 2 = a usage error.
EXIT_SKIPPED = 3
