"""SIGKILL at 14 exact points of a run (work files, records, every kind of shard, both index
files, the record snapshot, the split, the summary, the hash cache); each time nothing partial is
visible, and the resumed run's stores equal a clean run's, dataset by dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emoprep.pipeline.runner import run
from tests.helpers import assert_same_store
from tests.reliability.conftest import INLINE, REPO, assert_nothing_partial, cli

#: (glob of the file being renamed into place, which occurrence) relative to the output folder
POINTS = [
    (".emoprep/hashes.json", 1), (".emoprep/work/probe/*", 1), (".emoprep/records/probe/*", 2),
    (".emoprep/work/window/*", 1), (".emoprep/work/track/*", 1), ("frames/*.h5", 1),
    (".emoprep/records/frames/*", 1), ("au/*.h5", 1), ("features/hog/*.h5", 1),
    ("frames.h5", 1), ("features/hog.h5", 1), (".emoprep/records.snapshot.json", 1),
    ("splits/*.json", 1), ("summary.json", 1),
]


def _killed_at(manifest: Path, out: Path, glob: str, nth: int) -> bool:
    """Run until the point, return True when the run was killed there."""
    env = {**os.environ, "EMOPREP_KILL_AT": f"{out}/{glob}#{nth}"}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "reliability" / "kill_at.py"),
                           "run", "-m", str(manifest), "-o", str(out), "--workers", "0", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, -9), proc.stderr[-2000:]
    return proc.returncode == -9


@pytest.mark.slow
def test_sigkill_at_every_kind_of_write_then_resume_equals_clean_run(two_clips, clean_out,
                                                                     tmp_path: Path) -> None:
    manifest, out = two_clips[1], tmp_path / "out"
    killed = []
    for glob, nth in POINTS:
        if _killed_at(manifest, out, glob, nth):
            killed.append(glob)
        assert_nothing_partial(out)
    assert killed == [g for g, _ in POINTS]  # every point was reached and killed
    final = cli("run", "-m", str(manifest), "-o", str(out), "--workers", "0", "--json")
    assert final.returncode == 0, final.stderr[-2000:]
    assert not list(out.rglob(".*.tmp*"))  # the killed runs' temporaries were swept
    assert_same_store(clean_out, out)
    assert run(manifest, out, opts=INLINE).ran == []
