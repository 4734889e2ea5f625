"""The engine imports no Textual and no Rich, starts fast, and the whole check is one command:
ruff and mypy run as part of the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENGINE = ["gradvy_console.config", "gradvy_console.analytics.events",
          "gradvy_console.analytics.scoring", "gradvy_console.analytics.simulator",
          "gradvy_console.store", "gradvy_console.store.sqlite", "gradvy_console.store.mongo",
          "gradvy_console.live", "gradvy_console.live.sqlite", "gradvy_console.live.redis",
          "gradvy_console.ingest", "gradvy_console.queues", "gradvy_console.tasks",
          "gradvy_console.pipeline", "gradvy_console.worker", "gradvy_console.runtime",
          "gradvy_console.console_source", "gradvy_console.operator_actions",
          "gradvy_console.supervisor", "gradvy_console.monitoring",
          "gradvy_console.insights", "gradvy_console.evaluation",
          "gradvy_console.tasks.insights"]


def test_engine_imports_no_textual_rich_or_sklearn(tmp_path: Path) -> None:
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in ENGINE)
            + "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
              " ('textual', 'rich', 'sklearn', 'scipy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={"GRADVY_DATA_DIR": str(tmp_path / "d"),
                                            "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def _tool(name: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", name]


def test_ruff_is_clean() -> None:
    out = subprocess.run(_tool("ruff") + ["check", "gradvy_console", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean() -> None:
    out = subprocess.run(_tool("mypy"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
