"""A stage's runner sees only the config slice its ``reads`` declares: changing a key outside it
(and outside its upstream stages' reads) changes neither the stage's output nor its fingerprint,
and a runner reading an undeclared key fails naming the stage, the key and the fix. The output
is compared as the stages read it (the clips are small: their outputs are in one batch's packs,
whose bytes change when the batch is rewritten, the other item copied in)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from emoprep.io.layout import ArtifactKind, Layout
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import build_dag
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunOptions, run
from emoprep.pipeline.stagedef import UndeclaredRead
from tests.helpers import CORPUS, drop_record, read_item, write_manifest

INLINE = RunOptions(workers=0)
STAGES = {"embed": {"hog": {"type": "hog"}}}
VID = "s01_happy_1"
#: stage -> a key outside its reads and those of its upstream stages
OUTSIDE = {
    "probe": "stages.window.start=0.3",
    "window": "stages.detect.min_size=50",
    "track": "stages.align.size=96",
    "au": "stages.align.size=96",  # the landmarks AU source reads no crop
    "frames": "stages.trim.min_end_cut=5",
    "embed:hog": "stages.trim.min_end_cut=5",
}


def _item_outputs(out: Path, stage: str) -> list:
    """Every output of VID's unit of ``stage``, read as a downstream stage reads it (its own
    files, or its items in its batch's packs, the default for these clips): a work file's JSON
    or arrays, a shard's (arrays, attributes)."""
    decl = {d.name: d for d in build_dag(StagesConfig.model_validate(STAGES))}[stage]

    def read(lay: Layout) -> list:
        return [lay.io.read_arrays(a, VID) if a.kind is ArtifactKind.SHARD else
                lay.io.load_json(a, VID) if a.pattern.endswith(".json") else
                lay.io.load_npz(a, VID) for a in decl.outputs]

    return read_item(out, VID, read)


def _same(a: object, b: object) -> bool:
    """Equal values: mappings and sequences element by element, arrays with NaN == NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    x, y = np.asarray(a), np.asarray(b)
    return x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")


def test_every_stage_covered() -> None:
    assert sorted(d.name for d in build_dag(StagesConfig.model_validate(STAGES))) == \
        sorted(OUTSIDE)


@pytest.fixture(scope="module")
def full(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished run on two corpus clips: (manifest, output folder)."""
    base = tmp_path_factory.mktemp("reads")
    (base / "videos").mkdir()
    for name, *_ in CORPUS[:2]:
        shutil.copy2(clip_bank / name, base / "videos" / name)
    manifest = write_manifest(base / "m.yaml", base / "videos", STAGES)
    rep = run(manifest, base / "full", opts=INLINE)
    assert rep.ran and all(r["ok"] for r in rep.ran)
    return manifest, base / "full"


@pytest.mark.parametrize("stage", sorted(OUTSIDE))
def test_a_key_outside_a_stages_reads_changes_neither_its_output_nor_its_fingerprint(
        full, tmp_path: Path, stage: str) -> None:
    manifest, ref = full
    before = RecordStore(Layout(ref)).get(stage, VID)
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    drop_record(out, (stage, VID))  # the stage runs again, under the changed key
    rep = run(manifest, out, (OUTSIDE[stage],), INLINE)
    assert (stage, VID) in {(r["stage"], r["video_id"]) for r in rep.ran}
    assert all(r["ok"] for r in rep.ran)
    after = RecordStore(Layout(out)).get(stage, VID)
    assert after.fingerprint == before.fingerprint and after.outputs == before.outputs
    assert _same(_item_outputs(out, stage), _item_outputs(ref, stage))


def test_a_runner_reads_only_its_declared_slice() -> None:
    c = StagesConfig.model_validate(STAGES)
    by = {d.name: d for d in build_dag(c)}
    frames = by["frames"].config_view(c)
    assert frames.align == c.align and frames.window.mode is c.window.mode
    with pytest.raises(UndeclaredRead, match=r"stage frames: read stages.window.start, which "
                                             r"its StageDef.reads does not declare"):
        _ = frames.window.start
    with pytest.raises(UndeclaredRead, match=r"stages.align.*fix: add it to reads"):
        _ = by["embed:hog"].config_view(c).align  # the crop size comes from the frame shard
    view = by["embed:hog"].config_view(c)
    assert view.embed["hog"] == c.embed["hog"]
    with pytest.raises(UndeclaredRead):
        _ = view.detect
    again = pickle.loads(pickle.dumps(view))  # a task carries it to a worker
    assert again.embed["hog"] == c.embed["hog"]
