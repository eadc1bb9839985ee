"""Fingerprints stay equal across the architecture change: an output folder made by emoprep 0.1
is still up to date.

tests/fixtures/fingerprints_v0.1.json was recorded with the 0.1 code (commit 8b6b3af) for fixed
videos and four configs, with library versions and model hashes replaced by fixed strings so the
fixture does not depend on what is installed. The only intended change: the ``au`` stage's config
slice holds the keys of the chosen AU source only (the AU sources became a discriminated union),
so ``au`` units re-run once, and with them whatever reads ``au`` (``frames`` and the embedders
in ``window.mode: au_trim``); and with ``detect.backend: none`` the detect slice no longer
holds the Haar settings that backend never used, so its ``track`` and downstream re-run once.
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
from emoprep.pipeline.stagedef import PlanContext
from emoprep.types import VideoEntry

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fingerprints_v0.1.json"
MODULES = {"numpy": "v-numpy", "opencv-contrib-python-headless": "v-opencv", "torch": "v-torch",
           "dlib-bin": "v-dlib"}
VIDEOS = [VideoEntry("s01_happy_1", "/data/s01_happy_1.mp4", "s01", {"emotion": "happy"}),
          VideoEntry("s02_sad_1", "/data/s02", "s02", {"emotion": "sad"}, kind="frames", fps=25.0)]


class _FixedHashes:
    def file(self, p: Path) -> str:
        return "sha-" + Path(p).name


class _NoRecords:
    def get(self, stage: str, video: str) -> None:
        return None

    def problem(self, stage: str, video: str) -> str:
        return ""


def _changed_by_design(config: str, stage: str) -> bool:
    if config == "no_detector":  # detect.backend none: its slice lost the Haar keys it never used
        return stage not in ("probe", "window")
    return stage == "au" or (config == "au_trim" and stage not in ("probe", "window", "track"))


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
    ctx = PlanContext(stages, Path("/data"), _FixedHashes(),
                      content={v.video_id: "c-" + v.video_id for v in VIDEOS})
    plan = make_plan(VIDEOS, ctx, None, _NoRecords())
    now = {f"{s}|{v}": u.fingerprint for (s, v), u in plan.units.items()}
    assert set(now) == set(recorded["fingerprints"])
    same = {k for k in now if now[k] == recorded["fingerprints"][k]}
    expected_same = {k for k in now if not _changed_by_design(config, k.split("|")[0])}
    assert same == expected_same
