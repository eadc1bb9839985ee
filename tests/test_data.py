"""Training inputs on a real run: SequenceDataset (features, AU, crops), lengths and masks kept
apart, variable-length batches with DataLoader workers, packing, load_sequences, anomalies held
back, and labels that are metadata (changing them re-runs no video stage)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.data import (
    PadRule,
    SequenceDataset,
    collate_padded,
    load_sequences,
    pad_sequence,
    pad_to,
)
from emoprep.errors import ConfigError
from emoprep.io.reader import open_features, open_store
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS, CORPUS_LABELS, EXTRA, index_item, write_manifest

#: 6 clips of 6 subjects; kept ranges per video (AU-trim overrides), s06 left as an anomaly
RANGES = {"s01_happy_1": (5, 35), "s02_sad_1": (0, 40), "s03_happy_1": (10, 30),
          "s04_sad_1": (3, 28), "s05_happy_1": (0, 33)}
ANOMALY = "s06_sad_1"
LABELS = {**CORPUS_LABELS, "groups": ["emotion", "take"],
          "maps": {"take": {"1": {"channel": "speech"}}},
          "classes": {"emotion": ["neutral", "happy", "sad", "angry"]}}
STAGES = {"split": {"folds": 2, "test_fraction": 0.34}, "embed": {"hog": {"type": "hog"}},
          "augment": {"names": ["flip"]}, "window": {"mode": "au_trim"},
          "trim": {"anomaly_last": 1000, "overrides": "trim.yaml"}}
_RUNS: dict[str, Path] = {}


def shared_run(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run for every test module that asks (the manifest lies next to ``out``)."""
    if "out" not in _RUNS:
        tmp = tmp_path_factory.mktemp("store")
        root = tmp / "videos"
        root.mkdir()
        for name, *_ in CORPUS + EXTRA[:2]:
            shutil.copy2(clip_bank / name, root / name)
        (root / "trim.yaml").write_text(
            "".join(f"{k}: [{a}, {b}]\n" for k, (a, b) in RANGES.items())
        )
        report = run(write_manifest(tmp / "m.yaml", root, STAGES, LABELS), tmp / "out",
                     opts=RunOptions(workers=0))
        assert report.anomalies == [ANOMALY] and all(r["ok"] for r in report.ran)
        _RUNS["out"] = tmp / "out"
    return _RUNS["out"]


