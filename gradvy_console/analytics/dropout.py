"""Dropout risk: a calibrated logistic model over behaviour features, and the guide's rule
baseline it replaces (kept as the fallback when too few outcomes are known).

Training data: users whose outcome is known at `as_of` = now - N days (N = the inactivity
horizon): features from their events before `as_of`, label 1 when they had no event in the N
days after it. The model is plain numbers (coefficients, scaler, imputation, Platt
calibration), so it is saved as JSON and never unpickled. The risk factors shown for a user are
the model's own: each feature's contribution to the logit (coefficient x standardised value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .features import Features, impute
from .frame import DAY_MS, EventFrame
from .scoring import ScoringModel

FEATURES = ("recency_days", "active_days", "active_day_share", "events_per_active_day",
            "recent_share", "trend", "quiz_avg", "quiz_recent_avg", "session_minutes",
            "session_completion", "tenure_days", "events")
MIN_TRAINING_USERS = 30          # and at least 5 of each outcome; else the rule baseline
LABELS = {
    "recency_days": "days since last activity", "active_days": "active days",
    "active_day_share": "share of days active", "events_per_active_day": "events per active day",
    "recent_share": "share of activity in the last week", "trend": "weekly activity trend",
    "quiz_avg": "quiz average", "quiz_recent_avg": "recent quiz average",
    "session_minutes": "session length (min)", "session_completion": "session completion",
    "tenure_days": "days since first activity", "events": "events",
}


def observed_dropout(frame: EventFrame, as_of_ms: int, horizon_days: float) -> np.ndarray:
    """1 for users active before `as_of_ms` with no event in the following `horizon_days`,
    0 for users active in that window, -1 for users with no event before `as_of_ms`."""
    before = np.bincount(frame.user[frame.ts < as_of_ms], minlength=frame.n_users)
    window = (frame.ts >= as_of_ms) & (frame.ts < as_of_ms + horizon_days * DAY_MS)
    after = np.bincount(frame.user[window], minlength=frame.n_users)
    return np.where(before == 0, -1, np.where(after > 0, 0, 1)).astype(np.int8)


def rule_risk(frame: EventFrame, as_of_ms: int, model: ScoringModel) -> np.ndarray:
    """The rule baseline (docs/scoring.md), vectorised: risk_base plus the quiz deltas
    (+quiz_low_risk below quiz_low_ratio, quiz_high_risk above quiz_high_ratio), each decayed by
    its day's age with the scoring half-life, capped to [0, 1]."""
    quiz = (frame.etype == 2) & ~np.isnan(frame.ratio) & (frame.ts < as_of_ms)
    ratio = frame.ratio[quiz].astype(np.float64)
    delta = np.where(ratio < model.quiz_low_ratio, model.quiz_low_risk,
                     np.where(ratio > model.quiz_high_ratio, model.quiz_high_risk, 0.0))
    age = np.maximum(0, as_of_ms // DAY_MS - frame.ts[quiz] // DAY_MS)
    weights = delta * 2.0 ** (-age / model.half_life_days)
    total = np.bincount(frame.user[quiz], weights=weights, minlength=frame.n_users)
    risk: np.ndarray = np.clip(model.risk_base + total, 0.0, 1.0)
    return risk


@dataclass
class DropoutModel:
    features: tuple[str, ...]
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    platt_a: float
    platt_b: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        z, _ = impute(x, self.fill)
        logits: np.ndarray = ((z - self.mean) / self.scale) @ self.coef + self.intercept
        return logits

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of dropping out, per row of `x` (columns = features)."""
        return 1.0 / (1.0 + np.exp(self.platt_a * self.logit(x) + self.platt_b))

    def factors(self, x_row: np.ndarray, top: int = 3) -> list[dict[str, Any]]:
        """The features that push this user's risk up most: name, value, contribution."""
        z, _ = impute(x_row[None, :], self.fill)
        contrib = ((z[0] - self.mean) / self.scale) * self.coef
        order = np.argsort(-contrib)
        out = []
        for i in order[:top]:
            if contrib[i] <= 0:
                break
            value = x_row[i]
            out.append({"factor": self.features[i], "label": LABELS.get(self.features[i],
                                                                        self.features[i]),
                        "value": None if np.isnan(value) else round(float(value), 4),
                        "contribution": round(float(contrib[i]), 4)})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "fill": self.fill.tolist(),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept,
                "platt_a": self.platt_a, "platt_b": self.platt_b}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DropoutModel:
        return cls(tuple(data["features"]), np.asarray(data["fill"]), np.asarray(data["mean"]),
                   np.asarray(data["scale"]), np.asarray(data["coef"]),
                   float(data["intercept"]), float(data["platt_a"]), float(data["platt_b"]))


def select(features: Features, names: tuple[str, ...] = FEATURES) -> np.ndarray:
    return np.column_stack([features.column(n) for n in names])


def train(x: np.ndarray, y: np.ndarray, names: tuple[str, ...] = FEATURES, seed: int = 0
          ) -> DropoutModel | None:
    """Fit the model on rows with a known outcome (y in {0, 1}); None when there are too few
    (the caller keeps the rule baseline)."""
    if len(y) < MIN_TRAINING_USERS or min(int(y.sum()), int(len(y) - y.sum())) < 5:
        return None
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    z, fill = impute(x)
    mean = z.mean(axis=0)
    scale = z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    zs = (z - mean) / scale
    base = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=3, ensemble=False)
    calibrated.fit(zs, y)
    inner = calibrated.calibrated_classifiers_[0]
    fitted = inner.estimator
    platt = inner.calibrators[0]
    return DropoutModel(names, fill, mean, scale, fitted.coef_[0].astype(np.float64),
                        float(fitted.intercept_[0]), float(platt.a_), float(platt.b_))
