"""``landmarks.backend: fan``: 68-point landmarks with 2D-FAN (Bulat & Tzimiropoulos 2017), a
TorchScript file placed locally. Holds :class:`FanConfig` and :class:`FanLandmarker`.

We never depend on the ``face-alignment`` package: it requires ``opencv-python``, which replaces
opencv-contrib's ``cv2`` and with it MedianFlow (the tracker). Only its network is used, as a
TorchScript file (``emoprep models list`` says where to put it); pre- and post-processing are ours:

1. crop: a square of side ``200 * s`` source pixels centred on the box centre moved up by
   ``0.12 * h``, with ``s = (w + h) / 195`` (the face-alignment convention for its detector boxes),
   resized to 256 x 256 (bilinear, black outside the frame), RGB float in [0, 1];
2. the network gives (B, 68, 64, 64) heatmaps; each point is the argmax cell moved a quarter cell
   towards its higher neighbour in x and in y (sub-pixel refinement);
3. cell centres map back to source pixels: ``x = x0 + (j + 0.5) * side / 64 - 0.5``.

Torch is imported only when a landmarker is built, so parsing the config stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ModelFileError
from emoprep.stages.landmarks.base import LandmarksBackendConfig, check_box

if TYPE_CHECKING:
    import torch

INPUT = 256  #: network input side, pixels
HEATMAP = 64  #: heatmap side, cells
N_POINTS = 68
CENTER_SHIFT = 0.12  #: box centre moved up by this fraction of the box height
REFERENCE_SCALE = 195.0  #: s = (w + h) / REFERENCE_SCALE
CROP_UNIT = 200.0  #: crop side = CROP_UNIT * s source pixels


class FanConfig(LandmarksBackendConfig):
    """``landmarks.backend: fan``: 2D-FAN TorchScript, (B, 3, 256, 256) RGB [0, 1] -> (B, 68, 64,
    64). FAN runs in every frame's box (no temporal pass) on the colour frame (it was trained on
    RGB faces)."""

    libraries: ClassVar[dict[str, str]] = {"torch": "torch"}
    path_keys = ("model",)
    temporal: ClassVar[bool] = False
    colour: ClassVar[bool] = True

    backend: Literal["fan"] = "fan"
    model: Path | None = Field(
        None,
        description="TorchScript 2D-FAN file; None: <model dir>/fan/2DFAN4.pt (emoprep models "
                    "list)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available")
    batch: int = Field(16, ge=1, description="faces per forward pass (runtime only)")

    def model_path(self) -> Path:
        """The TorchScript file; ModelFileError naming it and the fix when it is not there."""
        from emoprep.io.models import given_or_required

        return given_or_required(
            self.model, "fan", "2DFAN4.pt",
            "landmarks.model {path}: FAN TorchScript file not found; save the 2D-FAN TorchScript "
            "model there (see docs/MODELS.md, 'fan'), or fix the path")

    def model_files(self) -> list[Path]:
        """Files the landmarks depend on (their sha256 goes in the track fingerprint)."""
        return [self.model_path()]

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint: runtime keys (device, batch) out."""
        return self.model_dump(mode="json", exclude={"device", "batch"})

    def make(self) -> FanLandmarker:
        """The FAN landmarker (loads the TorchScript file once)."""
        return FanLandmarker(self)


def crop_transform(box_xywh: np.ndarray) -> tuple[float, float, float]:
    """(x0, y0, side) of the square source region FAN sees for a box (x, y, w, h), pixels."""
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2.0, y + h / 2.0 - CENTER_SHIFT * h
    side = CROP_UNIT * (w + h) / REFERENCE_SCALE
    return cx - side / 2.0, cy - side / 2.0, side