@pytest.fixture(scope="module")
def out(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_run(clip_bank, tmp_path_factory)


def _split(out: Path) -> dict:
    return json.loads((out / "splits" / "default.json").read_text())


def test_pad_to_keeps_length_padding_and_faces_apart() -> None:
    """The noface_face case: no face in frames 0-27, a face in 28-84, 85 frames padded to 100."""
    x = np.arange(85, dtype=np.float32)[:, None].repeat(3, 1)
    face = np.arange(85) >= 28
    p = pad_to(x, face, 100)
    assert p.length == 85 and p.mask.sum() == 85 and p.mask[:85].all() and not p.mask[85:].any()
    assert p.face_mask.tolist() == [False] * 28 + [True] * 57 + [False] * 15
    np.testing.assert_array_equal(p.x[:85], x)  # frames without a face stay, as they are stored
    old_mask = pad_sequence(x, face, 100)[1]  # the one mask of before: 57, not the length 85
    assert old_mask.sum() == 57 != p.length
    long = pad_to(np.arange(10, dtype=np.float32)[:, None], np.ones(10, bool), 4, PadRule.SUBSAMPLE)
    assert long.x[:, 0].tolist() == [0, 3, 6, 9] and long.length == 4
    assert pad_to(np.arange(10, dtype=np.float32)[:, None], np.ones(10, bool), 4,
                  PadRule.HEAD).x[:, 0].tolist() == [0, 1, 2, 3]
    free = pad_to(x, face, None)
    assert free.x.shape == (85, 3) and free.mask.all()


def test_dataset_items_have_lengths_masks_and_stable_classes(out: Path) -> None:
    ds = SequenceDataset(out, features="hog", max_len=45)
    fs = open_features(out, "hog")
    assert ds.classes["emotion"] == ["neutral", "happy", "sad", "angry"]  # declared, not present
    assert [it.video_id for it in ds.items] == sorted(RANGES)  # the anomaly is held back
    assert ds.selection.held_back == [ANOMALY]
    for i, it in enumerate(ds.items):
        item = ds[i]
        feats, face = fs.read(it.video_id)
        n = RANGES[it.video_id][1] - RANGES[it.video_id][0]
        assert len(feats) == n and int(item["length"]) == n and int(item["mask"].sum()) == n
        np.testing.assert_array_equal(item["x"][:n].numpy(), feats)
        np.testing.assert_array_equal(item["face_mask"][:n].numpy(), face)
        assert not item["face_mask"][n:].any() and not item["x"][n:].any()
        assert ds.classes["emotion"][int(item["y"]["emotion"])] == it.labels["emotion"]
    with_anomaly = SequenceDataset(out, features="hog", include_anomalies=True)
    assert ANOMALY in [it.video_id for it in with_anomaly.items]
    with pytest.raises(ConfigError, match="max_len: expected >= 1 or None, got 0"):
        SequenceDataset(out, features="hog", max_len=0)


def test_variable_length_batches_with_two_dataloader_workers(out: Path) -> None:
    from torch.utils.data import DataLoader

    split = _split(out)
    ds = SequenceDataset(out, features="hog", fold=0, part="train", max_len=None,
                         augmentations=["flip"])
    assert ds.selection.split.name == "default"  # the manifest's split, without asking
    assert sorted({it.video_id for it in ds.items}) == sorted(split["folds"][0]["train"])
    fs, seen = open_features(out, "hog"), {}
    for batch in DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_padded):
        assert batch["x"].shape[1] == int(batch["lengths"].max())
        for j, name in enumerate(batch["names"]):
            seen[name] = batch["x"][j, : int(batch["lengths"][j])].numpy()
            assert int(batch["mask"][j].sum()) == int(batch["lengths"][j])
    assert sorted(seen) == sorted(it.name for it in ds.items)
    for it in ds.items:
        np.testing.assert_array_equal(seen[it.name], fs.read(it.video_id, it.augmentation)[0])


