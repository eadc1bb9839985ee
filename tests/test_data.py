"""Training-side readers: SequenceDataset (with DataLoader workers) and the padded export."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.data import PadRule, Part, SequenceDataset, pad_sequence
from emoprep.errors import ConfigError
from emoprep.pipeline.export import export
from emoprep.io.reader import open_features
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import write_manifest

STAGES = {"split": {"folds": 2, "test_fraction": 0.25},
          "embed": {"hog": {"type": "hog"}, "geo": {"type": "landmarks"}},
          "augment": {"names": ["flip", "salt_pepper_1"]}}


@pytest.fixture(scope="module")
def out(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    from tests.helpers import CORPUS

    tmp = tmp_path_factory.mktemp("data")
    root = tmp / "videos"
    root.mkdir()
    for name, *_ in CORPUS:
        shutil.copy2(clip_bank / name, root / name)
    run(write_manifest(tmp / "m.yaml", root, STAGES), tmp / "out", opts=RunOptions(workers=0))
    return tmp / "out"


def test_pad_sequence_rules() -> None:
    x = np.arange(10, dtype=np.float32)[:, None].repeat(2, 1)
    m = np.ones(10, bool)
    f, mm = pad_sequence(x, m, 4, PadRule.SUBSAMPLE)
    assert f[:, 0].tolist() == [0, 3, 6, 9] and mm.tolist() == [1, 1, 1, 1]
    f, mm = pad_sequence(x, m, 4, PadRule.HEAD)
    assert f[:, 0].tolist() == [0, 1, 2, 3]
    f, mm = pad_sequence(x[:3], m[:3], 5)
    assert f[:, 0].tolist() == [0, 1, 2, 0, 0] and mm.tolist() == [1, 1, 1, 0, 0]


def test_augmented_features_differ_and_are_reproducible(out: Path) -> None:
    fs = open_features(out, "hog")
    vid = fs.videos()[0]
    orig, mask = fs.read(vid)
    flip, _ = fs.read(vid, "flip")
    sp, _ = fs.read(vid, "salt_pepper_1")
    assert orig.shape == flip.shape == sp.shape
    assert not np.allclose(orig[mask], flip[mask]) and not np.allclose(orig[mask], sp[mask])
    assert fs.augmentations(vid) == ["flip", "salt_pepper_1"]
    geo = open_features(out, "geo")
    g, gm = geo.read(vid)
    assert g.shape[1] == 136 and np.all(g[~gm] == 0)


def test_dataset_with_two_dataloader_workers(out: Path) -> None:
    from torch.utils.data import DataLoader

    split = json.loads((out / "splits" / "default.json").read_text())
    ds = SequenceDataset(out, features="hog", split="default", fold=0, part="train", max_len=12,
                         augmentations=["flip"])
    assert len(ds) == 2 * len(split["folds"][0]["train"])
    seen = {}
    for x, mask, labels, names in DataLoader(ds, batch_size=2, num_workers=2):
        assert x.shape[1:] == (12, ds.store.read(ds.items[0].video_id)[0].shape[1]) and mask.shape[1] == 12
        for i, n in enumerate(names):
            seen[n] = (x[i].numpy(), int(labels["emotion"][i]))
    assert sorted(seen) == sorted(it.name for it in ds.items)
    for it in ds.items:  # every worker read exactly what the store holds
        f, m = ds.store.read(it.video_id, it.augmentation)
        np.testing.assert_array_equal(seen[it.name][0], pad_sequence(f, m, 12)[0])
        assert ds.classes["emotion"][seen[it.name][1]] == it.labels["emotion"]
    with pytest.raises(ConfigError, match="training part only"):
        SequenceDataset(out, features="hog", split="default", fold=0, part="val", augmentations=["flip"])


def test_export_round_trip_equals_store(out: Path, tmp_path: Path) -> None:
    dest = tmp_path / "all.h5"
    info = export(out, "hog", dest, max_len=1000, part=Part.ALL)
    fs = open_features(out, "hog")
    with h5py.File(dest) as f:
        names = [n.decode() for n in f["names"][()]]
        assert names == fs.videos() and info["n"] == len(names)
        for i, vid in enumerate(names):
            x, m = fs.read(vid)
            T = len(m)
            np.testing.assert_array_equal(f["features"][i, :T], x)
            np.testing.assert_array_equal(f["masks"][i, :T].astype(bool), m)
            assert not f["masks"][i, T:].any() and not f["features"][i, T:].any()
        classes = [c.decode() for c in f["classes_emotion"][()]]
        assert classes == ["happy", "sad"]
        assert f["labels"].shape == (len(names), 2)


def test_features_written_in_blocks_equal_one_block(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """Feature shards are filled block by block (bounded memory); block size never changes values."""
    import emoprep.pipeline.steps.embed as units

    manifest = write_manifest(tmp_path / "m.yaml", corpus, {"embed": {"hog": {"type": "hog"}}, "split": {"folds": 2}})
    run(manifest, tmp_path / "one", opts=RunOptions(workers=0))
    monkeypatch.setattr(units, "EMBED_BLOCK", 7)  # 20 frames per video -> blocks of 7, 7, 6
    run(manifest, tmp_path / "blocks", opts=RunOptions(workers=0))
    a, b = open_features(tmp_path / "one", "hog"), open_features(tmp_path / "blocks", "hog")
    assert a.videos() == b.videos() and len(a.videos()) == len(CORPUS)
    for vid in a.videos():
        np.testing.assert_array_equal(a.read(vid)[0], b.read(vid)[0])
