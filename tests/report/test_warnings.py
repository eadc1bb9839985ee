"""Low face coverage warnings: exact thresholds, then the real run's table."""

from __future__ import annotations

from pathlib import Path

import pytest

import emoprep
from emoprep.report import WarningKind, face_coverage_warning, video_warnings
from tests.report.conftest import FAILED_ID, LOW_FACE_ID


def test_threshold_is_a_strict_fraction_of_kept_frames() -> None:
    w = face_coverage_warning("v", 85, 4)
    assert w is not None and w.kind is WarningKind.LOW_FACE
    assert w.message.startswith("face in 4 of 85 kept frames (5%), below min_face_fraction 0.5")
    assert w.as_dict() == {"video_id": "v", "kind": "low_face", "message": w.message}
    assert face_coverage_warning("v", 10, 5) is None          # exactly at the bar: kept
    assert face_coverage_warning("v", 10, 4) is not None
    assert face_coverage_warning("v", 85, 4, min_face_fraction=0.04) is None
    assert face_coverage_warning("v", 0, 0) is None           # nothing kept: not judged here
    with pytest.raises(ValueError, match=r"min_face_fraction must lie in \[0, 1\], got 1.5"):
        face_coverage_warning("v", 10, 4, min_face_fraction=1.5)


def test_the_face_noface_clip_is_flagged_and_failed_videos_are_not(report_run: Path) -> None:
    table = emoprep.open_store(report_run).table()
    warned = video_warnings(table)
    assert list(warned) == [LOW_FACE_ID]
    assert "face in 4 of 85 kept frames" in warned[LOW_FACE_ID][0].message
    assert FAILED_ID not in warned and any(r["video_id"] == FAILED_ID for r in table)
    assert video_warnings(table, min_face_fraction=0.0) == {}
    assert set(video_warnings(table, min_face_fraction=1.0)) == {LOW_FACE_ID}
