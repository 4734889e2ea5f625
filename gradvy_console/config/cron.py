"""The crontab grammar of `[schedule]`: parsing, validation and next-run computation.

Huey's `crontab()` decides when a job is enqueued; Huey has no next-run API, so this module
parses the same five-field expressions with the same semantics (every field must match;
day-of-week 0-6 with 0 = Sunday, 7 also Sunday; `*`, `*/n`, `a-b`, `a-b/n`, lists) and computes
the next matching minute. A property test checks it against Huey's own validator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DASH = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_EVERY = re.compile(r"\*/(\d+)")
# (name, acceptable values) in expression order: minute hour day month day-of-week
_FIELDS = (("minute", range(60)), ("hour", range(24)), ("day", range(1, 32)),
           ("month", range(1, 13)), ("day_of_week", range(8)))


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches(self, dt: datetime) -> bool:
        return (dt.minute in self.minutes and dt.hour in self.hours and dt.day in self.days
                and dt.month in self.months and (dt.isoweekday() % 7) in self.weekdays)

    def next_after(self, dt: datetime) -> datetime | None:
        """The first matching minute strictly after `dt` (UTC), within ~4 years."""
        t = dt.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 4 + 1)
        while t < limit:
            if (t.month not in self.months or t.day not in self.days
                    or (t.isoweekday() % 7) not in self.weekdays):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        return None


def _field(text: str, name: str, acceptable: range) -> frozenset[int]:
    values: set[int] = set()
    for piece in text.split(","):
        if piece == "*":
            values.update(acceptable)
        elif piece.isdigit():
            value = int(piece)
            if value not in acceptable:
                raise ValueError(f"{name} {value} is out of range")
            values.add(value % 7 if name == "day_of_week" else value)
        elif m := _DASH.fullmatch(piece):
            lo, hi, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
            if lo not in acceptable or hi not in acceptable or step < 1:
                raise ValueError(f"{name} range {piece} is out of range")
            if lo <= hi:
                span = list(range(lo, hi + 1))
            else:  # wraps around, as Huey allows
                top = 6 if name == "day_of_week" else acceptable[-1]
                span = list(range(lo, top + 1)) + list(range(acceptable[0], hi + 1))
            picked = span[::step]
            values.update(v % 7 for v in picked) if name == "day_of_week" else values.update(
                picked)
        elif m := _EVERY.fullmatch(piece):
            if name == "day_of_week":
                raise ValueError("*/n is not allowed for day of week")
            step = int(m.group(1))
            if step < 1:
                raise ValueError(f"{name} step must be at least 1")
            values.update(acceptable[::step])
        else:
            raise ValueError(f"{name} '{piece}' is not a crontab value")
    if not values:
        raise ValueError(f"{name} '{text}' matches nothing")
    return frozenset(values)


def parse(expression: str) -> Cron:
    """Parse 'minute hour day month day-of-week'. Raises ValueError with a reason."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError("a crontab has five fields: minute hour day month day-of-week")
    sets = [_field(text, name, acceptable)
            for text, (name, acceptable) in zip(parts, _FIELDS, strict=True)]
    return Cron(expression, *sets)


def huey_crontab(expression: str) -> Callable[[datetime], bool]:
    """The same expression as Huey's validator (what actually enqueues the job)."""
    from huey import crontab

    minute, hour, day, month, dow = expression.split()
    validator: Callable[[datetime], bool] = crontab(
        minute=minute, hour=hour, day=day, month=month, day_of_week=dow, strict=True)
    return validator


_MATCHERS: dict[str, Callable[[datetime], bool]] = {}


def schedule_matcher(expression: str) -> Callable[[datetime], bool]:
    """Huey's validator for `expression`, built once per expression; an empty expression (a
    job switched off) never matches."""
    matcher = _MATCHERS.get(expression)
    if matcher is None:
        matcher = huey_crontab(expression) if expression else (lambda _ts: False)
        _MATCHERS[expression] = matcher
    return matcher


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
