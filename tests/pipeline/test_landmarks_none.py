"""``landmarks.backend: none`` (issue 22 item 4): pre-cropped faces aligned by their box with no
landmark pass. On real face images (frames of the sample clips cut to 200x200 PNGs):

- the crops and hog features equal those of a run with the default dlib68 landmarks (box
  alignment reads no landmark); the stored ``landmarks`` and ``head_pose`` are all NaN; the
  ``au`` stage is left out (no unit, no record, no ``videos/<id>/au`` link), readers work;
- three acts: a re-run runs nothing; back to dlib68 runs track, au and frames again, not probe;
- what needs landmarks is a manifest error naming both keys; existing configs keep their
  fingerprints (the default stays dlib68: tests/pipeline/test_fingerprint_compat.py).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from emoprep import open_store
from emoprep.errors import ConfigError
from emoprep.pipeline.manifest import manifest_from_dict
from emoprep.pipeline.runner import RunOptions, run, status
from tests.helpers import record_rows

INLINE = RunOptions(workers=0)
#: image name -> (sample clip, frame)
IMAGES = {"s01_happy_1": ("single_face.mp4", 0), "s01_sad_1": ("single_face.mp4", 30),
          "s02_happy_1": ("WolfgangLanger_Pexels.mp4", 10),
          "s02_sad_1": ("WolfgangLanger_Pexels.mp4", 160)}
LABELS = {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)\.png",
          "subject": "subject", "groups": ["emotion"]}
BOX = {"window": {"mode": "all"}, "detect": {"backend": "none"}, "align": {"method": "box"},
       "embed": {"hog": {"type": "hog"}}, "split": {"folds": 2, "test_fraction": 0.0}}
NONE = ("stages.landmarks.backend=none",)


@pytest.fixture(scope="module")
def faces(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four face images (200x200 PNG: the face box of the Haar cascade, widened, resized)."""
    root = tmp_path_factory.mktemp("faces")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    for name, (clip, index) in IMAGES.items():
        cap = cv2.VideoCapture(str(samples_dir / clip))
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        cap.release()
        assert ok
        found = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.1, 5,
                                         minSize=(60, 60))
        x, y, w, h = max(found, key=lambda b: b[2] * b[3])
        m = w // 4
        crop = frame[max(0, y - m):y + h + m, max(0, x - m):x + w + m]
        cv2.imwrite(str(root / f"{name}.png"), cv2.resize(crop, (200, 200)))
    return root


def _manifest(path: Path, root: Path, stages: dict) -> Path:
    path.write_text(yaml.safe_dump({"videos": {"root": str(root), "include": ["*.png"]},
                                    "labels": LABELS, "stages": stages}))
    return path


@pytest.mark.parametrize("batch", [False, True])
def test_no_landmark_pass_gives_the_same_crops_and_features_and_no_au(
        faces: Path, tmp_path: Path, batch: bool) -> None:
    manifest = _manifest(tmp_path / "m.yaml", faces, BOX)
    sets = NONE + (("batch.enabled=true",) if batch else ())
    with_lm, without = tmp_path / "dlib68", tmp_path / "none"
    run(manifest, with_lm, opts=INLINE)
    rep = run(manifest, without, overrides=sets, opts=INLINE)
    assert {v["status"] for v in rep.videos} == {"ok"}
    assert {r["stage"] for r in rep.ran} == {"probe", "window", "track", "frames", "embed:hog"}
    stages_of = [{k.split("/")[0] for k in record_rows(o)} for o in (with_lm, without)]
    assert stages_of[0] - stages_of[1] == {"au"}
    a, b = open_store(with_lm), open_store(without)  # the readers, for either layout
    assert a.videos() == b.videos() == sorted(IMAGES)
    for vid in IMAGES:
        ma, mb = a.meta(vid), b.meta(vid)
        assert "au" in ma and "au" not in mb and "au_source" not in mb
        assert np.array_equal(a.frames(vid), b.frames(vid))
        for key in ("boxes", "status", "align_matrix", "frame_index", "detector"):
            assert np.array_equal(ma[key], mb[key]), key
        assert mb["landmarks"].shape == (1, 68, 2) and np.isnan(mb["landmarks"]).all()
        assert np.isfinite(ma["landmarks"]).all() and np.isnan(mb["head_pose"]).all()
        assert np.array_equal(a.features(vid, "hog"), b.features(vid, "hog"))
        assert mb["subject"] == vid[:3]
    from emoprep.data import SequenceDataset

    ds = SequenceDataset(without, features="hog", part="all", max_len=None)
    assert len(ds) == 4 and ds[0]["x"].shape == (1, 1764)
    # act 2: nothing to do
    st = status(manifest, without, overrides=sets)
    assert set(st.stages) == {"probe", "window", "track", "frames", "embed:hog"}
    assert all(c["up-to-date"] == 4 for c in st.stages.values()), st.stages
    assert run(manifest, without, overrides=sets, opts=INLINE).ran == []
    # act 3: landmarks again: track and what reads it run, the probe and the window do not
    back = run(manifest, without, overrides=sets[1:], opts=INLINE)
    assert {r["stage"] for r in back.ran} == {"track", "au", "frames", "embed:hog"}
    again = open_store(without).meta("s01_happy_1")
    assert np.isfinite(again["landmarks"]).all() and "au" in again


@pytest.mark.parametrize(("stages", "message"), [
    ({"align": {"method": "eyes"}},
     "stages.align.method: eyes needs the eye landmarks, got stages.landmarks.backend: none (no "
     "landmarks); set stages.align.method: box, or remove stages.landmarks"),
    ({"embed": {"geo": {"type": "landmarks"}}},
     "stages.embed.geo (landmarks) needs landmarks, got stages.landmarks.backend: none (no "
     "landmarks); remove the embedder or its landmark option, or remove stages.landmarks"),
    ({"window": {"mode": "au_trim"}},
     "stages.window.mode: au_trim needs AU values, and stages.au.source: landmarks computes them "
     "from landmarks, got stages.landmarks.backend: none (no landmarks); set stages.window.mode: "
     "all, another stages.au.source, or remove stages.landmarks"),
])
def test_what_needs_landmarks_is_a_manifest_error_naming_both_keys(stages: dict, message: str
                                                                   ) -> None:
    raw = {"videos": {"root": "/tmp"},
           "stages": {"align": {"method": "box"}, **stages, "landmarks": {"backend": "none"}}}
    with pytest.raises(ConfigError) as exc:
        manifest_from_dict(raw)
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_landmarks_none_with_box_alignment_is_accepted_and_the_default_stays_dlib68() -> None:
    m = manifest_from_dict({"videos": {"root": "/tmp"}, "stages": {
        "align": {"method": "box"}, "landmarks": {"backend": "none"},
        "au": {"source": "openface_csv"}, "window": {"mode": "au_trim"},
        "embed": {"hog": {"type": "hog"}}}})
    assert m.stages.landmarks.backend == "none"
    assert manifest_from_dict({"videos": {"root": "/tmp"}}).stages.landmarks.backend == "dlib68"
