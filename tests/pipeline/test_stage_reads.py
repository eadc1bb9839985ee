"""A stage's runner sees only the config slice its ``reads`` declares: changing a key outside it
(and outside its upstream stages' reads) changes neither the stage's output nor its fingerprint,
and a runner reading an undeclared key fails naming the stage, the key and the fix."""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import pytest

from emoprep.io.layout import Layout
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import build_dag
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunOptions, run
from emoprep.pipeline.stagedef import UndeclaredRead
from tests.helpers import CORPUS, drop_record, write_manifest

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


def _digests(out: Path, outputs: list[str]) -> dict[str, str]:
    return {p: hashlib.sha256((out / p).read_bytes()).hexdigest() for p in outputs}


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
    assert _digests(out, after.outputs) == _digests(ref, before.outputs)


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
