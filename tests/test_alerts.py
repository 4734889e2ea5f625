from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gradvy_console.analytics.alerts import Rule, evaluate

RULES = {"cpu": Rule("cpu", "warning", 80.0, 5.0, "%"),
         "consumer_dead": Rule("consumer_dead", "critical", 0.5, 0.0, "bool")}


def run(values: list[float]) -> list[str]:
    """Feed a series of CPU values; return the actions taken at each step."""
    active: set[str] = set()
    actions = []
    for v in values:
        changes = evaluate({"cpu": v}, active, RULES)
        for c in changes:
            (active.add if c.action == "raise" else active.discard)(c.key)
        actions.append(",".join(c.action for c in changes) or "-")
    return actions


def test_raised_once_cleared_with_hysteresis() -> None:
    # 81 raises; 90 and 79 (inside the 75..80 band) keep it; 74.9 clears; 76 does not re-raise.
    assert run([50, 81, 90, 79, 76, 74.9, 76, 80, 80.1]) == [
        "-", "raise", "-", "-", "-", "clear", "-", "-", "raise"]


def test_unknown_value_changes_nothing_and_gone_subjects_clear() -> None:
    assert evaluate({"cpu": None}, {"cpu"}, RULES) == []
    changes = evaluate({"consumer_dead:h:1:ml": 1.0}, {"consumer_dead:h:2:ml"}, RULES)
    assert [(c.action, c.key) for c in changes] == [("raise", "consumer_dead:h:1:ml"),
                                                    ("clear", "consumer_dead:h:2:ml")]
    assert changes[0].rule.message("consumer h:1 (ml) is dead", 1.0) == "consumer h:1 (ml) is dead"
    assert RULES["cpu"].message("CPU", 91.25) == "CPU at 91.2% (threshold 80%)"


def test_cpu_is_judged_on_its_mean_over_the_window() -> None:
    from gradvy_console.monitoring.tick import sustained_cpu

    now = 1_800_000_000_000
    # Five-second samples: one minute at 95 % inside five at 20 % is a mean of 32.5 %, no alert.
    history = [{"at_ms": now - i * 5000, "cpu_percent": 95.0 if i < 12 else 20.0}
               for i in range(59, -1, -1)]
    assert sustained_cpu(history, now, 300) == round((12 * 95 + 48 * 20) / 60, 1) == 35.0
    # Five-minute samples: fewer than three in the window, so the last three count.
    sparse = [{"at_ms": now - i * 300_000, "cpu_percent": v} for i, v in
              ((3, 10.0), (2, 90.0), (1, 90.0), (0, 60.0))]
    assert sustained_cpu(sparse, now, 300) == 80.0
    assert sustained_cpu([{"at_ms": now, "cpu_percent": None}], now, 300) is None


HELD = {"cpu": Rule("cpu", "warning", 80.0, 5.0, "%", for_s=60.0)}


def run_held(series: list[tuple[int, float | None]]) -> list[str]:
    """Feed (seconds, CPU value) samples to a rule held for 60 s; the action at each one."""
    active: set[str] = set()
    pending: dict[str, int] = {}
    actions = []
    for at_s, value in series:
        changes = evaluate({"cpu": value}, active, HELD, pending, at_s * 1000)
        for c in changes:
            (active.add if c.action == "raise" else active.discard)(c.key)
        actions.append(",".join(c.action for c in changes) or "-")
    return actions


def test_an_alert_raises_only_after_its_condition_held_for_the_duration() -> None:
    # Over the line at 0 s: pending; still over at 30 s: pending; 60 s after it went over: raise.
    assert run_held([(0, 85), (30, 90), (60, 81), (90, 79)]) == ["-", "-", "raise", "-"]
    # Back under the line at 30 s forgets the pending start: over again at 40 s, it needs until
    # 100 s; an unknown value (None) at 70 s neither raises nor forgets.
    assert run_held([(0, 85), (30, 70), (40, 85), (70, None), (99, 85), (100, 85)]) == [
        "-", "-", "-", "-", "-", "raise"]
    # Exactly at the threshold is not over it.
    assert run_held([(0, 80), (60, 80), (120, 80)]) == ["-", "-", "-"]
    # Clearing keeps its hysteresis and needs no hold: 74.9 < 80 - 5 clears at once.
    assert run_held([(0, 85), (60, 85), (65, 74.9)]) == ["-", "raise", "clear"]


def test_a_pending_key_whose_subject_is_gone_is_forgotten() -> None:
    pending = {"cpu": 0, "queue_latency:ml": 0}
    evaluate({"cpu": 85.0}, set(), {**HELD, "queue_latency": Rule(
        "queue_latency", "warning", 60, 15, " s", 60)}, pending, 10_000)
    assert pending == {"cpu": 0}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.one_of(st.none(), st.floats(0, 100))),
                max_size=40))
def test_every_raise_follows_a_full_hold_over_the_line_and_none_is_missed(
        steps: list[tuple[int, float | None]]) -> None:
    """A raise at t: every known sample since some s <= t - 60 s was over the threshold. And a
    run of known samples over it that lasts 60 s or more (and is not yet active) raises."""
    at, series = 0, []
    for dt, value in steps:
        at += dt
        series.append((at, value))
    actions = run_held(series)
    active = False
    for i, action in enumerate(actions):
        if action == "raise":
            # walk back over the known samples while they are over the line
            start = i
            for j in range(i, -1, -1):
                value = series[j][1]
                if value is not None and value <= 80:
                    break
                if value is not None:
                    start = j
            assert series[i][0] - series[start][0] >= 60
            assert not active
            active = True
        elif action == "clear":
            active = False
        value = series[i][1]
        if not active and action == "-" and value is not None and value > 80:
            start = i
            for j in range(i, -1, -1):
                v = series[j][1]
                if v is not None and v <= 80:
                    break
                if actions[j] == "clear":
                    break
                if v is not None:
                    start = j
            assert series[i][0] - series[start][0] < 60


def test_a_value_is_shown_with_the_precision_of_its_threshold() -> None:
    rate = Rule("dead_letter_rate", "warning", 0.05, 0.0125)
    assert rate.message("Dead-letter rate", 0.0312) == (
        "Dead-letter rate at 0.03 (threshold 0.05)")
    assert Rule("x", "warning", 0.005, 0).message("X", 0.0071) == "X at 0.007 (threshold 0.005)"
    assert Rule("x", "warning", 1e-05, 0).message("X", 2.3e-05) == "X at 0.00002 (threshold 1e-05)"
    assert HELD["cpu"].message("CPU", 91.25) == "CPU at 91.2% (threshold 80%)"
