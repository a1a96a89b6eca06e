"""Errors raised on bad user input.

Every message names the file (and the line or column where one applies) and the problem, so
recipes can print it as one line instead of a traceback.
"""


class InputError(Exception):
    """Bad input given by the user: a missing folder, an unreadable file, malformed metadata."""


class DataError(InputError):
    """A dataset on disk does not match the layout it claims to have."""


class AudioError(InputError):
    """An audio file cannot be read or holds no usable signal."""


class CheckpointError(InputError):
    """A checkpoint does not belong to the model it is loaded into."""


class OutputError(InputError):
    """An output folder a run cannot use: not writable, or holding the checkpoints and results of another run."""
