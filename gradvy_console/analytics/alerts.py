"""Alert rules with hysteresis: pure functions, no I/O.

An alert is raised once when its value crosses the threshold and cleared only when the value
falls below `threshold - hysteresis`, so a value hovering at the line does not flap. Values are
plain numbers keyed by alert kind (e.g. "cpu", "queue_latency:realtime"); a boolean condition
(a dead consumer) is the value 1.0 against a threshold of 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    kind: str
    severity: str  # warning | critical
    threshold: float
    hysteresis: float
    unit: str = ""

    def message(self, subject: str, value: float) -> str:
        if self.unit == "bool":
            return f"{subject}"
        return f"{subject} at {value:.1f}{self.unit} (threshold {self.threshold:g}{self.unit})"


@dataclass(frozen=True)
class Change:
    action: str  # raise | clear
    key: str  # kind or kind:subject
    rule: Rule
    value: float


def evaluate(values: dict[str, float | None], active: set[str], rules: dict[str, Rule]
             ) -> list[Change]:
    """Changes to make given current `values` and the keys of currently active alerts.
    A key is `kind` or `kind:subject`; its rule is looked up by `kind`. A value of None means
    unknown: nothing is raised or cleared for it. Active alerts whose key has no value any
    more (the subject disappeared) are cleared."""
    changes: list[Change] = []
    for key, value in sorted(values.items()):
        rule = rules.get(key.split(":", 1)[0])
        if rule is None or value is None:
            continue
        if key not in active and value > rule.threshold:
            changes.append(Change("raise", key, rule, value))
        elif key in active and value < rule.threshold - rule.hysteresis:
            changes.append(Change("clear", key, rule, value))
    for key in sorted(active - set(values)):
        rule = rules.get(key.split(":", 1)[0])
        if rule is not None:
            changes.append(Change("clear", key, rule, 0.0))
    return changes
