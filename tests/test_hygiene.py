"""The engine imports no Textual, no Rich and no heavy maths at import, importing does no I/O,
and the whole check is one command: ruff, mypy (strict) and the import contracts run as part of
the tests."""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import gradvy_console

ROOT = Path(__file__).resolve().parent.parent

# Front ends draw (Textual, Rich); everything else is the engine. The import contracts in
# pyproject.toml hold the same line for Textual and Rich statically; this test also catches
# heavy libraries imported at module level (scikit-learn, scipy: imported inside functions).
FRONT_ENDS = ("gradvy_console.app", "gradvy_console.commands", "gradvy_console.console_main",
              "gradvy_console.messages", "gradvy_console.screens", "gradvy_console.widgets",
              "gradvy_console.cli")


def engine_modules() -> list[str]:
    """Every module of the package outside the front ends, found by walking it."""
    found = [m.name for m in pkgutil.walk_packages(gradvy_console.__path__, "gradvy_console.")]
    return sorted(m for m in found if not m.startswith(FRONT_ENDS))


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin"}, timeout=60)


def test_engine_imports_no_textual_rich_or_sklearn(tmp_path: Path) -> None:
    modules = engine_modules()
    assert "gradvy_console.pipeline.processing" in modules and len(modules) > 60
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
              " ('textual', 'rich', 'sklearn', 'scipy'))))")
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_importing_anything_creates_no_file(tmp_path: Path) -> None:
    """`import gradvy_console.tasks` (and every other module) opens no queue, store or live
    state: in an empty directory nothing appears."""
    every = [m.name for m in pkgutil.walk_packages(gradvy_console.__path__, "gradvy_console.")]
    code = "import gradvy_console.tasks\n" + "".join(f"import {m}\n" for m in every)
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert list(tmp_path.iterdir()) == []


def _tool(name: str) -> list[str]:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", name]


def test_ruff_is_clean() -> None:
    out = subprocess.run(_tool("ruff") + ["check", "gradvy_console", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    out = subprocess.run(_tool("mypy"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_contracts_are_kept() -> None:
    """Layers (dependencies point down only), no Textual or Rich below the front ends, no
    import cycle among the folders: `[tool.importlinter]` in pyproject.toml."""
    out = subprocess.run(_tool("lint-imports") + ["--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout
