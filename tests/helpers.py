"""Helpers shared by the tests (fixtures live in conftest.py): the small real-clip corpus, a
manifest writer, and a reader of every dataset of an output folder."""

from __future__ import annotations

from pathlib import Path

# --- a small corpus of real clips cut from the samples (built once per session) ------------------

#: (file name, source clip, first frame, frames)
CORPUS = [
    ("s01_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 0, 40),
    ("s02_sad_1.mp4", "WolfgangLanger_Pexels.mp4", 150, 40),
    ("s03_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 300, 40),
    ("s04_sad_1.mp4", "single_face.mp4", 0, 40),
]
EXTRA = [
    ("s05_happy_1.mp4", "WolfgangLanger_Pexels.mp4", 60, 40),
    ("s06_sad_1.mp4", "WolfgangLanger_Pexels.mp4", 210, 40),
    ("s07_happy_1.mp4", "single_face.mp4", 20, 40),
]
CORPUS_LABELS = {
    "pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)\.mp4",
    "subject": "subject",
    "groups": ["emotion"],
}


def write_manifest(
    path: Path, root: Path, stages: dict | None = None, labels: dict | None = None
) -> Path:
    """Write a manifest for ``root`` (``*.mp4``) with the corpus naming rule.

    The split defaults to 2 folds and no test part (the corpora have 4-7 subjects; the split is
    validated before any work, and 5 folds need more subjects); ``embed`` to none (the tests
    count per-video units; the default embedders, hog and geometry, are tested in
    tests/cli/test_newcomer.py)."""
    import yaml

    stages = {"split": {"folds": 2, "test_fraction": 0.0}, "embed": {}, **(stages or {})}
    raw = {"videos": {"root": str(root), "include": ["*.mp4", "*.mov"]},
           "labels": labels if labels is not None else CORPUS_LABELS,
           "stages": stages}
    path.write_text(yaml.safe_dump(raw))
    return path


def store_arrays(out: Path) -> dict[tuple[str, str], object]:
    """Every dataset of every store in an output folder, keyed (store file, dataset path)."""
    import h5py

    found: dict[tuple[str, str], object] = {}

    def walk(g: h5py.Group, prefix: str, index: Path) -> None:
        for key in g:  # g[key] follows the external links into the shards
            obj = g[key]
            if isinstance(obj, h5py.Dataset):
                found[(index.name, prefix + key)] = obj[()]
            else:
                walk(obj, f"{prefix}{key}/", index)

    for index in [out / "frames.h5", *sorted((out / "features").glob("*.h5"))]:
        with h5py.File(index, "r") as f:
            walk(f, "", index)
    return found


def assert_same_store(a: Path, b: Path) -> None:
    """Every dataset of two output folders is equal (index tables compared as lists)."""
    import numpy as np

    x, y = store_arrays(a), store_arrays(b)
    assert sorted(x) == sorted(y)
    for key in x:
        if key[1] == "table":
            assert x[key].tolist() == y[key].tolist(), key
        else:
            np.testing.assert_array_equal(x[key], y[key], err_msg=str(key))


class NameHashes:
    """A hash cache for planning without files: the "hash" of a file is its name."""

    def file(self, p: Path) -> str:
        return "sha-" + Path(p).name


class NoRecords:
    """A record store for planning from scratch: no unit has run."""

    def get(self, stage: str, video: str) -> None:
        return None

    def problem(self, stage: str, video: str) -> str:
        return ""
