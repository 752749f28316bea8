"""User-facing errors: the CLI prints them as one line and exits non-zero (no traceback)."""

from __future__ import annotations


class PrixFixeError(Exception):
    """Base of every error a user can fix (bad input, bad config, missing files)."""

    code: int = 2


class DataError(PrixFixeError):
    """Bad input data; the message names the file, the line/row and the field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(
            part for part in (
                f"{path}" if path else "",
                f"line {line}" if line is not None else "",
                f"field '{field}'" if field else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.path, self.line, self.field = path, line, field


class ConfigError(PrixFixeError):
    """A bad block/strategy/space name or hyperparameter, caught before any training starts."""


class DivergedError(PrixFixeError):
    """Training produced a non-finite loss or non-finite predictions: the run is not scored."""
