"""The house rules that a reader relies on: small modules, and layers held by import-linter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flowcast"
MAX_LINES = 400


def _modules() -> dict[str, int]:
    return {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
            for p in PACKAGE.rglob("*.py")}


def test_no_module_is_over_400_lines() -> None:
    big = {name: n for name, n in _modules().items() if n > MAX_LINES}
    assert big == {}, f"split these modules by job: {big}"


def test_every_package_directory_is_a_package() -> None:
    missing = [str(d) for d in {p.parent for p in PACKAGE.rglob("*.py")}
               if not (d / "__init__.py").exists()]
    assert missing == []


def test_layer_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    run = subprocess.run([lint], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The contracts are not vacuous: a kernel that imports the engine fails lint-imports."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None
    shutil.copytree(PACKAGE, tmp_path / "flowcast",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    kernel = tmp_path / "flowcast" / "kernels" / "windows.py"
    kernel.write_text(kernel.read_text() + "\nimport flowcast.engine.loop  # noqa\n")
    run = subprocess.run([lint], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0
    assert "flowcast.kernels.windows -> flowcast.engine.loop" in run.stdout
