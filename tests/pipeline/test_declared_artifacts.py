"""The engine places, sweeps and indexes outputs from the stages' declared artifacts only.

No stage is named in the engine's path, index or scheduling code (checked on its syntax tree),
and a stage declared inside a test, with artifacts that ask for an index of their own and a link
in the frame store's, gets them placed, swept and indexed, in three acts, with no edit there.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep import open_store
from emoprep.errors import ConfigError
from emoprep.io.hdf5 import read_table
from emoprep.io.layout import Layout
from emoprep.io.store_config import FRAMES_STORE
from emoprep.pipeline import steps
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import order_stages
from emoprep.pipeline.runner import RunOptions, run, status
from emoprep.pipeline.stagedef import Artifact, ArtifactKind, Indexed, Outputs, StageDef, UnitTask
from emoprep.pipeline.steps import frames
from tests.helpers import CORPUS, drop_record, index_item, record_rows, write_manifest

ROOT = Path(__file__).parents[2] / "emoprep"
#: the engine modules that must name no stage: paths, indexes, scheduling
ENGINE = ("io/layout.py", "pipeline/indexes.py", "pipeline/scheduler.py")


def _stage_words() -> set[str]:
    """Every registered stage name (a family's prefix for ``<family>:<name>`` stages), and the
    stores, index links and groups their artifacts declare (first path part)."""
    c = StagesConfig(embed={"hog": {"type": "hog"}}, augment={"names": ["flip"]})
    words = set()
    for d in steps.declared(c):
        words.add(d.name.split(":")[0])
        for a in d.outputs:
            if a.kind is ArtifactKind.SHARD:
                words.add(a.store.split("/")[0])
            if a.index is not None:
                words |= {a.index.into.split("/")[0], a.index.name.split("/")[0]}
    return words - {""}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are statements of their own (docstrings)."""
    return {id(n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, str)}


def stage_names_in(path: Path, words: set[str]) -> list[str]:
    """Where ``path`` names a stage: a string constant (docstrings aside, f-string parts
    included) holding one of ``words`` as a word, or an identifier that is one of them or starts
    with one and ``_`` (``frames_shard``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs, hits = _docstrings(tree), []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            found = words & set(re.findall(r"[A-Za-z0-9_]+", n.value))
            hits += [f"{path.name}:{n.lineno}: {w!r} in {n.value!r}" for w in sorted(found)]
        ident = (n.name if isinstance(n, ast.FunctionDef | ast.ClassDef) else
                 n.attr if isinstance(n, ast.Attribute) else
                 n.id if isinstance(n, ast.Name) else
                 n.arg if isinstance(n, ast.arg) else None)
        if ident is not None:
            bare = ident.strip("_")
            hits += [f"{path.name}:{n.lineno}: identifier {ident!r}" for w in sorted(words)
                     if bare == w or bare.startswith(f"{w}_")]
    return hits


def test_the_words_are_those_of_the_declarations() -> None:
    assert _stage_words() >= {"probe", "window", "track", "au", "frames", "embed", "features",
                              "augmented"}


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_names_no_stage(module: str) -> None:
    assert stage_names_in(ROOT / module, _stage_words()) == []


def test_the_check_finds_a_stage_name(tmp_path: Path) -> None:
    """The check itself: names in strings, f-strings and identifiers are found, docstrings and
    words that merely contain a name are not."""
    src = tmp_path / "m.py"
    src.write_text('"""frames.h5 is fine here."""\n'
                   'def frames_shard(n_frames):\n'
                   '    """au/ too."""\n'
                   '    return f"{n_frames}/embed:x", "au", "n_face"\n')
    assert sorted(h.split(": ", 1)[1] for h in stage_names_in(src, {"frames", "au", "embed"})) == [
        "'au' in 'au'", "'embed' in '/embed:x'", "identifier 'frames_shard'"]


# -- a stage declared here: a store of its own, a link in frames.h5, a work file ---------------

OWN = Artifact.shard("extras/blur", index=Indexed.rows())  #: index extras/blur.h5 (nested)
LINKED = Artifact.shard("blurmap", index=Indexed.link(FRAMES_STORE, "blur"))
WORK = Artifact.work("blur", ".json")


def _blur(task: UnitTask, layout: Layout) -> Outputs:
    """Mean grey level of each aligned crop, plus ``augment.seed`` (the key it reads); reads and
    writes through ``layout.io``, so it works for a video (its own files) and in a batch (packs)."""
    vid, seed = task.entry.video_id, task.stages.augment.seed
    arrays, _ = layout.io.read_arrays(frames.OUTPUT, vid, ("frames", "status"))
    level = arrays["frames"].mean(axis=(1, 2, 3)).astype(np.float32) + seed
    paths = [layout.io.write_arrays(OWN, vid, {"level": level}, {"video_id": vid, "seed": seed}),
             layout.io.write_arrays(LINKED, vid, {"level_max": level.max(keepdims=True)},
                                    {"video_id": vid}),
             layout.io.save_json(WORK, vid, {"n": len(level)})]
    return paths, {"n_frames": len(level), "n_face": int((arrays["status"] > 0).sum())}


BLUR = StageDef(name="blur", run=_blur, version=1, reads={"seed": "augment.seed"},
                upstream=("frames",), outputs=(OWN, LINKED, WORK))

TEMPS = ("extras/blur/.s01_happy_1.h5.tmp1", "extras/.blur.h5.tmp2", "blurmap/.x.h5.tmp3",
         ".emoprep/work/blur/.x.json.tmp4")


def _ran(report) -> Counter:
    return Counter(r["stage"] for r in report.ran)


def _mtimes(*paths: Path) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


@pytest.mark.parametrize("batching", ["true", "false"], ids=["packed", "per-video"])
def test_a_declared_stage_is_placed_swept_and_indexed_with_no_engine_edit(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batching: str) -> None:
    monkeypatch.setattr(steps, "DECLARED", (*steps.DECLARED, BLUR))
    manifest, out, n = write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out", len(CORPUS)
    vids = sorted(Path(name).stem for name, *_ in CORPUS)
    opts, layout = RunOptions(workers=0), (f"batch.enabled={batching}",)
    first = run(manifest, out, layout, opts)  # act 1: placed where declared, indexed
    assert _ran(first)["blur"] == n and all(r["ok"] for r in first.ran)
    records = record_rows(out)
    assert {bool(r["summary"].get("batch")) for r in records.values()} == {batching == "true"}
    for vid in vids:  # in its own files or its batch's packs, under the declared folders
        placed = [Path(p).parent.as_posix() for p in records[f"blur/{vid}"]["outputs"]]
        assert [d.removesuffix("/packs") for d in placed] == [
            "extras/blur", "blurmap", ".emoprep/work/blur"], placed
    own, store = out / "extras" / "blur.h5", out / "frames.h5"
    rows = {r["video_id"]: r for r in read_table(own)}
    assert sorted(rows) == vids and all(r["status"] == "ok" and r["n_frames"] == 20
                                        for r in rows.values())
    crops = open_store(out)  # the stage's levels, computed again from the frame store
    levels = {vid: crops.frames(vid).mean(axis=(1, 2, 3)).astype(np.float32) for vid in vids}
    with h5py.File(own, "r") as f, h5py.File(store, "r") as g:
        assert f.attrs["store"] == "extras/blur"
        for vid in vids:
            np.testing.assert_array_equal(index_item(f, vid)["level"][()], levels[vid])
            assert index_item(f, vid).attrs["subject"] == vid[:3]
            assert index_item(g, vid)["blur/level_max"][()] == levels[vid].max()
            assert "frames" in index_item(g, vid)  # the frame store's own rows are unchanged
    for rel in (*TEMPS, "mine/.keep.h5.tmp5"):  # act 2: leftovers of a killed run
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"half")
    before = _mtimes(own, store)
    assert run(manifest, out, layout, opts).ran == []
    assert [rel for rel in TEMPS if (out / rel).exists()] == []
    assert (out / "mine/.keep.h5.tmp5").is_file()  # no artifact lives there: left alone
    assert _mtimes(own, store) == before
    third = run(manifest, out, (*layout, "stages.augment.seed=7"), opts)  # act 3: the key it reads
    assert _ran(third) == {"blur": n}
    with h5py.File(own, "r") as f:
        for vid in vids:
            np.testing.assert_allclose(index_item(f, vid)["level"][()], levels[vid] + 7)
    assert all(a != b for a, b in zip(_mtimes(own, store), before, strict=True))
    assert status(manifest, out, (*layout, "stages.augment.seed=7")).stages["blur"][
        "up-to-date"] == n
    drop_record(out, ("blur", vids[0]))  # one item again: the others of its batch are copied
    fourth = run(manifest, out, (*layout, "stages.augment.seed=7"), opts)
    assert _ran(fourth) == {"blur": 1} and all(r["ok"] for r in fourth.ran)
    with h5py.File(own, "r") as f, h5py.File(store, "r") as g:
        for vid in vids:  # every output of every item still there, in each of its packs
            np.testing.assert_allclose(index_item(f, vid)["level"][()], levels[vid] + 7)
            assert index_item(g, vid)["blur/level_max"][()] == pytest.approx(levels[vid].max() + 7)


def test_a_link_into_an_index_nobody_declares_is_a_declaration_error() -> None:
    stray = StageDef(name="stray", run=_blur, version=1, upstream=("frames",),
                     outputs=(Artifact.shard("stray", index=Indexed.link("nowhere", "x")),))
    c = StagesConfig()
    with pytest.raises(ConfigError, match=r"stage 'stray'.*store 'nowhere', whose rows no stage "
                                          r"declares.*stores with an index: frames"):
        order_stages([*steps.declared(c), stray], c)
