"""Consumer and pool logs: personal data masked (logs are stores too), so a traceback that
quotes an event's value shows `[email]`, not the address; passwords in URLs redacted."""

from __future__ import annotations

import logging

from ..analytics.events import mask_text
from ..errors import redact


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


def mask_log_records() -> None:
    """Mask every record the root logger's handlers write (call after configuring them)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
