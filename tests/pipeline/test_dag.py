"""The stage DAG: built from the declarations, ordered with graphlib, checked for bad edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.errors import ConfigError
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import build_dag, downstream_of, order_stages
from emoprep.pipeline.stagedef import StageDef, UnitTask, canonical_value, lookup
from emoprep.pipeline.steps import DECLARED, declared
from emoprep.stages.embed import HogConfig
from tests.helpers import NameHashes, NoRecords


def _run(task: UnitTask, layout: object) -> tuple[list[Path], dict]:
    return [], {}


def _stage(name: str, *upstream: str) -> StageDef:
    return StageDef(name=name, run=_run, version=1, upstream=upstream)


def test_declarations_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        StageDef("x", _run, 1)  # type: ignore[misc]


def test_order_follows_upstream_not_declaration_order() -> None:
    c = StagesConfig()
    defs = [_stage("c", "b"), _stage("a"), _stage("b", "a"), _stage("d", "a", "c")]
    order = [d.name for d in order_stages(defs, c)]
    assert order.index("a") < order.index("b") < order.index("c") < order.index("d")


def test_unknown_upstream_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError) as exc:
        order_stages([_stage("a"), _stage("b", "nope")], StagesConfig())
    assert exc.value.problems == ["stage 'b': upstream 'nope' is not a stage; stages: a, b"]


def test_cycle_is_an_error_showing_it() -> None:
    with pytest.raises(ConfigError) as exc:
        order_stages([_stage("a", "c"), _stage("b", "a"), _stage("c", "b")], StagesConfig())
    (problem,) = exc.value.problems
    assert problem.startswith("stages depend on each other: ")
    assert {"a", "b", "c"} <= set(problem.split(": ", 1)[1].split(" -> "))


def test_duplicate_names_are_errors() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        order_stages([_stage("a"), _stage("a")], StagesConfig())


def test_real_dag_and_its_embed_expansion() -> None:
    c = StagesConfig.model_validate({"embed": {"hog": {"type": "hog"}},
                                     "augment": {"names": ["flip"]}})
    names = [d.name for d in build_dag(c)]
    assert names[:5] == ["probe", "window", "track", "au", "frames"]
    assert set(names[5:]) == {"embed:hog", "embed:hog@flip"}
    assert len(DECLARED) == 6 and len(declared(c)) == 7
    flip = next(d for d in build_dag(c) if d.name == "embed:hog@flip")
    assert (flip.embedder, flip.augmentation) == ("hog", "flip")


def test_frames_reads_au_only_when_trimming() -> None:
    plain = StagesConfig()
    trim = StagesConfig.model_validate({"window": {"mode": "au_trim"}})
    frames = next(d for d in build_dag(plain) if d.name == "frames")
    assert frames.upstream_of(plain) == ("track",)
    assert frames.upstream_of(trim) == ("track", "au")
    assert downstream_of(build_dag(plain), {"au"}, plain) == {"au"}
    assert downstream_of(build_dag(trim), {"au"}, trim) == {"au", "frames"}


def test_config_slice_reads_exactly_the_declared_keys() -> None:
    c = StagesConfig.model_validate({"embed": {"hog": {"type": "hog", "size": 32}}})
    by = {d.name: d for d in build_dag(c)}
    assert set(by["track"].config_slice(c)) == {"detect", "track", "landmarks"}
    assert "cascade" not in by["track"].config_slice(c)["detect"]  # a path: its sha256 is in models
    assert by["frames"].config_slice(c)["window_mode"] == "fraction"
    assert by["embed:hog"].config_slice(c) == {"embed": HogConfig(size=32).fingerprint_slice()}


def test_lookup_and_canonical_value() -> None:
    c = StagesConfig()
    assert lookup(c, "window.mode").value == "fraction"
    assert lookup({"a": {"b": 3}}, "a.b") == 3
    assert canonical_value(c.window.mode) == "fraction"
    assert (
        "cascade" not in canonical_value(c.detect) and canonical_value(c.detect)["min_size"] == 60
    )


def test_plan_fingerprint_is_the_digest_of_the_components() -> None:
    """make_plan joins the per-stage JSON with the per-video parts; the result must stay
    exactly ``digest(components)`` (labels with non-ASCII text and nested values included)."""
    from emoprep.pipeline.dag import make_plan
    from emoprep.pipeline.fingerprint import digest
    from emoprep.pipeline.stagedef import PlanContext
    from emoprep.types import VideoEntry

    stages = StagesConfig.model_validate({"embed": {"hog": {"type": "hog"}},
                                          "window": {"mode": "au_trim"}})
    videos = [VideoEntry("s01_happy_1", "/data/s01_happy_1.mp4", "s01", {"emotion": "happé"}),
              VideoEntry("s02_sad_1", "/data/s02", "s02", {"emotion": "sad"}, kind="frames",
                         fps=25.0)]
    ctx = PlanContext(stages, Path("/data"), NameHashes(),
                      content={v.video_id: "c-" + v.video_id for v in videos})
    plan = make_plan(videos, ctx, None, NoRecords())
    assert len(plan.units) >= 12
    for unit in plan.units.values():
        assert unit.fingerprint == digest(unit.components), unit.key
