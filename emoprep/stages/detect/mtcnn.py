"""MTCNN detector (``detect.backend: mtcnn``): P-Net over an image pyramid, R-Net and O-Net on
the candidates; a box, a confidence and five landmarks per face. Batched over frames, on CUDA when
available. torch is imported only when the detector is built.

The stages (thresholds and scale factor configurable, the NMS overlaps fixed as in the paper's
reference code):

1. P-Net on the frame scaled by ``12 / min_size * scale_factor**k`` while the short side stays
   >= 12 px; cells with probability >= ``thresholds[0]`` become 12x12 windows mapped back to the
   frame; NMS (IoU 0.5) per scale, then NMS (IoU 0.7) over all scales, box regression, squaring.
2. R-Net on the 24x24 crops: keep probability > ``thresholds[1]``, NMS (IoU 0.7), regression,
   squaring.
3. O-Net on the 48x48 crops: keep probability > ``thresholds[2]``, landmarks from the O-Net box,
   regression, NMS (overlap / smaller area, 0.7).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from pydantic import Field

from emoprep.errors import ConfigError, ModelFileError
from emoprep.stages.detect.base import DetectorConfig, FaceDetector
from emoprep.stages.detect.boxmath import (
    Overlap,
    cell_boxes,
    crop_resized,
    nms,
    regress,
    square,
    to_xywh,
)
from emoprep.types import Device

if TYPE_CHECKING:
    import torch

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
PER_SCALE_NMS, PYRAMID_NMS, RNET_NMS, ONET_NMS = 0.5, 0.7, 0.7, 0.7


class Faces(NamedTuple):
    """Faces of one frame: boxes (K, 4) float32 x, y, w, h; scores (K,) float32 in [0, 1];
    landmarks (K, 5, 2) float32 x, y (left eye, right eye, nose, left and right mouth corner as
    seen in the image), all in source pixels."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        )


class MtcnnConfig(DetectorConfig):
    """MTCNN with the weights of facenet-pytorch 2.6.0 (``emoprep models fetch mtcnn``)."""

    libraries = {"torch": "torch"}
    has_scores = True
    path_keys = ("weights_dir",)

    backend: Literal["mtcnn"] = "mtcnn"
    min_size: int = Field(40, ge=12, description="smallest face side, source pixels")
    scale_factor: float = Field(0.709, gt=0.1, lt=1.0, description="pyramid step between scales")
    thresholds: tuple[float, float, float] = Field(
        (0.6, 0.7, 0.7), description="face probability thresholds of P-Net, R-Net and O-Net")
    weights_dir: Path | None = Field(
        None, description="folder with pnet.pt, rnet.pt, onet.pt; None: the model directory")
    device: Device = Device.AUTO
    batch_size: int = Field(16, ge=1, description="frames per forward pass in detect_batch")
    threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads (process-wide) when the detector is built; "
        "None: torch's default")

    def make(self) -> FaceDetector:
        return MtcnnDetector(self)

    def model_files(self) -> list[Path]:
        return [weight_path(self, name) for name in WEIGHT_FILES]

    def min_face(self) -> int:
        return self.min_size

    def no_face_hint(self) -> str:
        return (f"try stages.detect.min_size: {max(12, self.min_size // 2)} or lower "
                f"stages.detect.thresholds (now {list(self.thresholds)})")


def weight_path(cfg: MtcnnConfig, name: str) -> Path:
    """Path of weight file ``name``: in ``cfg.weights_dir`` when set, else from the model
    registry."""
    if cfg.weights_dir is not None:
        path = Path(cfg.weights_dir).expanduser() / name
        if not path.is_file():
            raise ModelFileError(
                f"detect.weights_dir {cfg.weights_dir}: no {name} there; expected pnet.pt, rnet.pt "
                "and onet.pt from facenet-pytorch 2.6.0; run `emoprep models fetch mtcnn` and "
                "remove detect.weights_dir")
        return path.resolve()
    try:
        from emoprep.io.models import require
    except ImportError as exc:
        raise ModelFileError(
            f"detect.backend mtcnn: {name} not found (no model registry in this install); set "
            "detect.weights_dir to a folder with pnet.pt, rnet.pt and onet.pt") from exc
    return Path(require("mtcnn", name))


def pyramid_scales(height: int, width: int, min_size: int, factor: float) -> list[float]:
    """Scales of the image pyramid: ``12 / min_size * factor**k`` while the short side >= 12 px."""
    m = 12.0 / min_size
    short = min(height, width) * m
    scales = []
    while short >= 12:
        scales.append(m * factor ** len(scales))
        short *= factor
    return scales


