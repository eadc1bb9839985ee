"""One video's part of the report: how it is ranked, its figures and its HTML section."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emoprep.io.reader import FrameStore
from emoprep.pipeline.quality import VideoWarning
from emoprep.plots import plot_trim
from emoprep.report import html as H
from emoprep.report.plots import contact_sheet, draw_face, evenly_spaced, status_timeline
from emoprep.report.rundata import RunData, status_counts
from emoprep.stages.au.trim import TrimResult
from emoprep.types import FrameStatus

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class Problem(IntEnum):
    """How a video is ranked in the report: problems first, worst first."""

    FAILED = 0
    ANOMALY = 1
    WARNING = 2
    OK = 3

    @property
    def tag(self) -> str:
        return self.name.lower()


@dataclass
class VideoView:
    """What the report shows for one video; ``images`` maps a figure kind to its relative path."""

    row: dict[str, Any]
    problem: Problem
    failed_stage: str = ""
    warnings: list[VideoWarning] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    facts: list[tuple[str, Any]] = field(default_factory=list)
    status_counts: dict[str, int] = field(default_factory=dict)  # kept frames per status

    @property
    def video_id(self) -> str:
        return str(self.row["video_id"])


def safe_name(video_id: str) -> str:
    """A file-name-safe stem for a video id (a short hash keeps altered ids distinct)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", video_id)
    if stem != video_id or stem.startswith("."):
        stem = f"{stem.lstrip('.')}-{hashlib.sha1(video_id.encode()).hexdigest()[:8]}"
    return stem


def read_source_frame(source: str, index: int) -> np.ndarray | None:
    """Frame ``index`` (0-based) of a video file or image folder, BGR; None if unreadable.

    Video files are read sequentially (``grab`` up to the frame), which is exact where seeking
    is not."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return cv2.imread(str(files[index])) if index < len(files) else None
    if not path.is_file():
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(index):
            if not cap.grab():
                return None
        ok, frame = cap.read()
        return frame if ok else None
    finally:
        cap.release()


def trim_result(meta: dict[str, Any]) -> TrimResult:
    """The trim decision the figure shows. A late peak is an anomaly only where the trim applies
    (``window.mode: au_trim``), as the run summary and the exports count it."""
    score = np.asarray(meta["trim_score"], np.float64)
    peak = int(np.nanargmax(score)) if np.isfinite(score).any() else -1
    anomaly = bool(meta["anomaly"]) and meta.get("window_mode") == "au_trim"
    return TrimResult(int(meta["trim_start"]), int(meta["trim_end"]), anomaly,
                      float(meta.get("trim_threshold", np.nan)), peak,
                      "marked for manual review" if anomaly else "")


def _trim_figure(meta: dict[str, Any], path: Path, video_id: str) -> Path:
    title = f"{video_id}: AU trim ({meta.get('au_source', '')})"
    if meta.get("window_mode") != "au_trim":
        title += f" - not applied: window mode is {meta.get('window_mode', '?')}"
    score = np.asarray(meta["trim_score"], np.float64)
    return plot_trim(score, trim_result(meta), path, title, frame_index=meta["au_frame_index"])


def _first_face_figure(view: VideoView, meta: dict[str, Any], path: Path) -> Path | None:
    face = np.flatnonzero(FrameStatus.has_face(meta["status"]))
    t = int(face[0]) if face.size else 0
    src_index = int(meta["frame_index"][t])
    frame = read_source_frame(str(meta.get("source", "")), src_index)
    if frame is None:
        view.notes.append(f"source {meta.get('source')!s} could not be read at frame "
                          f"{src_index}: first-frame view left out")
        return None
    status = FrameStatus(int(meta["status"][t])).name.lower()
    return draw_face(frame, meta["boxes"][t], meta["landmarks"][t], path,
                     f"frame {src_index} ({status})")


def make_figures(view: VideoView, store: FrameStore, img_dir: Path, sheet_size: int) -> None:
    """Write the contact sheet, status timeline, AU/trim curve and first face frame of an ok
    video into ``img_dir``; record their names (relative to the page) in ``view.images``."""
    vid, stem = view.video_id, safe_name(view.video_id)
    meta = store.meta(vid)
    status = np.asarray(meta["status"])
    view.status_counts = status_counts(status)
    pick = evenly_spaced(len(status), sheet_size)
    if pick.size:
        crops = store.frames(vid, pick)
        caps = [str(int(meta["frame_index"][i])) for i in pick]
        contact_sheet(crops, caps, status[pick], img_dir / f"{stem}_crops.png")
        view.images["crops"] = f"img/{stem}_crops.png"
        status_timeline(meta["frame_index"], status, img_dir / f"{stem}_status.png",
                        f"{vid}: frame status ({len(status)} kept frames)")
        view.images["status"] = f"img/{stem}_status.png"
    if "trim_score" in meta and "trim_start" in meta:
        _trim_figure(meta, img_dir / f"{stem}_trim.png", vid)
        view.images["trim"] = f"img/{stem}_trim.png"
    else:
        view.notes.append("no AU data in the store: AU/trim curve left out")
    if pick.size and _first_face_figure(view, meta, img_dir / f"{stem}_face.png"):
        view.images["face"] = f"img/{stem}_face.png"
    fi = meta["frame_index"]
    view.facts += [("source", meta.get("source", "")),
                   ("kept frames", f"{len(fi)} (source frames {int(fi[0])}-{int(fi[-1])})"
                    if len(fi) else "0"),
                   ("window", meta.get("window_mode", ""))]
    if "trim_start" in meta:
        view.facts.append(("trim [start, end)", f"[{meta['trim_start']}, {meta['trim_end']}) of "
                                                f"{len(meta['trim_score'])} tracked frames"))


_CAPTIONS = {"crops": "aligned crops, evenly spaced (caption: source frame; bar: status)",
             "status": "status along the kept frames",
             "trim": "AU score, threshold and kept range",
             "face": "first kept frame with a face: tracked box and landmarks"}


def video_section(view: VideoView, run: RunData) -> str:
    """The HTML section of one video."""
    r = view.row
    labels = ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-"
    head = (f'<section class="video {view.problem.tag}" id="{H.esc(H.anchor(view.video_id))}">'
            f'<h3>{H.esc(view.video_id)} <span class="tag {view.problem.tag}">'
            f"{H.esc(view.problem.tag)}</span></h3>")
    facts = [("subject", r["subject"]), ("labels", labels), ("status", r["status"]),
             ("frames with a face", f"{r['n_face']} of {r['n_frames']}"), *view.facts]
    parts = [head, H.kv_table(facts)]
    if r["status"] != "ok":
        stage = f"{view.failed_stage}: " if view.failed_stage else ""
        err = r["error"] or stage + "no error recorded"
        parts.append(f'<p class="error">failed: {H.esc(err)}</p>')
    parts += [f'<p class="error">warning: {H.esc(w.message)}</p>' for w in view.warnings]
    parts += [f'<p class="muted">{H.esc(n)}</p>' for n in view.notes]
    figs = [f"<figure>{H.img(src, f'{view.video_id} {kind}')}<figcaption class=\"muted\">"
            f"{H.esc(_CAPTIONS[kind])}</figcaption></figure>"
            for kind, src in view.images.items()]
    parts.append(f'<div class="figs">{"".join(figs)}</div></section>')
    return "".join(parts)
