"""Any TorchScript module as an embedder: (B, 3, H, W) float32 in, (B, ...) out, flattened to (B,
D).

Preprocessing comes from the config: resize to ``input_size``, ``channel_order``, then
``(x - mean) / std`` on the 0-255 scale (defaults give x / 255). D is found by one forward pass of a
zero image when the model is loaded.
"""

from __future__ import annotations

import torch

from emoprep.errors import ModelFileError
from emoprep.io.atomic import sha256_file
from emoprep.stages.embed.config import TorchScriptConfig
from emoprep.stages.embed.torch_common import TorchEmbedder
from emoprep.types import resolve_device


def load_torchscript(cfg: TorchScriptConfig) -> torch.jit.ScriptModule:
    """``torch.jit.load`` on CPU; ModelFileError naming the file when missing or not TorchScript."""
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
    net = load_torchscript(cfg)
    dim = probe_dim(net, cfg.input_size, resolve_device(cfg.device, "stages.embed"), cfg.model)
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
