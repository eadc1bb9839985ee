"""Figures of the HTML report: contact sheet, status timeline, first frame, split chart.

matplotlib figures use the Agg canvas directly (no pyplot state); raster images are composed
with numpy/cv2. Every file is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from emoprep.types import FrameStatus

#: RGB colour (0-255) of each frame status, shared by the timeline and the contact sheet
STATUS_RGB: dict[FrameStatus, tuple[int, int, int]] = {
    FrameStatus.NO_FACE: (160, 160, 160),
    FrameStatus.DETECTED: (44, 160, 44),
    FrameStatus.TRACKED: (31, 119, 180),
    FrameStatus.REDETECTED: (255, 127, 14),
    FrameStatus.LOST: (214, 39, 40),
    FrameStatus.MULTI_FACE: (148, 103, 189),
}


def _replace_into(tmp: Path, path: Path) -> Path:
    os.replace(tmp, path)
    return path


def save_figure(fig: Figure, path: Path, dpi: int = 100) -> Path:
    """Render a matplotlib figure to PNG at ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part.png")
    FigureCanvasAgg(fig)
    fig.savefig(tmp, format="png", dpi=dpi)
    return _replace_into(tmp, path)


def save_image(image_bgr: np.ndarray, path: Path) -> Path:
    """Write a (H, W, 3) uint8 BGR image as PNG at ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part.png")
    if not cv2.imwrite(str(tmp), image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6]):
        raise OSError(f"cannot write image {tmp}")
    return _replace_into(tmp, path)


def evenly_spaced(n: int, k: int = 16) -> np.ndarray:
    """Up to ``k`` distinct, increasing indices spread evenly over ``range(n)``, first and last
    included."""
    if n <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))


def contact_sheet(crops_rgb: np.ndarray, captions: Sequence[str], status: np.ndarray,
                  path: Path, cols: int = 8, tile: int = 112) -> Path:
    """A grid of aligned crops with a caption and a status-coloured bar under each.

    crops_rgb: (N, S, S, 3) uint8 RGB; captions: N strings (e.g. the source frame number);
    status: (N,) FrameStatus values. Tiles are ``tile`` px wide.
    """
    n = len(crops_rgb)
    if n == 0 or len(captions) != n or len(status) != n:
        raise ValueError(f"contact_sheet: need N >= 1 crops, captions and statuses, got "
                         f"{n}, {len(captions)}, {len(status)}")
    cols = min(cols, n)
    rows = -(-n // cols)
    band = 18
    sheet = np.full((rows * (tile + band), cols * tile, 3), 255, np.uint8)
    for i, (crop, cap, st) in enumerate(zip(crops_rgb, captions, status, strict=True)):
        r, c = divmod(i, cols)
        y, x = r * (tile + band), c * tile
        img = cv2.resize(np.ascontiguousarray(crop[..., ::-1]), (tile, tile),
                         interpolation=cv2.INTER_AREA)
        sheet[y:y + tile, x:x + tile] = img
        colour = STATUS_RGB[FrameStatus(int(st))][::-1]
        sheet[y + tile:y + tile + band, x:x + tile] = colour
        cv2.putText(sheet, cap, (x + 4, y + tile + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return save_image(sheet, path)


def status_timeline(frame_index: np.ndarray, status: np.ndarray, path: Path, title: str) -> Path:
    """A strip along the source frames, one colour per frame status, with counts in the legend.

    frame_index: (T,) source frame numbers; status: (T,) FrameStatus values.
    """
    fi, st = np.asarray(frame_index), np.asarray(status)
    rgb = np.array([STATUS_RGB[FrameStatus(int(s))] for s in st], np.uint8).reshape(1, -1, 3)
    fig = Figure(figsize=(8, 1.3))
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = (float(fi[0]) - 0.5, float(fi[-1]) + 0.5) if fi.size else (0.0, 1.0)
    ax.imshow(rgb, aspect="auto", extent=(lo, hi, 0, 1), interpolation="nearest")
    ax.set_yticks([])
    ax.set_xlabel("source frame", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    handles = [Patch(color="#" + "".join(f"{c:02x}" for c in STATUS_RGB[s]),
                     label=f"{s.name.lower()} {int(n)}")
               for s in FrameStatus if (n := np.count_nonzero(st == s))]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.2), fontsize=7,
              frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def draw_face(frame_bgr: np.ndarray, box: np.ndarray, landmarks: np.ndarray, path: Path,
              caption: str, max_width: int = 480) -> Path:
    """The source frame with the face box (green) and the 68 landmarks (red) drawn, shrunk to at
    most ``max_width`` px. box: (4,) x, y, w, h and landmarks (68, 2) in source pixels (NaN: not
    drawn)."""
    img = np.ascontiguousarray(frame_bgr).copy()
    scale = min(1.0, max_width / img.shape[1])
    if scale < 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    b = np.asarray(box, np.float64) * scale
    if np.isfinite(b).all():
        cv2.rectangle(img, (round(b[0]), round(b[1])), (round(b[0] + b[2]), round(b[1] + b[3])),
                      (0, 200, 0), 2)
    for x, y in np.asarray(landmarks, np.float64) * scale:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(img, (round(x), round(y)), 2, (0, 0, 230), -1, cv2.LINE_AA)
    cv2.putText(img, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2,
                cv2.LINE_AA)
    cv2.putText(img, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return save_image(img, path)


def split_chart(parts: Sequence[str], videos_by_label: Mapping[str, Sequence[int]],
                subjects: Sequence[int], path: Path, title: str) -> Path:
    """Stacked bars of videos per split part (one colour per label value) and a dot for the
    number of subjects of each part.

    videos_by_label: label value -> counts per part (each of len(parts)); subjects: per part.
    """
    x = np.arange(len(parts))
    fig = Figure(figsize=(7, 3))
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(parts))
    for value, counts in videos_by_label.items():
        c = np.asarray(counts, np.float64)
        ax.bar(x, c, bottom=bottom, label=str(value), width=0.6)
        bottom += c
    ax.plot(x, subjects, "k D", ms=6, label="subjects")
    ax.set_xticks(x, list(parts), fontsize=8, rotation=20)
    ax.set_ylabel("videos", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)