def _rgb(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    raise ValueError(f"frame: expected (H, W, 3) BGR or (H, W) grey uint8, got shape {frame.shape}")


def resolve_device(device: Device) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    import torch

    cuda = torch.cuda.is_available()
    if device is Device.CUDA and not cuda:
        raise ConfigError("stages.detect", [
            "device: cuda, but torch.cuda.is_available() is False; use device: auto or cpu"])
    return torch.device("cuda" if cuda and device is not Device.CPU else "cpu")


class MtcnnDetector:
    """MTCNN on BGR (or grey) uint8 frames; see the module docstring for the stages."""

    def __init__(self, cfg: MtcnnConfig) -> None:
        from emoprep.stages.detect.mtcnn_nets import load_net

        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        if cfg.threads is not None:
            import torch

            torch.set_num_threads(cfg.threads)
        self.pnet, self.rnet, self.onet = (
            load_net(f.removesuffix(".pt"), weight_path(cfg, f), self.device) for f in WEIGHT_FILES)

    def __getstate__(self) -> dict[str, Any]:  # networks are rebuilt from the config
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"])

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        return self.detect_full(frame_bgr).boxes

    def detect_scored(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (K, 4) float32 x, y, w, h and their confidences (K,) float32."""
        faces = self.detect_full(frame_bgr)
        return faces.boxes, faces.scores

    def detect_full(self, frame_bgr: np.ndarray) -> Faces:
        return self.detect_batch([frame_bgr])[0]

    def detect_batch(self, frames: list[np.ndarray]) -> list[Faces]:
        """:class:`Faces` of each frame; frames of one shape go through the nets together, in
        batches of ``batch_size``."""
        import torch

        rgb = [_rgb(f) for f in frames]
        out: list[Faces | None] = [None] * len(rgb)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(rgb):
            groups.setdefault(img.shape, []).append(i)
        with torch.inference_mode():
            for idx in groups.values():
                for s in range(0, len(idx), self.cfg.batch_size):
                    part = idx[s:s + self.cfg.batch_size]
                    for i, faces in zip(
                        part, self._detect_same_shape([rgb[i] for i in part]), strict=True
                    ):
                        out[i] = faces
        return out  # type: ignore[return-value]

    # -- stages ----------------------------------------------------------------------------------
    def _detect_same_shape(self, rgb: list[np.ndarray]) -> list[Faces]:
        cands = self._proposals(rgb)
        refined = self._refine(rgb, cands)
        return self._output(rgb, refined)

    def _tensor(self, crops: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) or (N, H, W, 3) uint8 RGB -> (N, 3, ., .) float32 scaled, on the device."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        return (x.permute(0, 3, 1, 2).float() - 127.5) * 0.0078125

    def _proposals(self, rgb: list[np.ndarray]) -> list[np.ndarray]:
        """Stage 1: squared candidate boxes (N, 4) per frame (corner boxes, source pixels)."""
        import torch.nn.functional as F  # noqa: N812

        h, w = rgb[0].shape[:2]
        x = self._tensor(np.stack(rgb))
        per_frame: list[list[tuple[np.ndarray, ...]]] = [[] for _ in rgb]
        for scale in pyramid_scales(h, w, self.cfg.min_size, self.cfg.scale_factor):
            size = (math.ceil(h * scale), math.ceil(w * scale))
            prob, reg = self.pnet(F.interpolate(x, size=size, mode="area"))
            prob, reg = prob.cpu().numpy(), reg.cpu().numpy()
            for b in range(len(rgb)):
                boxes, scores, offs = cell_boxes(prob[b], reg[b], scale, self.cfg.thresholds[0])
                keep = nms(boxes, scores, PER_SCALE_NMS)
                per_frame[b].append((boxes[keep], scores[keep], offs[keep]))
        out = []
        for parts in per_frame:
            if not parts:  # frame smaller than min_size: no pyramid level
                out.append(np.zeros((0, 4)))
                continue
            boxes, scores, offs = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
            keep = nms(boxes, scores, PYRAMID_NMS)
            out.append(square(regress(boxes[keep], offs[keep])))
        return out

    def _refine(self, rgb: list[np.ndarray], cands: list[np.ndarray]) -> list[np.ndarray]:
        """Stage 2: R-Net on 24x24 crops; squared boxes (N, 4) per frame."""
        if sum(len(c) for c in cands) == 0:
            return [np.zeros((0, 4)) for _ in rgb]
        crops = np.concatenate(
            [crop_resized(img, c, 24) for img, c in zip(rgb, cands, strict=True)]
        )
        prob, reg = (t.cpu().numpy() for t in self.rnet(self._tensor(crops)))
        out, start = [], 0
        for c in cands:
            p, r = prob[start:start + len(c)], reg[start:start + len(c)]
            start += len(c)
            ok = p > self.cfg.thresholds[1]
            keep = nms(c[ok], p[ok], RNET_NMS)
            out.append(square(regress(c[ok][keep], r[ok][keep])))
        return out

    def _output(self, rgb: list[np.ndarray], cands: list[np.ndarray]) -> list[Faces]:
        """Stage 3: O-Net on 48x48 crops; final boxes, scores and landmarks per frame."""
        if sum(len(c) for c in cands) == 0:
            return [Faces.empty() for _ in rgb]
        crops = np.concatenate(
            [crop_resized(img, c, 48) for img, c in zip(rgb, cands, strict=True)]
        )
        prob, reg, pts = (t.cpu().numpy() for t in self.onet(self._tensor(crops)))
        out, start = [], 0
        for c in cands:
            sl = slice(start, start + len(c))
            start += len(c)
            ok = prob[sl] > self.cfg.thresholds[2]
            box, p, pt = c[ok], prob[sl][ok], pts[sl][ok].reshape(-1, 2, 5).transpose(0, 2, 1)
            size = (box[:, 2:] - box[:, :2])[:, None, :]
            lm = box[:, None, :2] + pt * size
            box = regress(box, reg[sl][ok])
            keep = nms(box, p, ONET_NMS, Overlap.MIN)
            out.append(
                Faces(to_xywh(box[keep]), p[keep].astype(np.float32), lm[keep].astype(np.float32))
            )
        return out
