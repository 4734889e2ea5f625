"""Consumer and pool logs: personal data masked (logs are stores too), so a traceback that
quotes an event's value shows `[email]`, not the address; passwords in URLs redacted; bounded
during an outage (a backend error logs one line when it starts, then one a minute with the
count, never a traceback per poll); rotated by size by the pool (`rotate`)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..analytics.events import mask_text
from ..errors import GradvyError, is_backend_failure, redact


class MaskingFilter(logging.Filter):
    """Formats each record once and masks e-mails, phone numbers and IP addresses in the
    message and in any traceback it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = mask_text(redact(record.getMessage()))[0]
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_text(redact(text))[0]
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(redact(record.exc_text))[0]
        record.msg, record.args = message, None
        return True


class OutageFilter(logging.Filter):
    """Collapses repeated backend failures (Redis or the store down): the first record of a
    kind (logger and exception type) is written as one line without its traceback, the same
    kind again at most once every `every_s` seconds with how many were held back. An hour of
    Redis outage is then about sixty lines, not hundreds of tracebacks a minute."""

    def __init__(self, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self._last: dict[tuple[str, str, str], float] = {}
        self._held: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        in_args = False
        if exc is None and isinstance(record.args, tuple):
            # `log.warning("heartbeat failed: %s", exc)`: the failure given as an argument.
            exc = next((a for a in record.args if isinstance(a, BaseException)), None)
            in_args = exc is not None
        # Backend failures, and our own one-sentence errors (a dropped queue message), are
        # one line each: their traceback says nothing more.
        if exc is None or not (is_backend_failure(exc) or isinstance(exc, GradvyError)):
            return True
        kind = (record.name, str(record.msg) if in_args else "", type(exc).__name__)
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            held = self._held.pop(kind, 0)
            self._last[kind] = now
        first_line = (str(exc).splitlines() or [""])[0][:200]
        more = (f" ({held} more like it in the last {self.every_s:.0f} s)" if held else
                " (repeats are logged once a minute while it lasts)")
        said = record.getMessage().splitlines()[0] if in_args else (
            f"{record.getMessage()}: {type(exc).__name__}: {first_line}")
        record.msg = f"{said}{more}"
        record.args, record.exc_info, record.exc_text = None, None, None
        return True


def mask_log_records(repeat_every_s: float = 60.0) -> None:
    """Mask every record the root logger's handlers write and collapse outage repeats (call
    after configuring the handlers)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OutageFilter) for f in handler.filters):
            handler.addFilter(OutageFilter(repeat_every_s))
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def rotate(path: Path, max_bytes: int, backups: int) -> bool:
    """Copy-truncate rotation: when `path` passes `max_bytes`, shift path.1 .. path.N-1 up,
    copy the log to path.1 and truncate it. The process writing it keeps its descriptor
    (opened for appending, so it goes on at the new end). Returns whether it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if backups > 0:
        target = path.with_name(f"{path.name}.1")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    os.truncate(path, 0)
    return True
