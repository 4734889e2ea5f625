"""Alert rules with a hold duration and hysteresis: pure functions, no I/O.

An alert is raised once its value has stayed over the threshold for the rule's `for_s` seconds
(Prometheus's `for`: a single sample over the line is not an alert) and cleared only when the
value falls below `threshold - hysteresis`, so a value hovering at the line does not flap.
While the value is over the line but not yet for long enough, the alert is *pending*: the
caller keeps the pending keys with the time each first went over (`pending`, key -> ms) and
passes them back on the next evaluation; a value back at or under the line forgets it. Values
are plain numbers keyed by alert kind (e.g. "cpu", "queue_latency:realtime"); a boolean
condition (a dead consumer) is the value 1.0 against a threshold of 0.5.
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
    for_s: float = 0.0  # how long the value must stay over the threshold before it raises

    def message(self, subject: str, value: float) -> str:
        if self.unit == "bool":
            return f"{subject}"
        decimals = shown_decimals(self.threshold)
        return (f"{subject} at {value:.{decimals}f}{self.unit} "
                f"(threshold {self.threshold:g}{self.unit})")


def shown_decimals(threshold: float) -> int:
    """The decimals a value is shown with: as many as its threshold has, at least one
    (a dead-letter rate of 0.0312 against 0.05 reads 0.03, not 0.0)."""
    text = f"{threshold:g}"
    if "e" in text:
        return max(1, -int(text.split("e")[1]))
    return max(1, len(text.partition(".")[2]))


@dataclass(frozen=True)
class Change:
    action: str  # raise | clear
    key: str  # kind or kind:subject
    rule: Rule
    value: float


def evaluate(values: dict[str, float | None], active: set[str], rules: dict[str, Rule],
             pending: dict[str, int] | None = None, now_ms: int = 0) -> list[Change]:
    """Changes to make given current `values` and the keys of currently active alerts.
    A key is `kind` or `kind:subject`; its rule is looked up by `kind`. A value of None means
    unknown: nothing is raised or cleared for it (and a pending key stays pending). Active
    alerts whose key has no value any more (the subject disappeared) are cleared.

    `pending` (key -> ms it first went over) is updated in place: a key over its threshold
    and not active is added at `now_ms` and raised once `now_ms - since >= for_s`; a key at
    or under the line, raised, or gone is removed."""
    pending = {} if pending is None else pending
    changes: list[Change] = []
    for key, value in sorted(values.items()):
        rule = rules.get(key.split(":", 1)[0])
        if rule is None or value is None:
            continue
        if key not in active:
            if value > rule.threshold:
                since = pending.setdefault(key, now_ms)
                if now_ms - since >= rule.for_s * 1000:
                    changes.append(Change("raise", key, rule, value))
                    del pending[key]
            else:
                pending.pop(key, None)
        elif value < rule.threshold - rule.hysteresis:
            changes.append(Change("clear", key, rule, value))
    for key in sorted(active - set(values)):
        rule = rules.get(key.split(":", 1)[0])
        if rule is not None:
            changes.append(Change("clear", key, rule, 0.0))
    for key in set(pending) - set(values):
        del pending[key]
    return changes
