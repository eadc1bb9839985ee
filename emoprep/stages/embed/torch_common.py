"""What the torch embedders share: device choice, checked state-dict loading, preprocessing and
the batched, no-grad forward pass. Importing this module imports torch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from emoprep.errors import ModelFileError
from emoprep.stages.embed.base import check_crops
from emoprep.stages.embed.config import ChannelOrder
from emoprep.stages.embed.contract import RebuildOnUnpickle
from emoprep.types import resolve_device

_SHOW = 5  # how many missing / unexpected keys an error lists


def load_state_dict(path: Path, who: str, expected: str) -> dict[str, torch.Tensor]:
    """Read a state dict with ``weights_only=True``; unwrap ``{"state_dict": ...}`` / ``{"model":
    ...}``
    checkpoints and a DataParallel ``module.`` prefix. ModelFileError when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"embedder {who}: weight file {path} not found; expected {expected}. "
            "Weights are never downloaded: put the file there or fix the path in stages.embed"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; all mean "not a state dict"
        raise ModelFileError(
            f"embedder {who}: cannot read {path} as a torch state dict ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); expected {expected}, "
            "saved with torch.save(model.state_dict(), path)"
        ) from exc
    return _as_state_dict(obj, path, who, expected)


def _as_state_dict(obj: Any, path: Path, who: str, expected: str) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(
            f"embedder {who}: {path} holds a {type(obj).__name__}, not a dict of tensors; "
            f"expected {expected}"
        )
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def build_and_load(
    factory: Callable[[], nn.Module],
    sd: dict[str, torch.Tensor],
    who: str,
    path: Path,
    ignore_prefixes: Iterable[str] = (),
) -> nn.Module:
    """Build ``factory()`` without initialising it (meta device), check ``sd`` against it, and
    load it (float tensors as float32). ModelFileError listing a few missing / unexpected keys and
    wrong shapes when they differ.

    Keys starting with one of ``ignore_prefixes`` may be present (e.g. a classifier not used);
    ``*.num_batches_tracked`` buffers may be absent (they do not affect eval mode).
    """
    with torch.device("meta"):
        net = factory()
    own = net.state_dict()
    ignore = tuple(ignore_prefixes)
    missing = sorted(k for k in own if k not in sd and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in sd if k not in own and not k.startswith(ignore))
    shapes = sorted(f"{k} {tuple(sd[k].shape)} (expected {tuple(v.shape)})"
                    for k, v in own.items() if k in sd and sd[k].shape != v.shape)
    if missing or unexpected or shapes:
        raise ModelFileError(
            f"embedder {who}: {path} does not match the architecture: "
            f"{len(missing)} missing keys {missing[:_SHOW]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:_SHOW]}, {len(shapes)} wrong shapes {shapes[:_SHOW]}; "
            "check that the file is the state dict of this embedder type (see docs/EMBEDDERS.md)"
        )
    full = {
        k: _as_float32(sd[k]) if k in sd else torch.zeros((), dtype=v.dtype) for k, v in own.items()
    }
    net.load_state_dict(full, strict=True, assign=True)
    return net


def _as_float32(t: torch.Tensor) -> torch.Tensor:
    return t.float().contiguous() if t.is_floating_point() else t


def preprocess(
    crops: np.ndarray, size: int, order: ChannelOrder, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """(B, S, S, 3) uint8 RGB -> (B, 3, size, size) float32, ``(x - mean) / std`` on the 0-255
    scale,
    channels in ``order`` (mean/std given in that order). Area resize when shrinking, else
    linear."""
    out = np.empty((len(crops), 3, size, size), dtype=np.float32)
    for i, crop in enumerate(crops):
        if crop.shape[0] != size:
            interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (size, size), interpolation=interp)
        if order is ChannelOrder.BGR:
            crop = crop[:, :, ::-1]
        out[i] = ((crop.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    return out


class TorchEmbedder(RebuildOnUnpickle):
    """A network in eval mode on a device, fed batches of preprocessed crops; (B, D) float32 out."""

    def __init__(self, cfg: Any, net: nn.Module, dim: int, *, input_size: int, order: ChannelOrder,
                 mean: Iterable[float], std: Iterable[float], normalisation: str, sha256: str,
                 extra: dict[str, str | int | float] | None = None) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device, "stages.embed")
        self.net = net.to(self.device).eval()
        for p in self.net.parameters():  # ScriptModules lack Module.requires_grad_
            p.requires_grad_(False)
        self.dim = int(dim)
        self.input_size = int(input_size)
        self.order = order
        self._mean = np.asarray(list(mean), dtype=np.float32)
        self._std = np.asarray(list(std), dtype=np.float32)
        self._attrs = {"name": cfg.type, "version": cfg.version, "dim": self.dim,
                       "input_size": self.input_size, "normalisation": normalisation,
                       "weights_sha256": sha256, "channel_order": order.value, **(extra or {})}

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        crops = check_crops(crops, self.cfg.type)
        out = np.empty((len(crops), self.dim), dtype=np.float32)
        bs = self.cfg.batch_size
        with torch.inference_mode():
            for s in range(0, len(crops), bs):
                x = preprocess(
                    crops[s : s + bs], self.input_size, self.order, self._mean, self._std
                )
                y = self.net(torch.from_numpy(x).to(self.device))
                out[s : s + len(x)] = y.reshape(len(x), -1).float().cpu().numpy()
        return out

    def attrs(self) -> dict[str, str | int | float]:
        return dict(self._attrs)
