"""One exception family. Each carries the exit code the CLI returns and a message that says what, where, and how to fix.

`quote` is how any text that came from a file or the command line enters a message: bounded, control characters
escaped, so a hostile cell or column name can neither flood the terminal nor drive it."""

from __future__ import annotations

QUOTE_LIMIT = 60  # characters of user input shown in a message


class LstmcastError(Exception):
    """Base of every error lstmcast reports to a user (printed without a traceback)."""

    exit_code = 1


class ConfigError(LstmcastError):
    """A config file, a --set override or a command-line option is invalid."""

    exit_code = 2


class DataError(LstmcastError):
    """A CSV cannot be used as asked: missing columns, bad cells, too few rows, ..."""

    exit_code = 3


class ModelFileError(LstmcastError):
    """A run directory or model file is missing, corrupt, unsafe, tampered with or of an unknown format."""

    exit_code = 4


class TrainingDiverged(LstmcastError):
    """The loss or the gradients became non-finite, or the loss ran away."""

    exit_code = 5


class OutputError(LstmcastError):
    """An output cannot be written: it exists (no --force), is not lstmcast's, is locked, or the disk is full."""

    exit_code = 6


class OutOfMemory(LstmcastError):
    """The machine (or the GPU) ran out of memory."""

    exit_code = 7


class DistributedError(LstmcastError):
    """Another rank of a multi-process job stopped or stopped answering, or the launcher lost a rank."""

    exit_code = 8


class Interrupted(LstmcastError):
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143) after saving what can be resumed."""

    def __init__(self, message: str, *, signal_number: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


def quote(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """repr-like quoting of user input for messages: control characters escaped, at most `limit` characters."""
    text = str(value)
    more = f"... ({len(text):,} characters)" if len(text) > limit else ""
    return "'" + clean(text[:limit], limit=limit).replace("'", "\\'") + "'" + more


def clean(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """User input inside a message, unquoted: control characters escaped, at most `limit` characters."""
    text = str(value)
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    return shown + (f"... ({len(text):,} characters)" if len(text) > limit else "")


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's CPU allocator and CUDA report exhaustion as RuntimeError subclasses, not MemoryError."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text
