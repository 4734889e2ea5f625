"""Errors a user can cause: each carries one clear sentence and an exit code."""

from __future__ import annotations


class GradvyError(Exception):
    """A mistake the operator can fix. `str(err)` is the sentence shown; `exit_code` the code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(GradvyError):
    """Bad configuration: unknown key, wrong type, unreachable server."""

    exit_code = 2


class InputError(GradvyError):
    """Input that cannot be read at all (not JSON, missing file)."""

    exit_code = 2


class BackendUnavailable(ConfigError):
    """A configured server (Redis, MongoDB) cannot be reached."""
