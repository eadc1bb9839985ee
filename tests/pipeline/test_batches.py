"""Batches of small items written as packs (issue 22 items 1 and 2), on real clips: the corpus's
four 40-frame clips are small (``batch.max_frames: 60``), a 90-frame clip is not.

A packed run holds exactly the data of a per-video run (every dataset the index links, every
attribute but ``schema_version``) and every reader reads it (``open_store``, ``SequenceDataset``,
``export``, plain h5py as docs/STORE.md shows); membership is stable (three acts: new items go
into new batches, a changed item re-runs only its batch, a no-op run runs nothing); a damaged
pack re-runs its batch only; a failed item is recorded with its reason and the others finish;
a killed pack's temporary is swept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep import open_store
from emoprep.pipeline.runner import RunOptions, run, status
from emoprep.types import UnitState
from tests.helpers import EXTRA, store_arrays, write_manifest

INLINE = RunOptions(workers=0)
BATCH = ("batch.enabled=true", "batch.max_frames=60", "batch.items=2")
STAGES = {"embed": {"hog": {"type": "hog"}}}
LONG = "s09_happy_1.mp4"  # 90 frames: not small


@pytest.fixture(scope="module")
def long_clip(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoprep.samples import cut_clip

    path = tmp_path_factory.mktemp("long") / LONG
    assert cut_clip(samples_dir / "WolfgangLanger_Pexels.mp4", path, 100, 90) == 90
    return path


SMALL = ("s01_happy_1", "s02_sad_1", "s03_happy_1", "s04_sad_1")


def _objects(f: h5py.File) -> list[str]:
    """Every object path of an index file, not following its external links."""
    found: list[str] = []
    f.visit_links(found.append)
    return found


def _same_data(a: Path, b: Path) -> None:
    """Every dataset the index files link is equal in both output folders."""
    x, y = store_arrays(a), store_arrays(b)
    assert sorted(x) == sorted(y)
    for k in x:
        assert np.array_equal(x[k], y[k], equal_nan=np.asarray(x[k]).dtype.kind == "f"), k


def _ran(rep) -> set[tuple[str, str]]:
    return {(r["stage"], r["video_id"]) for r in rep.ran}


def _packs(out: Path) -> dict[str, int]:
    """Every pack of the folder (relative path) -> its mtime_ns."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("packs/*.h5")}


def test_a_packed_run_holds_the_per_video_data_and_every_reader_reads_it(
        corpus: Path, long_clip: Path, tmp_path: Path) -> None:
    shutil.copy2(long_clip, corpus / LONG)
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    run(manifest, v1, opts=INLINE)
    rep = run(manifest, v2, overrides=BATCH, opts=RunOptions(workers=2))  # jobs pickled
    assert {v["status"] for v in rep.videos} == {"ok"}
    _same_data(v1, v2)
    # two batches of two small clips; one pack per artifact and batch; the long clip alone
    assert sorted(p for p in _packs(v2) if p.startswith("frames/")) == [
        "frames/packs/b000001.h5", "frames/packs/b000002.h5"]
    assert len(_packs(v2)) == 6 * 2  # probe, window, track, au, frames, hog
    assert sorted(p.name for p in (v2 / "frames").glob("*.h5")) == [LONG.replace(".mp4", ".h5")]
    with h5py.File(v2 / "frames.h5", "r") as f:  # packed items: rows of the items table
        assert f.attrs["schema_version"] == 2
        assert list(f["videos"]) == [LONG.replace(".mp4", "")]  # a group only per video
        rows = {(r["video_id"].decode(), r["part"].decode()): r for r in f["items"][()]}
        assert sorted(rows) == sorted((v, p) for v in SMALL for p in ("", "au"))
        r = rows[("s02_sad_1", "")]
        assert r["pack"].decode() == "frames/packs/b000001.h5"
        assert f.get("packs/frames/packs/b000001.h5", getlink=True).path == "/data"
        assert json.loads(r["attrs"])["subject"] == "s02"
        assert json.loads(rows[("s02_sad_1", "au")]["attrs"])["au_source"] == "landmarks"
        assert rows[("s02_sad_1", "au")]["pack"].decode() == "au/packs/b000001.h5"
        assert not [k for k in _objects(f) if k.split("/")[-1] in SMALL]  # no per-item object
    with h5py.File(v2 / "frames/packs/b000001.h5", "r") as f:
        table = f["items"][()]
        assert [r["video_id"].decode() for r in table] == ["s01_happy_1", "s02_sad_1"]
        (s1, e1), (s2, e2) = table["frames"]
        assert s1 == 0 and e1 == s2 and e2 == f["data/frames"].shape[0]  # rows end to end
        assert sorted(f) == ["data", "items"] and not f["data"].attrs  # one array per dataset
    a, b = open_store(v1), open_store(v2)
    assert a.videos() == b.videos()
    for vid in a.videos():
        ma, mb = a.meta(vid), b.meta(vid)
        packed = 1 if vid == LONG.replace(".mp4", "") else 2  # the long clip: a shard
        assert ma.pop("schema_version") == 1 and mb.pop("schema_version") == packed
        assert ma.keys() == mb.keys()
        for k in ma:  # the attributes (labels, fingerprints, ...) and arrays, value for value
            x, y = ma[k], mb[k]
            if isinstance(x, np.ndarray):
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (vid, k)
            else:
                assert x == y and type(x) is type(y), (vid, k, x, y)
        assert np.array_equal(a.features(vid, "hog"), b.features(vid, "hog"))
    _same_readers(v1, v2, tmp_path)
    st = status(manifest, v2, overrides=BATCH)
    assert all(c["up-to-date"] == 5 for c in st.stages.values()), st.stages
    assert run(manifest, v2, overrides=BATCH, opts=INLINE).ran == []


def _same_readers(v1: Path, v2: Path, tmp_path: Path) -> None:
    """SequenceDataset, export and the plain-h5py example of docs/STORE.md give the same."""
    from emoprep.data import SequenceDataset
    from emoprep.export.padded import ExportOptions, export

    for out in (v1, v2):
        export(out, "hog", tmp_path / f"{out.name}.h5", ExportOptions(max_len=50))
    with h5py.File(tmp_path / "v1.h5", "r") as f, h5py.File(tmp_path / "v2.h5", "r") as g:
        for k in ("features", "lengths", "mask", "face_mask", "labels", "names"):
            assert np.array_equal(f[k][()], g[k][()]), k
    da, db = (SequenceDataset(o, features="hog", part="all", max_len=None) for o in (v1, v2))
    assert len(da) == len(db) == 5
    for i in range(len(da)):
        assert np.array_equal(da[i]["x"].numpy(), db[i]["x"].numpy())
    plain = {}
    for out in (v1, v2):  # the examples of docs/STORE.md, "Reading with plain h5py"
        with h5py.File(out / "frames.h5", "r") as f:
            rows = f["items"][()] if "items" in f else []
            where = {(r["video_id"].decode(), r["part"].decode()): r for r in rows}
            for row in f["table"]:
                vid = row["video_id"].decode()
                if (vid, "") in where:
                    r = where[(vid, "")]
                    data = f["packs"][r["pack"].decode()]
                    (s, e), (s2, e2) = r["frames"], r["status"]
                    crops, status = data["frames"][s:e], data["status"][s2:e2]
                else:
                    g = f["videos"][vid]
                    crops, status = g["frames"][()], g["status"][()]
                plain[(out.name, vid)] = (crops.sum(), (status != 0).sum())
    assert {k[1]: v for k, v in plain.items() if k[0] == "v1"} == \
        {k[1]: v for k, v in plain.items() if k[0] == "v2"}


def test_batches_are_stable_new_items_new_batches_a_change_reruns_its_batch(
        corpus: Path, clip_bank: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    # act 1: four small clips, two batches
    rep = run(manifest, out, overrides=BATCH, opts=INLINE)
    assert {v["status"] for v in rep.videos} == {"ok"}
    first = _packs(out)
    # act 2: a new clip goes into a new batch; the two batches stay as they are
    extra = EXTRA[0][0]
    shutil.copy2(clip_bank / extra, corpus / extra)
    st = status(manifest, out, overrides=BATCH)
    assert st.stages["frames"]["missing"] == 1 and st.stages["frames"]["up-to-date"] == 4
    rep = run(manifest, out, overrides=BATCH, opts=INLINE)
    assert {vid for _, vid in _ran(rep)} == {extra.replace(".mp4", "")}
    now = _packs(out)
    assert {k: now[k] for k in first} == first  # not rewritten
    assert sorted(set(now) - set(first)) == sorted(p.replace("b000001", "b000003")
                                                   for p in first if "b000001" in p)
    # act 3: one item's content changes: only its units run, only its batch's packs are
    # rewritten (its partner is copied in and keeps its record, with the new checksums)
    shutil.copy2(clip_bank / EXTRA[1][0], corpus / "s02_sad_1.mp4")
    st = status(manifest, out, overrides=BATCH)
    why = {vid: reason for vid, state, reason in st.units["probe"]}
    assert list(why) == ["s02_sad_1"] and why["s02_sad_1"].startswith("input content changed")
    rep = run(manifest, out, overrides=BATCH, opts=INLINE)
    assert {vid for _, vid in _ran(rep)} == {"s02_sad_1"}
    after = _packs(out)
    assert {k for k in after if after[k] != now[k]} == {k for k in now if "b000001" in k}
    # the store equals a clean packed run over the same inputs (same batches: manifest order)
    clean = tmp_path / "clean"
    run(manifest, clean, overrides=BATCH, opts=INLINE)
    _same_data(clean, out)
    # act 4: nothing changed, nothing runs; every unit is up to date
    assert run(manifest, out, overrides=BATCH, opts=INLINE).ran == []
    st = status(manifest, out, overrides=BATCH)
    assert all(c["up-to-date"] == 5 for c in st.stages.values()), st.stages


def test_a_damaged_pack_reruns_its_batch_only(corpus: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    run(manifest, out, overrides=BATCH, opts=INLINE)
    before = store_arrays(out)
    full = status(manifest, out, overrides=BATCH, verify=True)  # every pack read in full, once
    assert all(c["up-to-date"] == 4 for c in full.stages.values()), full.stages
    pack = out / "frames/packs/b000002.h5"
    data = bytearray(pack.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # same size, other bytes
    pack.write_bytes(bytes(data))
    st = status(manifest, out, overrides=BATCH)
    bad = {vid: reason for vid, state, reason in st.units["frames"]}
    assert set(bad) == {"s03_happy_1", "s04_sad_1"}
    assert all(r.startswith("output corrupt: frames/packs/b000002.h5") for r in bad.values()), bad
    rep = run(manifest, out, overrides=BATCH, opts=INLINE)
    assert _ran(rep) == {(s, v) for v in ("s03_happy_1", "s04_sad_1")
                         for s in ("frames", "embed:hog")}
    after = store_arrays(out)
    for k in before:
        assert np.array_equal(before[k], after[k], equal_nan=np.asarray(before[k]).dtype.kind
                              == "f"), k


def test_a_failed_item_is_recorded_with_its_reason_and_the_batch_finishes(
        corpus: Path, tmp_path: Path) -> None:
    import cv2

    w = cv2.VideoWriter(str(corpus / "s07_sad_1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0,
                        (160, 120))
    for _ in range(20):
        w.write(np.zeros((120, 160, 3), np.uint8))  # no face anywhere
    w.release()
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    rep = run(manifest, out, overrides=(*BATCH, "batch.items=5"), opts=INLINE)
    states = {v["video_id"]: (v["status"], v["error"]) for v in rep.videos}
    assert states.pop("s07_sad_1")[1].startswith("track: video s07_sad_1: no frame of the clip "
                                                 "showed a face")
    assert {s for s, _ in states.values()} == {"ok"}
    with h5py.File(out / "frames/packs/b000001.h5", "r") as f:
        ids = [r.decode() for r in f["items"]["video_id"]]
        assert "s07_sad_1" not in ids and len(ids) == 4
    with h5py.File(out / ".emoprep/work/probe/packs/b000001.h5", "r") as f:
        assert b"s07_sad_1" in list(f["items"]["video_id"])  # its probe succeeded
    st = status(manifest, out, overrides=(*BATCH, "batch.items=5"))
    assert st.stages["track"][UnitState.DATA_FAILED.value] == 1
    assert run(manifest, out, overrides=(*BATCH, "batch.items=5"), opts=INLINE).ran == []


def test_membership_is_kept_in_the_records_and_switching_batching_off_keeps_it(
        corpus: Path, tmp_path: Path) -> None:
    from emoprep.pipeline.session import open_session

    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    run(manifest, out, overrides=BATCH, opts=INLINE)
    session = open_session(manifest, out)  # batch.enabled false: items stay where they are
    plan = session.plan()
    assert plan.batch_of == {"s01_happy_1": "b000001", "s02_sad_1": "b000001",
                             "s03_happy_1": "b000002", "s04_sad_1": "b000002"}
    assert all(session.records.get("track", v).summary["batch"] == b
               for v, b in plan.batch_of.items())
    from emoprep.pipeline.trim_plots import write_trim_plots

    assert len(write_trim_plots(session)) == 4  # the AU trim data read from the packs
    assert run(manifest, out, opts=INLINE).ran == []


def test_a_killed_packs_temporary_is_swept(corpus: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    run(manifest, out, overrides=BATCH, opts=INLINE)
    left = [out / "frames/packs/.b000003.h5.123.deadbeef.tmp",
            out / ".emoprep/work/track/packs/.b000003.h5.123.deadbeef.tmp"]
    for p in left:
        p.write_bytes(b"half a pack")
    assert run(manifest, out, overrides=BATCH, opts=INLINE).ran == []
    assert not any(p.exists() for p in left)


def test_a_per_video_folder_keeps_its_files_until_its_items_run_again(corpus: Path,
                                                                      tmp_path: Path) -> None:
    """Schema 1 folders keep working with batching on (their items stay per video while up to
    date); ``--force probe`` moves them into packs, holding the same data."""
    from emoprep.pipeline.runner import RunOptions as Opts
    from emoprep.pipeline.session import open_session

    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out, v1 = tmp_path / "out", tmp_path / "v1"
    run(manifest, out, opts=INLINE)
    shutil.copytree(out, v1)
    assert open_session(manifest, out, BATCH).plan().batch_of == {}
    assert run(manifest, out, overrides=BATCH, opts=INLINE).ran == []
    rep = run(manifest, out, overrides=BATCH, opts=Opts(workers=0, force={"probe"}))
    assert len(rep.ran) == 4 * 6
    assert sorted(p for p in _packs(out) if p.startswith("frames/")) == [
        "frames/packs/b000001.h5", "frames/packs/b000002.h5"]
    with h5py.File(out / "frames.h5", "r") as f:
        assert list(f["videos"]) == [] and f["items"][0]["pack"].decode().startswith(
            "frames/packs/")
    _same_data(v1, out)
    left = [p for p in out.rglob("*") if p.is_file() and p.parent.name != "packs"
            and p.stem in {"s01_happy_1", "s02_sad_1", "s03_happy_1", "s04_sad_1"}]
    assert left == []  # the items' own files went with their move into the packs


def test_batches_run_on_a_dask_cluster(corpus: Path, tmp_path: Path) -> None:
    """A batch's job travels to a dask worker (LocalCluster) and gives the in-process store."""
    from emoprep.pipeline.executors import ExecutorKind

    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    rep = run(manifest, tmp_path / "dask", overrides=BATCH,
              opts=RunOptions(executor=ExecutorKind.DASK, workers=2))
    assert {v["status"] for v in rep.videos} == {"ok"}
    assert len(rep.ran) == 4 * 6
    run(manifest, tmp_path / "inline", overrides=BATCH, opts=INLINE)
    _same_data(tmp_path / "inline", tmp_path / "dask")
    assert sorted(_packs(tmp_path / "dask")) == sorted(_packs(tmp_path / "inline"))
