"""Model training: the recommender and the dropout model on everything stored (bot-like
learners left out), each evaluated on a split of the same data, saved as new versions with
their card (training size, date, parameters, evaluation, features); older versions beyond
`[retention] model_versions` pruned. A model trained on nothing, or a dropout model whose
learners all had the same outcome, is refused: nothing of it is saved and the previous version
stays current. A new dropout model refreshes the analyses and segments computed before it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analytics import dropout
from ..analytics import recommend as rec
from ..clock import now_ms
from ..config import Config
from ..errors import GradvyError
from ..live import LiveState
from ..store import DocumentStore
from ..store.models import load_model, prune_models, save_model
from .analysis import refresh_analyses, train_dropout
from .cohort import bot_users, load_frame
from .recommendations import evaluate_recommender
from .segments import update_segments

RECOMMENDER_FEATURES = ["interests: category counts of every event naming a course or "
                        "category, posterior shares with a fitted Dirichlet prior",
                        "courses' share of their category's choices",
                        "item-item cosine similarity of interaction strengths",
                        "popularity (fallback)"]


def _current(config: Config, name: str) -> int | None:
    found = load_model(config, name, arrays=False)
    return int(found[0]["version"]) if found else None


def update_models(config: Config, store: DocumentStore, live: LiveState | None = None,
                  refuse: bool = True) -> dict[str, Any]:
    """Train the recommender and the dropout model on everything stored (bot-like users left
    out), evaluate each on a split of the same data, save new versions, prune old ones, and
    refresh what a new dropout model makes stale. With `refuse`, a refusal raises a
    GradvyError (exit 2) after whatever could be saved was; without, it is only reported."""
    frame = load_frame(store)
    # As of the newest stored event when the data stops before now (an imported or simulated
    # history): windows after the last event would hold nothing to learn from.
    at = min(now_ms(), int(frame.ts.max()) + 1) if len(frame) else now_ms()
    exclude = bot_users(store)
    excluded_ix = np.array([i for i, u in enumerate(frame.users) if u in exclude], dtype=int)
    out: dict[str, Any] = {"at_ms": at, "excluded_bot_users": len(excluded_ix)}
    if frame.n_users - len(excluded_ix) <= 0:
        sentence = ("No learners to train on (the store holds no events"
                    + (f", only {len(excluded_ix)} bot-like learners'" if len(excluded_ix)
                       else "") + "): nothing was saved; the current models stay ("
                    + _stays(config) + ").")
        if refuse:
            raise GradvyError(sentence, exit_code=2)
        out["recommender"] = out["dropout"] = {"version": None, "reason": sentence}
        return out
    params = rec.RecommenderParams(half_life_days=config.insights.recommend_half_life_days,
                                   limit=config.insights.recommend_limit)
    if not frame.courses:
        out["recommender"] = {"version": None, "reason": "no course interactions stored yet"}
    else:
        span_start = int(frame.ts.min())
        split = at - int((at - span_start) * config.insights.holdout_share)
        evaluation = evaluate_recommender(frame, split, params, excluded_ix)
        model, strengths = rec.train(frame, at + 1, params, excluded_ix)
        version = save_model(config, store, "recommender", {
            "courses": model.courses, "categories": model.categories,
            "params": params.__dict__, "prior_strength": model.prior_strength,
            "evaluation": evaluation, "features": RECOMMENDER_FEATURES,
            "training": {"users": int(strengths.shape[0] - len(excluded_ix)),
                         "courses": int(strengths.shape[1]), "interactions": int(strengths.nnz),
                         "events": len(frame)}}, model.to_arrays())
        out["recommender"] = {"version": version, "evaluation": evaluation}
    model_d, info = train_dropout(config, frame, at, exclude)
    refused = None
    if info["users"] > 0 and info["dropped_out"] in (0, info["users"]):
        stayed = "dropped out" if info["dropped_out"] else "stayed"
        refused = (f"The dropout model was not saved: all {info['users']:,} learners with a "
                   f"known outcome {stayed} (one class; a model needs both); "
                   + ("the recommender was saved as v" + str(out["recommender"]["version"])
                      + "; " if out["recommender"].get("version") else "")
                   + f"the current dropout model stays ({_stays(config, 'dropout')}).")
        out["dropout"] = {"version": None, "reason": refused, "training": info}
    elif model_d is None:
        out["dropout"] = {"version": None, "reason": "too few users with a known outcome; "
                          "the rule baseline stays in use", "training": info}
    else:
        version = save_model(config, store, "dropout", {
            "model": model_d.to_json(), "training": info,
            "evaluation": info.get("evaluation"), "features": list(dropout.FEATURES),
            "params": {"C": 1.0, "calibration": "sigmoid"}})
        out["dropout"] = {"version": version, "training": info}
        # Analyses (and segments) computed by the rule or an older model are stale now. The
        # segments' run analyses every consenting learner itself: one pass does both.
        if store.get_documents("segment_runs"):
            run = update_segments(config, store, live, frame)
            out["refreshed_analyses"] = out["refreshed_segments"] = run["users"]
        else:
            out["refreshed_analyses"] = refresh_analyses(config, store, live, frame)
    out["pruned_versions"] = prune_models(config, store, keep=config.retention.model_versions)
    if refused and refuse:
        raise GradvyError(refused, exit_code=2)
    return out


def _stays(config: Config, name: str | None = None) -> str:
    names = [name] if name else ["recommender", "dropout"]
    said = []
    for n in names:
        v = _current(config, n)
        said.append(f"{n} " + (f"v{v}" if v else "none yet" if n != "dropout"
                                else "none yet: the rule"))
    return ", ".join(said)


def model_cards(config: Config, store: DocumentStore) -> list[dict[str, Any]]:
    """Every kept model version's card, newest first per model: name, version, current or
    not, saved date, training size, parameters, evaluation and features."""
    current = {n: _current(config, n) for n in ("recommender", "dropout")}
    cards = []
    for doc in store.get_documents("model_versions"):
        found = load_model(config, doc["name"], version=doc["version"], arrays=False)
        meta = found[0] if found else {}
        cards.append({"name": doc["name"], "version": doc["version"],
                      "current": current.get(doc["name"]) == doc["version"],
                      "saved_ms": doc.get("saved_ms"), "training": meta.get("training"),
                      "params": meta.get("params"), "evaluation": meta.get("evaluation"),
                      "features": meta.get("features")})
    return sorted(cards, key=lambda c: (c["name"], -int(c["version"])))
