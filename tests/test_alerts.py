from __future__ import annotations

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