def test_packing_with_lengths_equals_each_sequence_alone(out: Path) -> None:
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    ds = SequenceDataset(out, features="hog", max_len=None)
    batch = collate_padded([ds[i] for i in range(len(ds))])
    assert len(set(batch["lengths"].tolist())) > 1
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(batch["x"].shape[2], 8, batch_first=True)
    with torch.no_grad():
        packed = pack_padded_sequence(batch["x"], batch["lengths"], batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = lstm(packed)
        for j in range(len(ds)):
            alone = batch["x"][j : j + 1, : int(batch["lengths"][j])]
            torch.testing.assert_close(h[0, j], lstm(alone)[1][0][0, 0])


def test_au_and_crop_datasets(out: Path) -> None:
    store = open_store(out)
    vid = sorted(RANGES)[0]
    au = SequenceDataset(out, features="au", max_len=None)
    item = au[0]
    meta = store.meta(vid)
    rows = np.searchsorted(meta["au_frame_index"], meta["frame_index"])
    expect = np.nan_to_num(meta["au"][rows])
    assert item["x"].shape == (len(meta["frame_index"]), len(meta["au_names"]))
    np.testing.assert_allclose(item["x"].numpy(), expect, rtol=0, atol=0)
    crops = SequenceDataset(out, features="frames", max_len=8)
    c = crops[0]
    assert c["x"].shape == (8, 3, 160, 160) and int(c["length"]) == 8
    first = store.frames(vid)[0]
    np.testing.assert_allclose(c["x"][0].numpy(), np.moveaxis(first, -1, 0) / 255.0, atol=1e-6)


def test_load_sequences_builds_the_trainer_contract(out: Path) -> None:
    from emoprep.train.data import validate

    seqs, folds = load_sequences(out, "hog", augmentations=["flip"])
    validate(seqs, folds)
    split = _split(out)
    assert folds.name == "default" and len(folds.folds) == 2
    assert seqs.classes == {"emotion": ["neutral", "happy", "sad", "angry"]}
    assert ANOMALY not in seqs.video_ids.tolist() and len(seqs) == 5
    for k, (tr, va) in enumerate(folds.folds):
        assert sorted(seqs.video_ids[tr]) == [v for v in split["folds"][k]["train"] if v != ANOMALY]
        assert sorted(seqs.video_ids[va]) == [v for v in split["folds"][k]["val"] if v != ANOMALY]
    assert sorted(seqs.video_ids[folds.test]) == [v for v in split["test"] if v != ANOMALY]
    assert len(seqs.augmented["flip"]) == len(seqs)
    both, folds2 = load_sequences(out, "hog", tasks=["emotion", "channel"], include_anomalies=True)
    assert both.classes["channel"] == ["speech"] and ANOMALY in both.video_ids.tolist()
    assert folds2.digest != folds.digest
    with pytest.raises(ConfigError, match="did you mean 'emotion'"):
        load_sequences(out, "hog", tasks="emotoin")
    with pytest.raises(ConfigError, match="got 'authenticity'"):  # joint needs two labels
        load_sequences(out, "hog", tasks="joint")


def test_labels_are_metadata_three_acts(out: Path, tmp_path: Path) -> None:
    """Act 1: the run. Act 2: unchanged, nothing runs. Act 3: new labels, maps, class list and
    vocabulary: no video stage runs; the indexes, the split and what the readers give change."""
    work = tmp_path / "copy"
    shutil.copytree(out.parent, work, symlinks=True)
    manifest = work / "m.yaml"
    raw = manifest.read_text().replace(str(out.parent), str(work))
    manifest.write_text(raw)
    again = run(manifest, work / "out", opts=RunOptions(workers=0))
    assert again.ran == [] and again.split["state"] == "up-to-date"
    changed = run(manifest, work / "out", ("labels.maps.emotion={happy: happy, sad: sad}",
                                           "labels.vocabulary=basic7"), RunOptions(workers=0))
    assert changed.ran == [], changed.ran  # before: frames and every embedder re-ran
    assert changed.split["state"] == "written"
    ds = SequenceDataset(work / "out", features="hog")
    assert ds.classes["emotion"][:4] == ["anger", "disgust", "fear", "happiness"]
    assert {it.labels["emotion"] for it in ds.items} == {"happiness", "sadness"}
    with h5py.File(work / "out" / "frames.h5") as f:
        vid = sorted(RANGES)[0]
        assert json.loads(index_item(f, vid).attrs["labels"])["emotion"] == "happiness"


def test_keep_test_anomalies_keeps_them_in_the_test_part_only(out: Path) -> None:
    """003 §3.2.1 reworked its anomalies by hand, so its test part has every video: with
    ``keep_test_anomalies`` a flagged test video stays (untrimmed), the folds still leave it out."""
    split = _split(out)
    seqs, folds = load_sequences(out, "hog", keep_test_anomalies=True)
    assert ANOMALY in split["test"]  # the fixture's split puts the anomaly in the test part
    assert sorted(seqs.video_ids[folds.test]) == sorted(split["test"])
    for tr, va in folds.folds:
        assert ANOMALY not in [*seqs.video_ids[tr], *seqs.video_ids[va]]
    i = seqs.video_ids.tolist().index(ANOMALY)
    assert len(seqs.features[i]) == len(open_store(out).meta(ANOMALY)["au_frame_index"])
    plain, plain_folds = load_sequences(out, "hog")
    assert ANOMALY not in plain.video_ids.tolist() and plain_folds.digest != folds.digest