def crop_face(frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR or (H, W) grey uint8 frame -> (3, 256, 256) float32 RGB in [0, 1]."""
    import cv2

    x0, y0, side = crop_transform(box_xywh)
    s = INPUT / side
    # pixel centres: u + 0.5 = (x - x0 + 0.5) * s
    m = np.array([[s, 0.0, (0.5 - x0) * s - 0.5], [0.0, s, (0.5 - y0) * s - 0.5]], np.float64)
    patch = cv2.warpAffine(frame, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgb = cv2.cvtColor(patch, cv2.COLOR_GRAY2RGB if patch.ndim == 2 else cv2.COLOR_BGR2RGB)
    return rgb.transpose(2, 0, 1).astype(np.float32) / 255.0


def decode_heatmaps(hm: np.ndarray) -> np.ndarray:
    """(B, P, h, w) heatmaps -> (B, P, 2) float32 (x, y) in cells: argmax plus a quarter cell
    towards the higher neighbour (none at the border or when the neighbours are equal)."""
    b, p, h, w = hm.shape
    flat = hm.reshape(b, p, -1).argmax(axis=2)
    py, px = np.divmod(flat, w)
    out = np.stack([px, py], axis=2).astype(np.float32)
    bi, pi = np.meshgrid(np.arange(b), np.arange(p), indexing="ij")
    inner_x = (px > 0) & (px < w - 1)
    inner_y = (py > 0) & (py < h - 1)
    dx = hm[bi, pi, py, np.minimum(px + 1, w - 1)] - hm[bi, pi, py, np.maximum(px - 1, 0)]
    dy = hm[bi, pi, np.minimum(py + 1, h - 1), px] - hm[bi, pi, np.maximum(py - 1, 0), px]
    out[..., 0] += 0.25 * np.sign(dx) * inner_x
    out[..., 1] += 0.25 * np.sign(dy) * inner_y
    return out


def to_source(cells: np.ndarray, box_xywh: np.ndarray, size: int = HEATMAP) -> np.ndarray:
    """(P, 2) heatmap cell coordinates -> (P, 2) float32 source pixels for the crop of ``box``."""
    x0, y0, side = crop_transform(box_xywh)
    pts = (cells.astype(np.float64) + 0.5) * (side / size) - 0.5
    return (pts + np.array([x0, y0])).astype(np.float32)


class FanLandmarker:
    """2D-FAN landmarker, called as ``landmarker(frame, box_xywh)`` like the dlib one.

    Returns (68, 2) float32 x, y in source pixels (iBUG 68-point order, 0-based). Pickles by
    config (the TorchScript file is reloaded on the other side).
    """

    def __init__(self, cfg: FanConfig) -> None:
        self.cfg = cfg
        self.path = cfg.model_path()
        self.device = _device(cfg.device)
        self.net = _load(self.path, self.device)

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"])

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 256) float32 -> (B, 68, 64, 64) float32 heatmaps."""
        import torch

        with torch.inference_mode():
            out = _last(self.net(torch.from_numpy(batch).to(self.device)))
        if tuple(out.shape[1:]) != (N_POINTS, HEATMAP, HEATMAP):
            raise ModelFileError(
                f"landmarks.model {self.path}: output {tuple(out.shape)}, expected "
                f"(B, {N_POINTS}, {HEATMAP}, {HEATMAP}) heatmaps; is it a 2D-FAN TorchScript file?"
            )
        return out.float().cpu().numpy()

    def predict_batch(self, frames: list[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """One box per frame: frames (H, W[, 3]) uint8, boxes (B, 4) x, y, w, h -> (B, 68, 2)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(frames) != len(boxes):
            raise ValueError(
                f"landmarks: {len(frames)} frames but {len(boxes)} boxes; pass one box per frame"
            )
        out = np.empty((len(boxes), N_POINTS, 2), np.float32)
        for s in range(0, len(boxes), self.cfg.batch):
            part = [check_box(b) for b in boxes[s : s + self.cfg.batch]]
            crops = np.stack(
                [crop_face(f, b) for f, b in zip(frames[s : s + len(part)], part, strict=True)]
            )
            cells = decode_heatmaps(self.heatmaps(crops))
            for i, b in enumerate(part):
                out[s + i] = to_source(cells[i], b)
        return out

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        return self.predict_batch([frame], np.asarray(box_xywh, np.float32)[None])[0]


def _last(out: Any) -> torch.Tensor:
    """The heatmaps of a module output: a tensor, or the last of a list / tuple (stacked
    hourglasses)."""
    return out[-1] if isinstance(out, (list, tuple)) else out


def _device(name: str) -> torch.device:
    import torch

    from emoprep.errors import ConfigError

    cuda = torch.cuda.is_available()
    if name == "cuda" and not cuda:
        raise ConfigError("landmarks", ["device: cuda, but torch.cuda.is_available() is False; "
                                        "use device: auto or cpu"])
    return torch.device("cuda" if cuda and name != "cpu" else "cpu")


def _load(path: Path, device: torch.device) -> Any:
    """``torch.jit.load`` in eval mode; ModelFileError naming the file when it is not
    TorchScript."""
    import torch

    try:
        net = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(
            f"landmarks.model {path}: not a TorchScript file ({str(exc).splitlines()[0][:200]}); "
            "expected the 2D-FAN model saved with torch.jit.save (see docs/MODELS.md, 'fan')"
        ) from exc
    return net.eval()
