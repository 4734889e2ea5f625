"""Versioned model artefacts: DATA_DIR/models/NAME/vNNNN/ with meta.json and arrays.npz (read
with allow_pickle=False: nothing is ever unpickled), in a directory only the owner can open;
each save is also a `model_versions` document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..clock import now_ms
from ..config import Config
from ..private_files import private_dir
from .base import DocumentStore


def _models_dir(config: Config, name: str) -> Path:
    path = config.data_dir / "models" / name
    private_dir(config.data_dir / "models")   # artefacts are ours alone
    private_dir(path)
    return path


def save_model(config: Config, store: DocumentStore, name: str, meta: dict[str, Any],
               arrays: dict[str, np.ndarray] | None = None) -> int:
    """Write a new version (meta.json + arrays.npz); returns its number."""
    base = _models_dir(config, name)
    versions = [int(p.name[1:]) for p in base.glob("v[0-9]*") if p.name[1:].isdigit()]
    version = max(versions, default=0) + 1
    path = base / f"v{version:04d}"
    path.mkdir()
    meta = {**meta, "name": name, "version": version, "saved_ms": now_ms()}
    if arrays:
        np.savez_compressed(path / "arrays.npz", **arrays)  # type: ignore[arg-type]
    (path / "meta.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY))
    store.put_documents("model_versions", [{
        "_id": f"{name}:{version:04d}", "name": name, "version": version,
        "saved_ms": meta["saved_ms"], "training": meta.get("training"),
        "params": meta.get("params"), "evaluation": meta.get("evaluation")}])
    return version


def load_model(config: Config, name: str, version: int | None = None, arrays: bool = True
               ) -> tuple[dict[str, Any], Any] | None:
    """The newest version (or `version`): (meta, arrays or None; None too without `arrays`).
    Arrays never unpickle objects."""
    base = config.data_dir / "models" / name
    versions = sorted((p for p in base.glob("v[0-9]*") if (p / "meta.json").is_file()
                       and (version is None or p.name == f"v{version:04d}")),
                      key=lambda p: p.name)
    if not versions:
        return None
    path = versions[-1]
    meta = orjson.loads((path / "meta.json").read_bytes())
    found = None
    if arrays and (path / "arrays.npz").is_file():
        with np.load(path / "arrays.npz", allow_pickle=False) as data:
            found = {k: data[k] for k in data.files}
    return meta, found


def prune_models(config: Config, store: DocumentStore, *, before_ms: int | None = None,
                 keep: int | None = None) -> int:
    """Remove model versions saved before `before_ms` (an erasure: they were trained on the
    learner's data) or beyond the newest `keep` of each model (retention), with their
    `model_versions` documents; returns how many versions went."""
    import shutil

    root = config.data_dir / "models"
    removed: list[str] = []
    if not root.is_dir():
        return 0
    for base in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted((p for p in base.glob("v[0-9]*") if p.name[1:].isdigit()),
                          key=lambda p: p.name)
        doomed: list[Path] = []
        if keep is not None:
            doomed += versions[:-keep] if keep else versions
        if before_ms is not None:
            for path in versions:
                try:
                    saved = int(orjson.loads((path / "meta.json").read_bytes())["saved_ms"])
                except (OSError, ValueError, KeyError, TypeError):
                    saved = 0
                if saved < before_ms and path not in doomed:
                    doomed.append(path)
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"{base.name}:{int(path.name[1:]):04d}")
    if removed:
        store.delete_documents("model_versions", removed)
    return len(removed)
