"""The toolkit's exception base: errors about the user's input, reported as one clear line.

The ``asr`` command catches :class:`AsrError` and prints its message without a
traceback; everything else is a bug and keeps its traceback.
"""


class AsrError(Exception):
    """Bad input or a failed precondition that the user can fix; the message names the file."""
