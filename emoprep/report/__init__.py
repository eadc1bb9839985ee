"""Look before you trust: the HTML run report, ``inspect`` of one video, and video warnings.

Everything here reads what a run left in its output folder; nothing re-runs a stage.
"""

from __future__ import annotations

from typing import Any

from emoprep.pipeline.quality import (
    DEFAULT_MIN_FACE_FRACTION,
    VideoWarning,
    WarningKind,
    face_coverage_warning,
    video_warnings,
)
from emoprep.report.inspect import inspect_video, render_inspect, render_inspect_json

__all__ = [
    "DEFAULT_MIN_FACE_FRACTION", "VideoWarning", "WarningKind", "build_report",
    "face_coverage_warning",
    "inspect_video", "render_inspect", "render_inspect_json", "video_warnings",
]


def __getattr__(name: str) -> Any:
    """``build_report`` is imported on first use (it pulls in matplotlib; inspect does not)."""
    if name == "build_report":
        from emoprep.report.build import build_report

        return build_report
    raise AttributeError(f"module 'emoprep.report' has no attribute {name!r}")
