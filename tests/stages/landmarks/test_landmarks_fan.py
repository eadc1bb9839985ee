"""FAN landmarks: our crop / heatmap decoding around TorchScript modules the tests write
(FixedHeatmaps, BrightestCell: heatmaps whose peaks the tests place by hand).

What remains unverified, and why: the real 2D-FAN network and its landmarks on real faces. Its
weights (2DFAN4 from the face-alignment project's model server) are not in any wheel on the
package registry, so they cannot be fetched here (the model registry lists them as a bundle the
user places); without them there is no recorded output of the original to compare with. The
loader's error for a missing or wrong file is tested instead."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from emoprep.errors import ModelFileError
from emoprep.stages.landmarks import fan as lf
from emoprep.stages.landmarks.fan import FanConfig, FanLandmarker


class FixedHeatmaps(torch.nn.Module):
    """Returns the same (68, 64, 64) heatmaps for every input image."""

    def __init__(self, hm: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("hm", hm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hm.expand(x.shape[0], -1, -1, -1) + 0.0 * x.mean()


class BrightestCell(torch.nn.Module):
    """Heatmap of every point = the red channel average-pooled 4x4 (256 -> 64): the peak is the
    cell of the brightest red pixel of the crop."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x[:, :1], 4).expand(-1, 68, -1, -1).contiguous()


def _script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def _peaks() -> tuple[torch.Tensor, np.ndarray]:
    """Heatmaps with point k's peak at cell (10 + k % 40, 5 + k // 2), its right and upper
    neighbours higher than the left and lower ones (so + 0.25 in x, - 0.25 in y)."""
    hm = torch.zeros(68, 64, 64)
    cells = np.array([(10 + k % 40, 5 + k // 2) for k in range(68)], np.float32)
    for k, (x, y) in enumerate(cells.astype(int)):
        hm[k, y, x] = 1.0
        hm[k, y, x + 1], hm[k, y, x - 1] = 0.5, 0.1
        hm[k, y - 1, x], hm[k, y + 1, x] = 0.5, 0.1
    return hm, cells + np.array([0.25, -0.25], np.float32)


def test_decode_and_map_back_exactly(tmp_path: Path) -> None:
    hm, refined = _peaks()
    lm = FanLandmarker(
        FanConfig(model=_script(FixedHeatmaps(hm), tmp_path / "fan.pt"), device="cpu")
    )
    box = np.array([100, 50, 80, 100], np.float32)
    # FAN convention by hand: centre (140, 100 - 0.12 * 100), side 200 * 180 / 195
    side = 200 * 180 / 195
    x0, y0 = 140 - side / 2, 88 - side / 2
    expected = np.stack([x0 + (refined[:, 0] + 0.5) * side / 64 - 0.5,
                         y0 + (refined[:, 1] + 0.5) * side / 64 - 0.5], axis=1)
    frame = np.zeros((240, 320), np.uint8)
    out = lm(frame, box)
    assert out.shape == (68, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_decode_heatmaps_border_and_ties_are_not_shifted() -> None:
    hm = np.zeros((1, 3, 8, 8), np.float32)
    hm[0, 0, 0, 7] = 1.0  # corner: no neighbours on one side
    hm[0, 1, 4, 4] = 1.0  # equal neighbours
    hm[0, 2, 3, 2], hm[0, 2, 3, 1], hm[0, 2, 4, 2] = 1.0, 0.3, 0.2  # left and lower higher
    out = lf.decode_heatmaps(hm)
    assert out[0].tolist() == [[7.0, 0.0], [4.0, 4.0], [1.75, 3.25]]


@pytest.mark.parametrize("grey", [False, True])
def test_crop_and_mapping_find_a_bright_dot(tmp_path: Path, grey: bool) -> None:
    lm = FanLandmarker(
        FanConfig(model=_script(BrightestCell(), tmp_path / "dot.pt"), batch=2)
    )
    box = np.array([90, 40, 110, 130], np.float32)
    dots = [(150, 120), (120, 60), (180, 150)]
    frames = []
    for x, y in dots:
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[y - 1 : y + 2, x - 1 : x + 2, 2] = 255  # red in BGR: the module reads RGB channel 0
        frames.append(frame[:, :, 2].copy() if grey else frame)
    out = lm.predict_batch(frames, np.stack([box] * 3))
    cell = lf.crop_transform(box)[2] / 64  # one heatmap cell in source pixels
    for (x, y), pts in zip(dots, out, strict=True):
        assert np.abs(pts - np.array([x, y])).max() < cell, (x, y, pts[0])
    np.testing.assert_allclose(lm(frames[1], box), out[1])


def test_missing_model_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelFileError, match=r"nofan.pt: FAN TorchScript file not found"):
        FanLandmarker(FanConfig(model=tmp_path / "nofan.pt"))
    monkeypatch.setenv("EMOPREP_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelFileError) as exc:
        FanConfig().model_files()
    assert str(tmp_path / "models" / "fan" / "2DFAN4.pt") in str(exc.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not torchscript")
    with pytest.raises(ModelFileError, match="junk.pt: not a TorchScript file"):
        FanLandmarker(FanConfig(model=junk))


def test_wrong_output_shape_is_a_model_error(tmp_path: Path) -> None:
    path = _script(FixedHeatmaps(torch.zeros(5, 64, 64)), tmp_path / "small.pt")
    lm = FanLandmarker(FanConfig(model=path))
    with pytest.raises(
        ModelFileError, match=r"output \(1, 5, 64, 64\), expected \(B, 68, 64, 64\)"
    ):
        lm(np.zeros((100, 100), np.uint8), np.array([10, 10, 50, 50]))
    with pytest.raises(ValueError, match="finite"):
        lm(np.zeros((100, 100), np.uint8), np.array([10, 10, 0, 50]))


def test_pickles_by_config(tmp_path: Path) -> None:
    hm, _ = _peaks()
    cfg = FanConfig(model=_script(FixedHeatmaps(hm), tmp_path / "fan.pt"), device="cpu")
    lm = FanLandmarker(cfg)
    clone = pickle.loads(pickle.dumps(lm))
    frame, box = np.zeros((64, 64), np.uint8), np.array([5, 5, 40, 40])
    np.testing.assert_array_equal(clone(frame, box), lm(frame, box))
    assert clone.cfg == cfg and cfg.model_files() == [tmp_path / "fan.pt"]


def test_cuda_matches_cpu(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    hm, _ = _peaks()
    path = _script(FixedHeatmaps(hm), tmp_path / "fan.pt")
    frame, box = np.zeros((240, 320), np.uint8), np.array([100, 50, 80, 100])
    gpu = FanLandmarker(FanConfig(model=path, device="cuda"))
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(
        gpu(frame, box), FanLandmarker(FanConfig(model=path))(frame, box)
    )
