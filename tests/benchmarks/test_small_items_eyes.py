"""The same-output baseline of ``benchmarks.small_items --align eyes`` (PLAIN_EYES) makes what
emoprep makes: the same landmarks and the same eye-aligned crops, byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import emoprep
from benchmarks.small_items import PLAIN_EYES, REPO, make_images, manifest


@pytest.mark.slow  # ~1.5 min: the images come from the sample clips, two whole runs
def test_plain_eyes_script_writes_emoprep_crops_and_landmarks(tmp_path: Path) -> None:
    csv = make_images(tmp_path / "images", 6)
    script = tmp_path / "plain_eyes.py"
    script.write_text(PLAIN_EYES)
    subprocess.run([sys.executable, str(script), str(csv), str(tmp_path / "x.h5")], check=True,
                   cwd=REPO)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "emoprep.cli.app", "run", "-m",
                    str(manifest(tmp_path / "m.yaml", csv, "eyes")), "--workers", "0", "-o",
                    str(out), "--set", "batch.enabled=true"], check=True, cwd=REPO,
                   capture_output=True)
    store = emoprep.open_store(out)
    with h5py.File(tmp_path / "x.h5") as f:
        ids = [v.decode() for v in f["video_id"][()]]
        assert len(ids) == 6
        for i, vid in enumerate(ids):
            assert np.asarray(store.meta(vid)["landmarks"])[0].tobytes() == \
                f["landmarks"][i].tobytes()
            assert np.asarray(store.frames(vid))[0].tobytes() == f["crops"][i].tobytes()
