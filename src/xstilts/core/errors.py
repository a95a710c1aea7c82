"""The one error type of bad user input (config, data files, checkpoints of an earlier rule).

Every such error is phrased for the user: it names the file (and row, column or line where
known) or the config key, the value and what was expected.  The CLI catches :class:`InputError`
and prints it as one line (``xstilts: <message>``), never a traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad user input, phrased for the user (names the file/key and what was expected)."""
