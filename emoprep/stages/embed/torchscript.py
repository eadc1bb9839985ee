"""Embedder ``torchscript``: any TorchScript module, (B, 3, H, W) float32 in, (B, ...) out,
flattened to (B, D). torch is imported when the embedder is built.

Preprocessing comes from the config: resize to ``input_size``, ``channel_order``, then
``(x - mean) / std`` on the 0-255 scale (defaults give x / 255). D is found by one forward pass of a
zero image when the model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from emoprep.errors import ModelFileError
from emoprep.stages.embed.config import ChannelOrder, TorchEmbedderBase

if TYPE_CHECKING:
    import torch

    from emoprep.stages.embed.torch_common import TorchEmbedder


class TorchScriptConfig(TorchEmbedderBase):
    """Any TorchScript module: (B, 3, H, W) float32 in, (B, ...) out (flattened to (B, D))."""

    path_keys = ("model",)

    type: Literal["torchscript"] = "torchscript"
    model: Path = Field(description="file written by torch.jit.save")
    input_size: int = Field(160, ge=8, description="crops resized to input_size x input_size")
    channel_order: ChannelOrder = ChannelOrder.RGB
    mean: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="per channel (in channel_order), 0-255 scale"
    )
    std: tuple[float, float, float] = Field(
        (255.0, 255.0, 255.0), description="per channel, 0-255 scale"
    )

    @field_validator("std")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError(f"std must be > 0 per channel, got {v}")
        return v

    def make(self) -> TorchEmbedder:
        """Load the module, find D, wrap it with the configured preprocessing."""
        self.set_threads()
        return make_torchscript_embedder(self)


def load_torchscript(cfg: TorchScriptConfig) -> torch.jit.ScriptModule:
    """``torch.jit.load`` on CPU; ModelFileError naming the file when missing or not TorchScript."""
    import torch

    if not cfg.model.is_file():
        raise ModelFileError(
            f"embedder torchscript: model file {cfg.model} not found; expected a file written by "
            "torch.jit.save(torch.jit.script(model), path); fix stages.embed.<name>.model"
        )
    try:
        return torch.jit.load(str(cfg.model), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise ModelFileError(
            f"embedder torchscript: {cfg.model} is not a TorchScript archive "
            f"({str(exc).splitlines()[0][:200]}); "
            "save it with torch.jit.save(torch.jit.script(model), path), not torch.save"
        ) from exc


def probe_dim(net: torch.nn.Module, size: int, device: torch.device, path: object) -> int:
    """D of the flattened output for one zero image (B=1); ModelFileError when it cannot run."""
    import torch

    x = torch.zeros(1, 3, size, size, device=device)
    try:
        with torch.inference_mode():
            y = net.to(device).eval()(x)
    except RuntimeError as exc:
        raise ModelFileError(
            f"embedder torchscript: {path} fails on a (1, 3, {size}, {size}) float32 input "
            f"({str(exc).splitlines()[0][:200]}); set input_size to what the model expects"
        ) from exc
    if not isinstance(y, torch.Tensor) or y.ndim < 1 or y.shape[0] != 1:
        raise ModelFileError(
            f"embedder torchscript: {path} must return one tensor (B, ...) for a batch of B, got "
            f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
        )
    return int(y[0].numel())


def make_torchscript_embedder(cfg: TorchScriptConfig) -> TorchEmbedder:
    """Load the module, find D, wrap it with the configured preprocessing."""
    from emoprep.io.atomic import sha256_file
    from emoprep.stages.embed.torch_common import TorchEmbedder, resolve_device

    net = load_torchscript(cfg)
    dim = probe_dim(net, cfg.input_size, resolve_device(cfg.device), cfg.model)
    mean = ", ".join(f"{m:g}" for m in cfg.mean)
    std = ", ".join(f"{s:g}" for s in cfg.std)
    return TorchEmbedder(
        cfg,
        net,
        dim,
        input_size=cfg.input_size,
        order=cfg.channel_order,
        mean=cfg.mean,
        std=cfg.std,
        normalisation=f"{cfg.channel_order.value} 0-255, (x - [{mean}]) / [{std}]",
        sha256=sha256_file(cfg.model),
        extra={"model_file": cfg.model.name},
    )
