"""Fingerprints across releases: every difference from emoprep 0.1's is one we chose.

tests/fixtures/fingerprints_v0.1.json was recorded with the 0.1 code (commit 8b6b3af) for fixed
videos and four configs: each unit's fingerprint and components, with library versions and
model hashes replaced by fixed strings so the fixture does not depend on what is installed.
The architecture change alone kept every fingerprint but ``au``'s; :data:`LEDGER` lists each
change since, with its reason. Whatever is not in it must stay equal, so an output folder of 0.1
re-runs exactly the stages the ledger names (and what reads them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import emoprep.pipeline.stagedef as stagedef
import emoprep.stages.embed.config as embed_config
import emoprep.versions as versions
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import make_plan
from emoprep.pipeline.fingerprint import explain_change
from emoprep.pipeline.stagedef import PlanContext
from emoprep.types import VideoEntry
from tests.helpers import NameHashes, NoRecords

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fingerprints_v0.1.json"
MODULES = {"numpy": "v-numpy", "opencv-contrib-python-headless": "v-opencv", "torch": "v-torch",
           "dlib-bin": "v-dlib", "h5py": "v-h5py"}
VIDEOS = [VideoEntry("s01_happy_1", "/data/s01_happy_1.mp4", "s01", {"emotion": "happy"}),
          VideoEntry("s02_sad_1", "/data/s02", "s02", {"emotion": "sad"}, kind="frames", fps=25.0)]


#: stage -> the explained differences (pipeline.fingerprint.explain_change) allowed, and why
LEDGER: dict[str, set[str]] = {
    # issue 12: one predictor pass per tracked frame, from the previous frame's landmarks
    "track": {"landmarks.temporal added (true)"}
    # issue 13: detectors get colour frames; the per-frame detector of the chain is stored
    | {"code version changed 1 -> 2"}
    # detect.backend none: its slice no longer holds the Haar settings it never used, and it
    # tracks nothing (issue 15: the whole frame on every frame)
    | {"tracking added (whole_frame)"}
    # issue 22: one predictor pass per frame in a whole-frame box (landmarks.refine null)
    | {"tracking added (whole_frame_one_pass)"}
    | {f"detect.{k} removed" for k in ("max_size", "max_width", "min_neighbors", "min_size",
                                       "scale_factor")},
    # AU sources became a discriminated union: the slice holds the chosen source's keys only
    "au": {f"au.{k} removed" for k in ("min_confidence", "openface_csv", "openface_frame_base",
                                       "pyfeat_au_model")},
    # labels are metadata (issue 9); the default crop keeps the chin (issue 15)
    # head pose stored with the geometry (issue 14), the new default crop
    "frames": {"input labels.emotion removed", "input subject removed",
               "align.box_pad_y added (10)", "align.eye_y changed 0.4 -> 0.28",
               "code version changed 1 -> 2"},
    "embed": {"upstream frames changed"},
}


@pytest.mark.parametrize("config", ["default", "embedders", "au_trim", "no_detector"])
def test_fingerprints_equal_those_of_v0_1(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stagedef, "library_version", lambda dist: f"v-{dist}")
    monkeypatch.setattr(versions, "library_version", lambda dist: f"v-{dist}")
    monkeypatch.setattr(versions, "module_version", lambda dist: MODULES[dist])
    import emoprep.pipeline.steps.track as track_step

    monkeypatch.setattr(track_step, "library_version", lambda dist: f"v-{dist}")
    import emoprep.pipeline.steps.au as au_step

    monkeypatch.setattr(au_step, "library_version", lambda dist: f"v-{dist}")
    assert embed_config  # module_version is looked up in emoprep.versions at call time
    recorded = json.loads(FIXTURE.read_text())[config]
    stages = StagesConfig.model_validate(recorded["stages"])
    ctx = PlanContext(stages, Path("/data"), NameHashes(),
                      content={v.video_id: "c-" + v.video_id for v in VIDEOS})
    plan = make_plan(VIDEOS, ctx, None, NoRecords())
    assert {f"{s}|{v}" for s, v in plan.units} == set(recorded["fingerprints"])
    for (stage, video), unit in plan.units.items():
        key = f"{stage}|{video}"
        if unit.fingerprint == recorded["fingerprints"][key]:
            continue
        changes = set(explain_change(recorded["components"][key], unit.components))
        allowed = LEDGER.get(stage.split(":")[0], set())
        assert changes <= allowed, f"{key}: {sorted(changes - allowed)} not in the ledger"
