"""docs/STORE.md examples run as written, against a real small run (``out`` in the working
folder); the example for packed items (schema 2) against the same run with ``batch.enabled``."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from emoprep.pipeline.runner import RunOptions, run
from tests.test_data import shared_run

DOC = Path(__file__).parents[2] / "docs" / "STORE.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


#: the example that reads packed items (docs/STORE.md, "Reading with plain h5py", the second)
PACKED = 1
_PACKED_RUN: dict[str, Path] = {}


def packed_run(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared run's manifest run again with every item in packs (``out`` of another
    folder)."""
    if "out" not in _PACKED_RUN:
        manifest = shared_run(clip_bank, tmp_path_factory).parent / "m.yaml"
        out = tmp_path_factory.mktemp("packed_store") / "out"
        rep = run(manifest, out, overrides=("batch.enabled=true", "batch.max_frames=100000"),
                  opts=RunOptions(workers=0))
        assert all(r["ok"] for r in rep.ran) and (out / "frames/packs/b000001.h5").is_file()
        _PACKED_RUN["out"] = out
    return _PACKED_RUN["out"]


def test_the_page_has_examples() -> None:
    assert len(blocks()) >= 4


@pytest.mark.parametrize("index", range(4))
def test_store_examples_run_as_written(index: int, clip_bank: Path,
                                       tmp_path_factory: pytest.TempPathFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = (packed_run if index == PACKED else shared_run)(clip_bank, tmp_path_factory)
    monkeypatch.chdir(out.parent)  # the examples read "out"
    code = blocks()[index]
    namespace: dict[str, object] = {}
    exec(compile(code, f"{DOC.name} example {index + 1}", "exec"), namespace)
    CHECKS[index](SimpleNamespace(**namespace))  # the example gives what its comments say


#: the run's class list (tests/test_data.py LABELS) and crop side (the align default)
CLASSES, SIZE = ["neutral", "happy", "sad", "angry"], 160


def _raw_h5(ns: SimpleNamespace) -> None:
    """Example 1 (h5py): the last ok video's crops, face mask and labels; a video's features."""
    assert ns.classes["emotion"] == CLASSES
    assert ns.crops.dtype == np.uint8 and ns.crops.shape[1:] == (SIZE, SIZE, 3)
    assert ns.face.dtype == bool and ns.face.shape == (ns.crops.shape[0],) and ns.face.any()
    assert ns.labels["emotion"] in ("happy", "sad") and CLASSES[ns.y] == ns.labels["emotion"]
    assert ns.first.startswith("s0") and ns.x.dtype == np.float32 and ns.x.ndim == 2
    assert ns.x.shape[0] > 0 and ns.x.shape[1] > 1


def _raw_h5_packed(ns: SimpleNamespace) -> None:
    """Example 2 (h5py, packed items): the last ok item's crops, face mask, class, AU scores,
    equal to what open_store reads."""
    from emoprep import open_store

    assert ns.classes["emotion"] == CLASSES and ns.where
    assert ns.crops.dtype == np.uint8 and ns.crops.shape[1:] == (SIZE, SIZE, 3)
    assert ns.face.dtype == bool and ns.face.shape == (ns.crops.shape[0],) and ns.face.any()
    store = open_store("out")
    assert np.array_equal(store.frames(ns.vid), ns.crops)
    m = store.meta(ns.vid)
    assert CLASSES[ns.y] == m["labels"]["emotion"] and ns.attrs["subject"] == m["subject"]
    assert ns.scores.dtype == np.float32 and np.array_equal(ns.scores, m["au"], equal_nan=True)


def _datasets(ns: SimpleNamespace) -> None:
    """Example 3: a padded batch (max_len 100) of the first loader, then a collated test batch."""
    assert ns.vid.startswith("s0") and ns.store.frames(ns.vid).shape[1:] == (SIZE, SIZE, 3)
    for key in ("labels", "subject", "frame_index", "status", "trim_start", "trim_end", "anomaly"):
        assert key in ns.m, key
    assert ns.store.feature_names() == ["hog"]
    assert ns.feats.dtype == np.float32 and ns.feats.shape[0] == ns.m["frame_index"].shape[0]
    assert ns.feats.ndim == 2 and ns.feats.shape[1] > 1
    n = len(ns.store.videos())
    assert repr(ns.store) == f"<FrameStore out: {n} videos, crops {SIZE}x{SIZE}, features hog>"
    assert ns.mask.shape == ns.face.shape and ns.mask.shape[1] == 100
    assert (ns.face <= ns.mask).all()  # no face on padding
    lengths = ns.lengths.numpy()
    assert ns.x.shape[:2] == (len(lengths), lengths.max()) and len(lengths) <= 8


def _sequences(ns: SimpleNamespace) -> None:
    """Example 4: every ok video as a sequence; 2 folds over those outside test."""
    assert ns.seqs.classes["emotion"] == CLASSES and len(ns.folds.folds) == 2
    assert 0 < sum(len(v) for _, v in ns.folds.folds) < len(ns.seqs)


CHECKS = [_raw_h5, _raw_h5_packed, _datasets, _sequences]
