"""py-feat source: the missing-dependency error, and the crop -> tensor -> Fex -> (T, K) mapping
with a stand-in detector and result (FakeDetector, FakeFex) whose outputs the tests compute by
hand.

What remains unverified, and why: that real py-feat returns what the stand-ins model (its
Detector's call signature, a Fex with ``frame``/``FaceScore``/AU columns and NaN rows for empty
frames) and its AU values on real faces. py-feat cannot run here: it imports torchvision, which
cannot be imported beside the project's torch, and it downloads its model weights from the
Hugging Face hub on first use, which no wheel on the package registry carries. The stand-ins
follow py-feat 2.1.5's documented Fex layout (the wheel's feat/tests/data/Feat_Test.csv has those
columns)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.errors import MissingDependencyError, StageError
from emoprep.stages.au import PyFeatAUConfig, compute_au
from emoprep.stages.au.pyfeat import fex_to_frames, load_detector, pyfeat_aus
from emoprep.types import FrameStatus, Geometry, VideoEntry

AUS = ["AU01", "AU02", "AU12"]


class FakeFex:
    """Column store with the two lookups emoprep uses on py-feat's Fex: fex[col], fex[[cols]]."""

    def __init__(self, cols: dict[str, list[float]], au_columns: list[str] | None = None):
        self._cols = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        self.columns = list(self._cols)
        self.au_columns = au_columns

    def __getitem__(self, key):
        if isinstance(key, list):
            return np.stack([self._cols[k] for k in key], axis=1)
        return self._cols[key]


class FakeDetector:
    """Per image: AU01 = mean red / 255, AU02 = mean green / 255, AU12 = image position / 10.

    Image 1 of every batch gets a second, weaker face; images whose blue channel is 255 have no
    face (one all-NaN row, FaceScore NaN, as py-feat writes for empty frames).
    """

    def __init__(self):
        self.calls: list[tuple[tuple[int, ...], torch.dtype, str, dict]] = []

    def detect(self, inputs, data_type="image", **kwargs):
        self.calls.append((tuple(inputs.shape), inputs.dtype, data_type, kwargs))
        x = inputs.numpy().astype(np.float64)
        rows: dict[str, list[float]] = {k: [] for k in ["frame", "FaceScore", *AUS]}
        for i in range(x.shape[0]):
            faces = (
                []
                if x[i, 2].mean() == 255
                else [(0.99, x[i, 0].mean() / 255, x[i, 1].mean() / 255)]
            )
            if i == 1 and faces:
                faces.append((0.40, 0.0, 0.0))  # weaker second face, must lose
            for score, a1, a2 in faces or [(np.nan, np.nan, np.nan)]:
                for k, v in zip(
                    ["frame", "FaceScore", *AUS], [i, score, a1, a2, i / 10], strict=True
                ):
                    rows[k].append(v if faces else (i if k == "frame" else np.nan))
        return FakeFex(rows, au_columns=list(AUS))


def crop(r: int, g: int, b: int = 0, s: int = 8) -> np.ndarray:
    c = np.zeros((s, s, 3), np.uint8)
    c[..., 0], c[..., 1], c[..., 2] = r, g, b
    return c


def test_mapping_batches_rgb_order_and_face_choice():
    crops = [crop(255, 0), crop(51, 102), crop(0, 0, 255), crop(102, 255), crop(0, 51)]
    det = FakeDetector()
    vals, names = pyfeat_aus(iter(crops), 5, det, batch_size=2)
    assert names == AUS and vals.shape == (5, 3) and vals.dtype == np.float32
    assert [c[0] for c in det.calls] == [(2, 3, 8, 8), (2, 3, 8, 8), (1, 3, 8, 8)]
    assert all(c[1] == torch.uint8 and c[2] == "tensor" for c in det.calls)
    assert all(c[3]["progress_bar"] is False for c in det.calls)
    np.testing.assert_allclose(vals[0], [1.0, 0.0, 0.0])  # red channel -> tensor channel 0
    np.testing.assert_allclose(vals[1], [0.2, 0.4, 0.1])  # the 0.99 face, not the 0.40 one
    assert np.isnan(vals[2]).all()  # no face
    np.testing.assert_allclose(vals[3], [0.4, 1.0, 0.1])  # second batch: frame 0 of its call
    np.testing.assert_allclose(vals[4], [0.0, 0.2, 0.0])


def test_au_columns_fallback_and_name_padding():
    fex = FakeFex({"frame": [0, 1], "FaceScore": [0.9, 0.8], "AU1": [0.1, 0.2], "AU12": [0.3, 0.4],
                   "happiness": [0.5, 0.5]})

    class Det:
        def detect(self, inputs, data_type="image", **kw):
            return fex

    vals, names = pyfeat_aus([crop(0, 0), crop(0, 0)], 2, Det())
    assert names == ["AU01", "AU12"]
    np.testing.assert_allclose(vals, [[0.1, 0.3], [0.2, 0.4]], rtol=1e-6)


def test_fex_rows_outside_the_batch_are_an_error():
    fex = FakeFex({"frame": [0, 3], "AU01": [0.1, 0.2]})
    with pytest.raises(StageError, match="outside 0-1"):
        fex_to_frames(fex, 2, ["AU01"])
    with pytest.raises(StageError, match="no 'frame' column"):
        fex_to_frames(FakeFex({"AU01": [0.1]}), 1, ["AU01"])


def test_crop_count_and_type_are_checked():
    with pytest.raises(StageError, match="got 2 aligned crops for 3 tracked frames"):
        pyfeat_aus([crop(1, 1), crop(1, 1)], 3, FakeDetector(), video="v1")
    with pytest.raises(StageError, match=r"\(S, S, 3\) uint8"):
        pyfeat_aus([np.zeros((8, 8, 3), np.float32)], 1, FakeDetector())


def geometry(t: int) -> Geometry:
    return Geometry(
        frame_index=np.arange(t, dtype=np.int64), timestamps=np.zeros(t),
        boxes=np.zeros((t, 4), np.float32), landmarks=np.zeros((t, 68, 2), np.float32),
        status=np.full(t, FrameStatus.TRACKED, np.uint8), n_faces=np.ones(t, np.int16),
    )


def test_compute_au_pyfeat_needs_crops(tmp_path: Path):
    entry = VideoEntry(video_id="v", path=str(tmp_path / "v.mp4"), subject="s")
    with pytest.raises(StageError, match="needs the aligned crops"):
        compute_au(geometry(3), entry, PyFeatAUConfig(), tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("feat") is not None, reason="py-feat is installed")
def test_missing_pyfeat_names_the_extra_and_model_files(tmp_path: Path):
    load_detector.cache_clear()
    entry = VideoEntry(video_id="v", path=str(tmp_path / "v.mp4"), subject="s")
    with pytest.raises(MissingDependencyError) as exc:
        compute_au(geometry(2), entry, PyFeatAUConfig(), tmp_path,
                   crops=lambda: iter([crop(0, 0), crop(0, 0)]))
    msg = str(exc.value)
    assert "emoprep[pyfeat]" in msg and "py-feat/xgb_au" in msg and "never downloads" in msg
