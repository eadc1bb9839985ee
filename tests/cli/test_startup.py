"""Start-up: the CLI, ``status`` and a no-op ``run`` import the heavy libraries only where they
are used (issue 12: ``emoprep run`` on an up-to-date folder in under a second). Each check runs in
a fresh interpreter, since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_data import shared_run

#: never needed to import the CLI, plan, report status or skip up-to-date units
NEVER = ("torch", "dask", "distributed", "sklearn", "matplotlib", "cv2")
#: not needed to import the CLI or to report status (a run reads and writes shards)
READ_ONLY = (*NEVER, "h5py")


def loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """The ``names`` found in ``sys.modules`` after ``code`` ran in a fresh interpreter."""
    probe = (f"import sys\n{code}\n"
             f"print('LOADED=' + __import__('json').dumps([n for n in {list(names)!r} "
             f"if n in sys.modules]))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    line = [x for x in res.stdout.splitlines() if x.startswith("LOADED=")]
    assert line, f"rc {res.returncode}: {res.stdout[-2000:]} {res.stderr[-2000:]}"
    return json.loads(line[-1].removeprefix("LOADED="))


def test_cli_import_loads_no_heavy_library() -> None:
    assert loaded_after("import emoprep.cli.app", READ_ONLY) == []


def test_align_imports_no_opencv() -> None:
    """AlignConfig (read by every manifest) comes without OpenCV; align_face imports it."""
    assert loaded_after("import emoprep.stages.align", ("cv2", "h5py", "sklearn")) == []


@pytest.mark.parametrize("command", ["status", "run"])
def test_status_and_noop_run_load_no_heavy_library(command: str, clip_bank: Path,
                                                   tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    out = shared_run(clip_bank, tmp_path_factory)
    args = [command, "-m", str(out.parent / "m.yaml"), "-o", str(out), "--json"]
    code = ("from emoprep.cli.app import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit as exc:\n"
            "    assert not exc.code, exc.code")
    assert loaded_after(code, READ_ONLY) == []
