"""Per-frame CSV export with OpenFace-like columns, read from the frame store (no stage re-runs).

One row per frame of the frame store, in this column order. The frame store holds the frames
``stages.window`` kept: every frame with ``window.mode: all`` (the quick start's), the 40-90 %
window by default; ``n_source_frames`` says how many the video has.

``frame``            source frame number, **1-based** (OpenFace's ``frame``)
``face_id``          0: emoprep keeps one face per video (OpenFace's ``face_id``)
``frame_index``      source frame number, 0-based (the store's ``frame_index``)
``timestamp``        seconds (``frame_index / fps``)
``confidence``       1.0 where the frame has a face box, else 0.0. Not a detector score (the Haar
                     cascade gives none): filter on ``status`` to tell detected from tracked frames
``success``          1 if the frame has a face box, else 0
``status``           no_face / detected / tracked / redetected / lost / multi_face
``face_x, face_y, face_w, face_h``   face box, source pixels
``x_0 .. x_67, y_0 .. y_67``          dlib 68-point landmarks, source pixels (0-based point order,
                                      as OpenFace's ``x_i``/``y_i``)
``AUxx_<source>``    AU scores of the AU stage, when the store has them, named by their source so
                     that they cannot be taken for another tool's: ``AUxx_r`` only for OpenFace's
                     own 0-5 intensities (``au.source: openface_csv``); ``AUxx_geom`` for the
                     landmark proxies (``au.source: landmarks``: unitless geometric changes from a
                     neutral baseline, around 0.04 on the sample clips, not on OpenFace's 0-5
                     scale); ``AUxx_pyfeat`` for py-feat's scores
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.io.reader import FrameStore, open_store
from emoprep.stages.headpose import head_pose
from emoprep.types import FrameStatus

N_POINTS = 68
POSE_COLUMNS = ("pose_yaw", "pose_pitch", "pose_roll")
#: AU source (``stages.au.source``) -> the suffix of its AU columns
AU_SUFFIX = {"openface_csv": "_r", "landmarks": "_geom", "pyfeat": "_pyfeat"}


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else format(float(value), ".9g")


def au_columns(meta: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """AU column names (``AU01_geom`` ..., the suffix per :data:`AU_SUFFIX`) and values (T, K)
    float32 aligned to ``frame_index``.

    The AU shard covers every tracked frame; rows are matched by source frame number, and a frame
    the AU stage did not score gets NaN. Returns ``([], (T, 0))`` when the store has no AU data.
    """
    t = len(meta["frame_index"])
    if "au" not in meta:
        return [], np.zeros((t, 0), np.float32)
    source = str(meta.get("au_source", ""))
    suffix = AU_SUFFIX.get(source, "_" + (source or "score"))
    names = [f"{n}{suffix}" for n in meta["au_names"]]
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
    return ["frame", "face_id", "frame_index", "timestamp", "confidence", "success", "status",
            "face_x", "face_y", "face_w", "face_h",
            *[f"x_{i}" for i in range(N_POINTS)], *[f"y_{i}" for i in range(N_POINTS)],
            *au_names, *POSE_COLUMNS]


def _rows(meta: dict[str, Any], au: np.ndarray, pose: np.ndarray) -> Iterable[list[str]]:
    status = np.asarray(meta["status"])
    face = FrameStatus.has_face(status)
    for t, f in enumerate(meta["frame_index"]):
        lm = meta["landmarks"][t]
        yield [str(int(f) + 1), "0", str(int(f)), _fmt(meta["timestamps"][t]),
               "1.0" if face[t] else "0.0", str(int(face[t])),
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
    return export_frame_csvs(out_dir, dest_dir, video_ids).paths


@dataclass
class CsvExport:
    """What :func:`export_frame_csvs` wrote: the files, their rows, the videos' frames."""

    paths: list[Path]
    rows: int  #: data rows, every file (the frames the window kept)
    source_frames: int  #: frames of the source videos
    window_modes: list[str]  #: the distinct ``stages.window.mode`` of the videos


def export_frame_csvs(out_dir: str | Path, dest_dir: str | Path,
                      video_ids: Iterable[str] | None = None) -> CsvExport:
    """:func:`write_frame_csvs` with the counts a summary line needs."""
    store = open_store(out_dir)
    ids = list(video_ids) if video_ids is not None else store.videos()
    out = CsvExport([], 0, 0, [])
    with store:
        for v in ids:
            out.paths.append(write_frame_csv(out_dir, v, Path(dest_dir) / f"{v}.csv", store))
            meta = store.meta(v)
            out.rows += len(meta["frame_index"])
            out.source_frames += int(meta.get("n_source_frames", len(meta["frame_index"])))
            mode = str(meta.get("window_mode", ""))
            if mode not in out.window_modes:
                out.window_modes.append(mode)
    return out
