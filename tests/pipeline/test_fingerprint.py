"""Fingerprint canonicalisation: key order, defaults, what is excluded, change explanations."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import build_dag as all_stages
from emoprep.pipeline.fingerprint import (
    COMPONENTS,
    HashCache,
    StageFingerprint,
    canonical_json,
    digest,
    explain_change,
)
from emoprep.pipeline.stagedef import PlanContext
from emoprep.stages.embed import HogConfig


def test_key_order_does_not_matter() -> None:
    a = {"b": 1, "a": {"y": [1, 2], "x": 0.5}}
    b = {"a": {"x": 0.5, "y": [1, 2]}, "b": 1}
    assert canonical_json(a) == canonical_json(b)
    assert digest(a) == digest(b)
    assert digest(a) != digest({**a, "b": 2})


def test_defaults_filled_in() -> None:
    explicit = StagesConfig.model_validate({"detect": {"min_size": 60, "scale_factor": 1.1}})
    implicit = StagesConfig()
    for d in all_stages(implicit):
        assert digest(d.config_slice(explicit)) == digest(d.config_slice(implicit)), d.name


def test_batch_size_device_threads_not_in_embed_fingerprint() -> None:
    cfg = StagesConfig(embed={"hog": HogConfig()})
    (d,) = [d for d in all_stages(cfg) if d.name == "embed:hog"]
    sl = canonical_json(d.config_slice(cfg))
    for key in ("batch_size", "device", "threads"):
        assert key not in sl


def test_no_paths_or_worker_counts_in_components(tmp_path: Path, sample_entry) -> None:
    cfg = StagesConfig()
    ctx = PlanContext(cfg, tmp_path, HashCache(tmp_path / "h.json"), content={"v": "abc"})
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    entry = type(entry)(**{**entry.__dict__, "video_id": "v"})
    for d in all_stages(cfg):
        comp = canonical_json({"c": d.config_slice(cfg), "i": d.inputs(entry, ctx)})
        assert str(tmp_path) not in comp and entry.path not in comp
        assert "workers" not in comp


def test_explain_change_names_the_key() -> None:
    old = {"version": 1, "config": {"track": {"redetect_every": 50}}, "upstream": {}}
    new = {"version": 1, "config": {"track": {"redetect_every": 25}}, "upstream": {}}
    assert explain_change(old, new) == ["track.redetect_every changed 50 -> 25"]
    assert explain_change({**old, "version": 1}, {**old, "version": 2}) == [
        "code version changed 1 -> 2"
    ]
    up = explain_change({**old, "upstream": {"window": "a"}}, {**old, "upstream": {"window": "b"}})
    assert up == ["upstream window changed"]


def test_hash_cache_keyed_by_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "v.bin"
    f.write_bytes(b"abc")
    cache = HashCache(tmp_path / "hashes.json")
    h1 = cache.file(f)
    cache.save()
    again = HashCache(tmp_path / "hashes.json")
    assert again.file(f) == h1
    f.write_bytes(b"abd")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert again.file(f) != h1


_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=127), max_size=8)  # mostly plain
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ascii
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ascii | st.text(max_size=6),
                                                                 inner, max_size=4),
    max_leaves=12)


@given(_json_values)
def test_canonical_json_equals_json_dumps(value: object) -> None:
    """The plain-dict fast path writes exactly what json.dumps writes (finite floats as their
    repr; escapes, non-ASCII, infinities and lists go to json.dumps), so no fingerprint
    changes."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_json(value) == expected


@given(_json_values, _json_values, _json_values, _json_values,
       st.dictionaries(_ascii | st.text(max_size=6), _ascii, max_size=3), st.integers())
def test_stage_fingerprint_is_the_digest_of_its_components(config: object, libs: object,
                                                           models: object, inputs: object,
                                                           upstream: dict[str, str],
                                                           version: int) -> None:
    """The per-stage frame joined with a unit's inputs and upstream is the canonical JSON of the
    whole, so :meth:`StageFingerprint.of` is exactly :func:`digest` of the components."""
    rule = StageFingerprint("embed:hög", version, config, libs, models)
    comp = rule.components(inputs, upstream)
    assert sorted(comp) == list(COMPONENTS)
    assert rule.of(inputs, upstream) == digest(comp)


_fp = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(st.lists(_json_values, min_size=1, max_size=4),
       st.lists(_ascii | st.text(max_size=6), max_size=3, unique=True), st.data())
def test_a_stage_column_equals_each_units_fingerprint(inputs: list[object], names: list[str],
                                                      data: st.DataObject) -> None:
    """:meth:`StageFingerprint.column` (a plan's whole stage at once) gives each unit exactly
    :meth:`StageFingerprint.of`, for any inputs and upstream stage names (escaped ones too)."""
    n = len(inputs)
    cols = [data.draw(st.lists(_fp, min_size=n, max_size=n)) for _ in names]
    rule = StageFingerprint("frames", 2, {"a": 1.5}, {}, {})
    got = rule.column(inputs, cols, tuple(names), n)
    assert got == [rule.of(x, {u: c[i] for u, c in zip(names, cols, strict=True)})
                   for i, x in enumerate(inputs)]
    assert rule.column(None, cols, tuple(names), n) == [
        rule.of({}, {u: c[i] for u, c in zip(names, cols, strict=True)}) for i in range(n)]


def test_a_still_images_content_hash_is_the_one_of_a_one_image_frame_source(
        tmp_path: Path) -> None:
    """A still image is a one-image frame source: its content hash (taken with one stat) is the
    digest of its [(name, sha256)], as a frame folder's, so no fingerprint changes."""
    from emoprep.io.atomic import sha256_file
    from emoprep.types import VideoEntry

    img = tmp_path / "face 1.jpg"
    img.write_bytes(b"jpeg bytes")
    entry = VideoEntry("face_1", str(img), "s1", kind="frames", fps=1.0, frames_glob="face 1.jpg")
    cache = HashCache(tmp_path / "hashes.json")
    assert cache.video(entry) == digest([("face 1.jpg", sha256_file(img))])
    folder = VideoEntry("f", str(tmp_path), "s1", kind="frames", fps=1.0, frames_glob="*.jpg")
    assert cache.video(folder) == cache.video(entry)  # the folder holds that one image
