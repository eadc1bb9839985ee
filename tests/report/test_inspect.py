"""``inspect_video`` on the real run: ok, low-coverage, failed and unknown videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import emoprep
from emoprep.errors import StoreError
from emoprep.report import inspect_video, render_inspect, render_inspect_json
from emoprep.types import FrameStatus
from tests.helpers import record_rows
from tests.report.conftest import FAILED_ID, LOW_FACE_ID


def test_ok_video_matches_the_store(report_run: Path) -> None:
    info = inspect_video(report_run, "s01_happy_1")
    m = emoprep.open_store(report_run).meta("s01_happy_1")
    assert json.loads(render_inspect_json(info)) == json.loads(json.dumps(info))
    assert (info["subject"], info["labels"]) == ("s01", {"emotion": "happy", "take": "1"})
    assert info["status"] == "ok" and info["error"] == "" and info["warnings"] == []
    fi = m["frame_index"]
    assert info["window"] == {"mode": "fraction", "n_frames": len(fi),
                              "first_frame": int(fi[0]), "last_frame": int(fi[-1])}
    assert info["status_counts"]["tracked"] == int(np.sum(m["status"] == FrameStatus.TRACKED))
    assert sum(info["status_counts"].values()) == info["n_frames"] == len(fi)
    trim = info["trim"]
    assert trim["applied"] is False and (trim["start"], trim["end"]) == (m["trim_start"],
                                                                         m["trim_end"])
    assert trim["first_frame"] == int(m["au_frame_index"][m["trim_start"]])
    assert {k: v for k, v in info["fingerprints"].items() if k in m["fingerprints"]} \
        == m["fingerprints"]
    assert set(info["fingerprints"]) >= {"probe", "window", "track", "au", "frames"}
    [shard] = record_rows(report_run)["frames/s01_happy_1"]["outputs"]  # its batch's pack
    assert info["shards"]["frames"] == shard
    assert all((report_run / p).is_file() for p in info["shards"].values())
    text = render_inspect(info)
    assert "video         s01_happy_1" in text and "labels        emotion=happy, take=1" in text
    assert shard in text and "\x1b" not in text


def test_low_coverage_video_carries_its_warning(report_run: Path) -> None:
    info = inspect_video(report_run, LOW_FACE_ID)
    assert info["status_counts"]["no_face"] == 80 and info["n_face"] == 4
    assert [w["kind"] for w in info["warnings"]] == ["low_face"]
    assert inspect_video(report_run, LOW_FACE_ID, min_face_fraction=0.01)["warnings"] == []
    assert "warning       face in 4 of 85 kept frames" in render_inspect(info)


def test_failed_video_says_where_and_why(report_run: Path) -> None:
    info = inspect_video(report_run, FAILED_ID)
    assert info["status"] == "failed" and info["failed_stage"] == "track"
    assert "no frame of the clip showed a face" in info["error"]
    assert info["window"] is None and info["status_counts"] is None
    assert info["stages"]["track"]["status"] == "failed"
    assert "frames" not in info["shards"]
    json.dumps(info)
    text = render_inspect(info)
    assert "status        failed" in text and "no frame of the clip showed a face" in text


def test_unknown_video_names_the_id_and_some_known_ones(report_run: Path) -> None:
    with pytest.raises(StoreError, match=r"no video 'nope' in frames.h5 \(have: s01_happy_1"):
        inspect_video(report_run, "nope")
