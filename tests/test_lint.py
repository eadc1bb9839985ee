"""The tree is ruff clean with the 100-column limit (pyproject.toml [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_ruff_clean() -> None:
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "emoprep", "tests", "benchmarks",
                          "tools"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:]


def test_no_import_cycles() -> None:
    tool = REPO.parent / "shared" / "tools" / "import_cycles.py"
    if not tool.is_file():  # the steering repo's shared/ sits beside the checkout in CI
        import pytest

        pytest.skip(f"{tool} not present")
    res = subprocess.run([sys.executable, str(tool), "emoprep"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert "0 import cycles" in res.stdout, res.stdout
