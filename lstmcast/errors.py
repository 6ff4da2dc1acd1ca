"""One exception family. Each carries the exit code the CLI returns and a message that says what, where, and how to fix."""

from __future__ import annotations


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
    """A run directory or model file is missing, corrupt, unsafe or of an unknown format."""

    exit_code = 4


class TrainingDiverged(LstmcastError):
    """The loss or the gradients became non-finite, or the loss ran away."""

    exit_code = 5


class OutputError(LstmcastError):
    """An output cannot be written: it exists (no --force), the path is unwritable, or the disk is full."""

    exit_code = 6


class Interrupted(LstmcastError):
    """Stopped by SIGINT (exit 130) or SIGTERM (exit 143) after saving what can be resumed."""

    def __init__(self, message: str, *, signal_number: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number
