"""Trim-curve and AU-curve PNGs: files written, decodable, non-empty, no partial files left."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.plots import plot_au, plot_trim
from emoprep.stages.au.trim import TrimConfig, au_trim

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5_000
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (300, 800, 3)  # figsize (8, 3) at 100 dpi
    assert img.std() > 10  # not a blank canvas
    assert not list(path.parent.glob("*.part"))
    return img


def test_plot_trim_writes_png(tmp_path: Path):
    score = np.concatenate(
        [np.full(10, 0.1), np.linspace(0.2, 1, 10), np.full(20, 0.7), np.full(20, 0.1)]
    )
    score[3] = np.nan
    result = au_trim(score, TrimConfig(), 0.5)
    assert not result.anomaly
    out = plot_trim(
        score, result, tmp_path / "sub" / "v1_trim.png", "v1", frame_index=np.arange(60) + 100
    )
    assert out == tmp_path / "sub" / "v1_trim.png"
    check_png(out)


def test_plot_trim_marks_anomaly(tmp_path: Path):
    score = np.linspace(0, 1, 30)
    result = au_trim(score, TrimConfig(), 0.5)
    assert result.anomaly
    plain = check_png(plot_trim(score, result, tmp_path / "a.png", "anomaly"))
    red = (plain[..., 2] > 150) & (plain[..., 1] < 80) & (plain[..., 0] < 80)
    assert red.sum() > 100  # the red "ANOMALY" text and peak marker


def test_plot_trim_checks_frame_index(tmp_path: Path):
    score = np.zeros(5)
    with pytest.raises(ValueError, match="frame_index has 4 entries"):
        plot_trim(score, au_trim(score, TrimConfig(), 0.5), tmp_path / "x.png", "x", np.arange(4))


def test_plot_au_writes_png(tmp_path: Path):
    rng = np.random.default_rng(0)
    vals = rng.random((40, 3))
    out = plot_au(vals, ["AU01", "AU12", "AU25"], tmp_path / "au.png", "v1 AUs")
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5_000
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plot_au(vals, ["AU01", "AU12"], tmp_path / "bad.png", "bad")
