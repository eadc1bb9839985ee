"""Per-frame CSV export with OpenFace-like columns, read from the frame store (no stage re-runs).

One row per frame of the frame store (the kept window), in this column order:

``frame``            source frame number, **1-based** (OpenFace's ``frame``)
``frame_index``      source frame number, 0-based (the store's ``frame_index``)
``timestamp``        seconds (``frame_index / fps``)
``success``          1 if the frame has a face box, else 0
``status``           no_face / detected / tracked / redetected / lost / multi_face
``face_x, face_y, face_w, face_h``   face box, source pixels
``x_0 .. x_67, y_0 .. y_67``          dlib 68-point landmarks, source pixels (0-based point order,
                                      as OpenFace's ``x_i``/``y_i``)
``AUxx_r``           AU intensities of the AU stage, when the store has them (OpenFace's names)
``pose_yaw, pose_pitch, pose_roll``   head pose in degrees (:mod:`emoprep.stages.headpose`)

Missing values (no face, no AU) are written as ``nan``, which pandas, numpy and ``float()`` read.
Floats are written with 9 significant digits, enough to give back the stored float32 exactly.
The header has no spaces after the commas (OpenFace 2.0 wrote ``", "``: read those files with
``skipinitialspace=True``; these read either way). Head pose is given as degrees under its own
names rather than OpenFace's ``pose_Rx/Ry/Rz`` (radians, its own axis convention), so a script
cannot mistake one for the other.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.io.reader import FrameStore, open_store
from emoprep.stages.headpose import head_pose
from emoprep.types import FrameStatus

N_POINTS = 68
POSE_COLUMNS = ("pose_yaw", "pose_pitch", "pose_roll")


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else format(float(value), ".9g")


def au_columns(meta: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """AU column names (``AU01_r`` ...) and values (T, K) float32 aligned to ``frame_index``.

    The AU shard covers every tracked frame; rows are matched by source frame number, and a frame
    the AU stage did not score gets NaN. Returns ``([], (T, 0))`` when the store has no AU data.
    """
    t = len(meta["frame_index"])
    if "au" not in meta:
        return [], np.zeros((t, 0), np.float32)
    names = [f"{n}_r" for n in meta["au_names"]]
    au = np.asarray(meta["au"], np.float32)
    row_of = {int(f): i for i, f in enumerate(meta["au_frame_index"])}
    values = np.full((t, len(names)), np.nan, np.float32)
    for j, f in enumerate(meta["frame_index"]):
        i = row_of.get(int(f))
        if i is not None:
            values[j] = au[i]
    return names, values


def frame_pose(meta: dict[str, Any]) -> np.ndarray:
    """(T, 3) yaw, pitch, roll degrees: the stored ``head_pose`` if present, else computed."""
    if "head_pose" in meta:
        return np.asarray(meta["head_pose"], np.float32)
    return head_pose(meta["landmarks"], int(meta["width"]), int(meta["height"]))


def frame_columns(au_names: Iterable[str]) -> list[str]:
    """The CSV header for a video with these AU column names."""
    return ["frame", "frame_index", "timestamp", "success", "status",
            "face_x", "face_y", "face_w", "face_h",
            *[f"x_{i}" for i in range(N_POINTS)], *[f"y_{i}" for i in range(N_POINTS)],
            *au_names, *POSE_COLUMNS]


def _rows(meta: dict[str, Any], au: np.ndarray, pose: np.ndarray) -> Iterable[list[str]]:
    status = np.asarray(meta["status"])
    face = FrameStatus.has_face(status)
    for t, f in enumerate(meta["frame_index"]):
        lm = meta["landmarks"][t]
        yield [str(int(f) + 1), str(int(f)), _fmt(meta["timestamps"][t]), str(int(face[t])),
               FrameStatus(int(status[t])).name.lower(),
               *map(_fmt, meta["boxes"][t]), *map(_fmt, lm[:, 0]), *map(_fmt, lm[:, 1]),
               *map(_fmt, au[t]), *map(_fmt, pose[t])]


def write_frame_csv(out_dir: str | Path, video_id: str, dest: str | Path,
                    store: FrameStore | None = None) -> Path:
    """Write one video's per-frame CSV to ``dest`` (a file path) atomically; return ``dest``.

    Raises :class:`~emoprep.errors.StoreError` when the video is not in the frame store (failed
    or not run).
    """
    store = store or open_store(out_dir)
    meta = store.meta(video_id)
    names, au = au_columns(meta)
    pose = frame_pose(meta)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(frame_columns(names))
            writer.writerows(_rows(meta, au, pose))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def write_frame_csvs(out_dir: str | Path, dest_dir: str | Path,
                     video_ids: Iterable[str] | None = None) -> list[Path]:
    """``<dest_dir>/<video_id>.csv`` for every video of the frame store (or those named)."""
    store = open_store(out_dir)
    ids = list(video_ids) if video_ids is not None else store.videos()
    with store:
        return [write_frame_csv(out_dir, v, Path(dest_dir) / f"{v}.csv", store) for v in ids]
