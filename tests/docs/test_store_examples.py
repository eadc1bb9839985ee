"""docs/STORE.md examples run as written, against a real small run (``out`` in the working
folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_data import shared_run

DOC = Path(__file__).parents[2] / "docs" / "STORE.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_examples() -> None:
    assert len(blocks()) >= 3


@pytest.mark.parametrize("index", range(3))
def test_store_examples_run_as_written(index: int, clip_bank: Path,
                                       tmp_path_factory: pytest.TempPathFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = shared_run(clip_bank, tmp_path_factory)
    monkeypatch.chdir(out.parent)  # the examples read "out"
    code = blocks()[index]
    namespace: dict[str, object] = {}
    exec(compile(code, f"{DOC.name} example {index + 1}", "exec"), namespace)
    assert namespace  # the example defined what it shows
