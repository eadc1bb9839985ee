"""docs/REPORT.md runs: every ```python block is executed on a real output folder named ``out``
(the sample clips' ids, as the docs use them)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.report.conftest import EMOPREP

DOC = Path(__file__).resolve().parents[2] / "docs" / "REPORT.md"
SAMPLES_LABELS = {"preset": "generic", "pattern": r"(?P<video>[^/]+)\.(mp4|mov)$",
                  "subject": "video"}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def samples_out(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run over two sample clips, ids as in the samples manifest (single_face, face_noface)."""
    import yaml

    base = tmp_path_factory.mktemp("docs_run")
    manifest = base / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": str(samples_dir), "include": ["single_face.mp4", "face_noface.mov"]},
        "labels": SAMPLES_LABELS, "stages": {"split": {"folds": 2, "test_fraction": 0}}}))
    cmd = [EMOPREP, "run", "-m", str(manifest), "-o", str(base / "out"), "--workers", "0",
           "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return base


def test_doc_has_examples() -> None:
    assert len(python_blocks(DOC.read_text())) >= 5


@pytest.mark.parametrize("index", range(len(python_blocks(DOC.read_text()))))
def test_python_example_runs(index: int, samples_out: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(samples_out)
    code = python_blocks(DOC.read_text())[index]
    exec(compile(code, f"{DOC.name}[python block {index}]", "exec"), {})
    assert capsys.readouterr().out.strip(), "the example printed nothing"
