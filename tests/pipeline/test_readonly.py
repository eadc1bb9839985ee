"""``status`` and ``run --dry-run`` are read-only and light: they write nothing into the output
folder and import none of torch, dask, scikit-learn, matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import write_manifest


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def done(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import shutil

    root = tmp_path_factory.mktemp("ro")
    videos = root / "videos"
    videos.mkdir()
    for name in ("s01_happy_1.mp4", "s02_sad_1.mp4", "s03_happy_1.mp4"):
        shutil.copy2(clip_bank / name, videos / name)
    manifest = write_manifest(root / "m.yaml", videos)
    out = root / "out"
    run(manifest, out, opts=RunOptions(workers=0))
    return manifest, out


_PROBE = """
import json, sys
from emoprep.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    heavy = ("torch", "dask", "distributed", "sklearn", "matplotlib")
    print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["run", "--dry-run"]])
def test_read_only_commands_write_nothing_and_stay_light(done, args: list[str]) -> None:
    manifest, out = done
    before = _snapshot(out)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args, "-m", str(manifest), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    assert _snapshot(out) == before


def test_status_of_a_fresh_folder_writes_nothing(done, tmp_path: Path) -> None:
    manifest, _ = done
    out = tmp_path / "never_run"
    proc = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "status", "-m", str(manifest),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not out.exists()
