from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradvy_console.config.cron import huey_crontab, parse


def test_hand_cases() -> None:
    t = datetime(2026, 11, 29, 5, 57, 30)  # a Sunday
    assert parse("* * * * *").next_after(t) == datetime(2026, 11, 29, 5, 58)
    assert parse("*/5 * * * *").next_after(t) == datetime(2026, 11, 29, 6, 0)
    assert parse("0 2 * * *").next_after(t) == datetime(2026, 11, 30, 2, 0)
    assert parse("0 6 * * 1").next_after(t) == datetime(2026, 11, 30, 6, 0)  # Monday
    assert parse("0 0 1 1 *").next_after(t) == datetime(2027, 1, 1, 0, 0)
    assert parse("30 */6 * * *").next_after(datetime(2026, 1, 1, 6, 30)) == datetime(
        2026, 1, 1, 12, 30)
    assert parse("0 0 29 2 *").next_after(t) == datetime(2028, 2, 29, 0, 0)
    assert parse("0 0 * * 7").matches(datetime(2026, 11, 29, 0, 0))  # 7 is Sunday too


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "* 24 * * *", "a * * * *",
                                 "* * * * */2", "5-70 * * * *", "* * 0 * *"])
def test_invalid_expressions(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)


_piece = st.one_of(st.just("*"), st.integers(0, 59).map(str),
                   st.integers(1, 20).map(lambda n: f"*/{n}"),
                   st.tuples(st.integers(0, 50), st.integers(0, 59), st.integers(1, 4)).map(
                       lambda t: f"{t[0]}-{t[1]}/{t[2]}"))
_expr = st.tuples(_piece, st.sampled_from(["*", "*/3", "2", "0-23/5", "22-3"]),
                  st.sampled_from(["*", "1", "*/7", "28-31", "15"]),
                  st.sampled_from(["*", "2", "*/4", "11-2"]),
                  st.sampled_from(["*", "0", "1-5", "6-1", "7"])).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(_expr, st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1)))
def test_agrees_with_huey(expression: str, when: datetime) -> None:
    try:
        ours = parse(expression)
    except ValueError:
        with pytest.raises(ValueError):
            huey_crontab(expression)
        return
    theirs = huey_crontab(expression)
    when = when.replace(second=0, microsecond=0)
    assert ours.matches(when) == theirs(when)
    nxt = ours.next_after(when)
    if nxt is not None:
        assert theirs(nxt)
        # No earlier matching minute in between (checked over the first two hours).
        probe = when + timedelta(minutes=1)
        while probe < nxt and probe < when + timedelta(hours=2):
            assert not theirs(probe)
            probe += timedelta(minutes=1)
