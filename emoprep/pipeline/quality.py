"""Warnings about videos that finished "ok" but deserve a look before training.

A video is kept as ok as soon as one kept frame has a face; one whose face is found in only a
small part of its kept frames (``face_noface`` in the samples: 4 of 85) is most likely a
tracking or detection problem. ``stages.quality.min_face_fraction`` (default 0.5) sets the bar;
``stages.quality.on_low_face`` decides whether such a video is only flagged (``warn``, default) or
failed (``fail``: left out of the index's ok videos, so of exports and datasets). This is a policy
on finished outputs, applied when the indexes are built: changing it re-runs no stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MIN_FACE_FRACTION = 0.5


class LowFacePolicy(str, Enum):
    """What a video with too few face frames becomes."""

    WARN = "warn"  #: kept as ok, listed with a warning (run summary, report, inspect)
    FAIL = "fail"  #: failed with the warning as its reason


class QualityConfig(BaseModel):
    """``stages.quality``: checks on finished videos (metadata: no stage reads them)."""

    model_config = ConfigDict(extra="forbid")

    min_face_fraction: float = Field(DEFAULT_MIN_FACE_FRACTION, ge=0.0, le=1.0,
                                     description="flag ok videos with a face in fewer kept frames")
    on_low_face: LowFacePolicy = LowFacePolicy.WARN


class WarningKind(str, Enum):
    """Kinds of video warnings."""

    LOW_FACE = "low_face"  #: face in fewer than min_face_fraction of the kept frames


@dataclass(frozen=True)
class VideoWarning:
    """One warning: which video, what kind, and a message that says what to check."""

    video_id: str
    kind: WarningKind
    message: str

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


def _check_fraction(min_face_fraction: float) -> float:
    f = float(min_face_fraction)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"min_face_fraction must lie in [0, 1], got {min_face_fraction!r}")
    return f


def face_coverage_warning(video_id: str, n_frames: int, n_face: int,
                          min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION
                          ) -> VideoWarning | None:
    """A LOW_FACE warning when ``n_face / n_frames < min_face_fraction`` (kept frames), else
    None. A video with no kept frame is not judged here (it fails in the pipeline)."""
    bar = _check_fraction(min_face_fraction)
    if n_frames <= 0 or n_face / n_frames >= bar:
        return None
    msg = (f"face in {n_face} of {n_frames} kept frames ({n_face / n_frames:.0%}), below "
           f"min_face_fraction {bar:g}; check the status timeline and the first frame "
           "(detection settings, or a clip that shows no face for most of its length)")
    return VideoWarning(video_id, WarningKind.LOW_FACE, msg)


def video_warnings(rows: Iterable[Mapping[str, Any]],
                   min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION
                   ) -> dict[str, list[VideoWarning]]:
    """Warnings of every "ok" video of a store table (rows with video_id, status, n_frames,
    n_face, as ``FrameStore.table()`` returns them). Videos without a warning are left out."""
    out: dict[str, list[VideoWarning]] = {}
    for r in rows:
        if r.get("status") != "ok":
            continue
        w = face_coverage_warning(str(r["video_id"]), int(r["n_frames"]), int(r["n_face"]),
                                  min_face_fraction)
        if w is not None:
            out.setdefault(w.video_id, []).append(w)
    return out
