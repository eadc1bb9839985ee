"""Face backbones for end-to-end fine-tuning, with a new classification layer, and the checkpoint
an embedder loads. Importing this module imports torch.

- ``inception_resnet_v1``: :class:`~emoprep.stages.embed.irv1_nets.InceptionResnetV1` without L2
  normalisation (B, 512), classifier ``logits`` (512 -> K), as facenet-pytorch's ``classify``
  mode; input RGB ``(x - 127.5) / 128`` at ``input_size`` (default 160).
- ``vggface``: :class:`~emoprep.stages.embed.vggface_nets.VggFace` up to ``layer`` (pool5 25088,
  fc6 / fc7 4096, dense1024 1024 on the flattened pool5: the video-FER thesis's fine-tuned head,
  new when the file has no ``dense.*``), dropout 0.5, classifier ``fc8`` (D -> K); input RGB
  0-255 minus the VGG-Face mean at ``input_size`` (default 224).
- ``densenet121``: :class:`~emoprep.stages.embed.densenet_nets.DenseNet121` (B, 1024), the AffectNet
  still-image backbone (004 §3.2), from a file in torchvision's layout, classifier
  ``classifier`` (1024 -> K, replacing ImageNet's); input RGB with ImageNet's mean and std at
  ``input_size`` (default 224). The ``densenet121`` embedder reads its checkpoint (pooled
  features; the file keeps torchvision's layout, so ``densenet121(num_classes=K)`` loads it too).
- ``shallow_cnn``: :class:`~emoprep.train.shallow_cnn.ShallowCNN`, the spontaneous/posed
  thesis's network (002 Table 4.2) up to ``fc1`` (B, 2048), dropout 0.4, classifier ``fc2``
  (2048 -> K); no pretrained file (``weights`` None: seeded initialisation, trained from
  scratch); input RGB ``(x - 127.5) / 127.5`` at 96 (the table's; nothing else fits ``fc1``).
- ``inception_v4``: :class:`~emoprep.train.inception_v4.InceptionV4` (B, 1536), the thesis's
  ImageNet network (002 §4.4.2), from a file in timm's layout, dropout (``FinetuneOptions.dropout``,
  default 0.4: 002 Fig. 5.6) and classifier ``last_linear`` (1536 -> K, replacing ImageNet's);
  input RGB ``(x - 127.5) / 127.5`` at ``input_size`` (default 299).

The pretrained weights are the user's file (no package ships them), read with
``torch.load(weights_only=True)``; a missing or mismatched file is a ModelFileError naming it. The
checkpoint (:func:`checkpoint_state`) is the original state dict with every trained tensor
replaced and the classifier swapped for the new one (``logits.*`` / ``fc8.*``, which the embedders
ignore), so ``stages.embed.<name>.weights: <checkpoint>`` loads it with the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emoprep.errors import ConfigError
from emoprep.stages.embed import densenet_nets as densenet
from emoprep.stages.embed import irv1, vggface
from emoprep.stages.embed.config import ChannelOrder
from emoprep.stages.embed.torch_common import build_and_load, load_state_dict, preprocess
from emoprep.stages.embed.vggface import DIMS, HEADS, VGGFACE_MEAN_RGB, VggLayer
from emoprep.train import inception_v4, shallow_cnn
from emoprep.train.config import Backbone

#: checkpoint file name per backbone (under OUT/finetune/<backbone>/<fold>/)
CHECKPOINT = {Backbone.IRV1: "irv1_finetuned.pt", Backbone.VGGFACE: "vggface_finetuned.pt",
              Backbone.DENSENET121: "densenet121_finetuned.pt",
              Backbone.SHALLOW_CNN: "shallow_cnn.pt",
              Backbone.INCEPTION_V4: "inception_v4_finetuned.pt"}
#: what each backbone's pretrained file is (ModelFileError messages)
EXPECTED = {Backbone.IRV1: irv1.EXPECTED, Backbone.VGGFACE: vggface.EXPECTED,
            Backbone.DENSENET121: densenet.EXPECTED, Backbone.SHALLOW_CNN: shallow_cnn.EXPECTED,
            Backbone.INCEPTION_V4: inception_v4.EXPECTED}
_CLASSIFIER = {Backbone.IRV1: "logits", Backbone.VGGFACE: "fc8",
               Backbone.DENSENET121: "classifier", Backbone.SHALLOW_CNN: "fc2",
               Backbone.INCEPTION_V4: "last_linear"}


@dataclass(frozen=True)
class Preprocess:
    """How crops become network input: side, RGB mean and std on the 0-255 scale."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, crops: np.ndarray, flip: np.ndarray | None = None) -> torch.Tensor:
        """(B, S, S, 3) uint8 RGB -> (B, 3, size, size) float32; rows of ``flip`` (B,) bool
        mirrored left-right."""
        x = preprocess(crops, self.size, ChannelOrder.RGB, np.asarray(self.mean, np.float32),
                       np.asarray(self.std, np.float32))
        if flip is not None and flip.any():
            x[flip] = x[flip][..., ::-1]
        return torch.from_numpy(np.ascontiguousarray(x))


class MultiHead(nn.Module):
    """One Linear-ReLU-Linear head per task (000 §3.2: two such heads on IRv1), (B, D) ->
    {task: (B, K_task)}; state keys ``<task>.0.weight``, ``<task>.2.weight``, ..."""

    def __init__(self, dim: int, n_classes: dict[str, int], hidden: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({t: nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(),
                                                     nn.Linear(hidden, k))
                                    for t, k in n_classes.items()})

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: h(z) for t, h in self.heads.items()}


class FineTuneNet(nn.Module):
    """A backbone ``net`` (B, 3, H, W) -> (B, D), then dropout and a linear classifier (B, K),
    or with ``n_classes`` a dict, a :class:`MultiHead` ({task: (B, K_task)})."""

    def __init__(self, net: nn.Module, dim: int, n_classes: int | dict[str, int], dropout: float,
                 classifier: str, hidden: int = 256) -> None:
        super().__init__()
        self.net, self.classifier_name = net, classifier
        self.drop = nn.Dropout(dropout)
        self.classifier: nn.Module = (MultiHead(dim, n_classes, hidden)
                                      if isinstance(n_classes, dict) else nn.Linear(dim, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        return self.classifier(self.drop(self.net(x).flatten(1)))


@dataclass
class Built:
    """A fine-tunable network, its input rule and the state dict it started from (the network's
    float32 tensors may be that dict's own, trained in place: compare against the file)."""

    model: FineTuneNet
    prep: Preprocess
    original: dict[str, torch.Tensor]
    backbone: Backbone


def build(backbone: Backbone, weights: Path | None, n_classes: int | dict[str, int],
          input_size: int | None = None, layer: VggLayer = VggLayer.DENSE1024, seed: int = 0,
          hidden: int = 256, dropout: float | None = None) -> Built:
    """Load ``weights`` into the backbone and add a new classifier of ``n_classes`` outputs, or
    one :class:`MultiHead` head of ``hidden`` units per task when ``n_classes`` is a dict (seeded
    initialisation); ModelFileError when the file is missing or of another layout.
    ``shallow_cnn`` reads no file (``weights`` None)."""
    torch.manual_seed(seed)
    if backbone is Backbone.SHALLOW_CNN:
        return _shallow_cnn(n_classes, input_size, hidden)
    assert weights is not None, backbone
    if backbone is Backbone.IRV1:
        sd = load_state_dict(weights, backbone.value, irv1.EXPECTED)
        net = build_and_load(lambda: irv1_net(), sd, backbone.value, weights,
                             ignore_prefixes=("logits.",))
        prep = Preprocess(input_size or 160, (127.5,) * 3, (128.0,) * 3)
        model = FineTuneNet(net, irv1.DIM, n_classes, 0.0, _CLASSIFIER[backbone], hidden)
        return Built(model, prep, sd, backbone)
    if backbone is Backbone.DENSENET121:
        return _densenet(weights, n_classes, input_size, hidden)
    if backbone is Backbone.INCEPTION_V4:
        return _inception_v4(weights, n_classes, input_size, hidden,
                             0.4 if dropout is None else dropout)
    from emoprep.stages.embed.vggface_nets import VggFace

    sd = load_state_dict(weights, backbone.value, vggface.EXPECTED)
    full = dict(sd)
    if layer is VggLayer.DENSE1024 and "dense.weight" not in sd:  # the thesis's new head
        dense = nn.Linear(512 * 7 * 7, 1024)
        full.update({"dense.weight": dense.weight.detach(), "dense.bias": dense.bias.detach()})
    unused = tuple(f"{n}." for n in ("fc6", "fc7", "fc8", "dense") if n not in HEADS[layer])
    net = build_and_load(lambda: VggFace(HEADS[layer]), full, backbone.value, weights,
                         ignore_prefixes=unused)
    prep = Preprocess(input_size or 224, VGGFACE_MEAN_RGB, (1.0, 1.0, 1.0))
    drop = 0.0 if layer is VggLayer.POOL5 else 0.5
    return Built(FineTuneNet(net, DIMS[layer], n_classes, drop, _CLASSIFIER[backbone], hidden),
                 prep, sd, backbone)


def _densenet(weights: Path, n_classes: int | dict[str, int], input_size: int | None,
              hidden: int) -> Built:
    """DenseNet-121 from a torchvision-layout file (its ImageNet ``classifier.*`` replaced)."""
    sd = densenet.legacy_keys(load_state_dict(weights, Backbone.DENSENET121.value,
                                              densenet.EXPECTED))
    net = build_and_load(lambda: densenet.DenseNet121(), sd, Backbone.DENSENET121.value, weights,
                         ignore_prefixes=("classifier.",))
    prep = Preprocess(input_size or 224, densenet.IMAGENET_MEAN, densenet.IMAGENET_STD)
    model = FineTuneNet(net, densenet.DIM, n_classes, 0.0, "classifier", hidden)
    return Built(model, prep, sd, Backbone.DENSENET121)


def _inception_v4(weights: Path, n_classes: int | dict[str, int], input_size: int | None,
                  hidden: int, dropout: float) -> Built:
    """Inception-V4 from a timm-layout file (its ImageNet ``last_linear.*`` replaced)."""
    name = Backbone.INCEPTION_V4.value
    sd = load_state_dict(weights, name, inception_v4.EXPECTED)
    net = build_and_load(lambda: inception_v4.InceptionV4(), sd, name, weights,
                         ignore_prefixes=("last_linear.",))
    prep = Preprocess(input_size or inception_v4.SIDE, inception_v4.MEAN, inception_v4.STD)
    model = FineTuneNet(net, inception_v4.DIM, n_classes, dropout, "last_linear", hidden)
    return Built(model, prep, sd, Backbone.INCEPTION_V4)


def _shallow_cnn(n_classes: int | dict[str, int], input_size: int | None, hidden: int) -> Built:
    """002's shallow CNN, seeded random (from scratch); ConfigError for an input side other
    than 96 (``fc1`` takes 32 x 11 x 11 features of a 96 x 96 input only)."""
    if input_size not in (None, shallow_cnn.SIDE):
        raise ConfigError("train.finetune.input_size", [
            f"finetune shallow_cnn: expected input side {shallow_cnn.SIDE} (002 Table 4.2: fc1 "
            f"takes {shallow_cnn.FLAT} features of a 96 x 96 input), got {input_size} (fix: "
            "drop --input-size / train.finetune.input_size)"])
    model = FineTuneNet(shallow_cnn.ShallowCNN(), shallow_cnn.DIM, n_classes,
                        shallow_cnn.DROPOUT, "fc2", hidden)
    prep = Preprocess(shallow_cnn.SIDE, shallow_cnn.MEAN, shallow_cnn.STD)
    return Built(model, prep, {}, Backbone.SHALLOW_CNN)


def irv1_net() -> nn.Module:
    """InceptionResnetV1 giving the 512-d ``last_bn`` output (no L2 normalisation)."""
    from emoprep.stages.embed.irv1_nets import InceptionResnetV1

    return InceptionResnetV1(l2_normalize=False)


#: each backbone's blocks, input to output, as prefixes of its parameter and module names under
#: ``net``; what follows the last block (fully connected layers, the last batch-norm) always trains
BLOCKS: dict[Backbone, tuple[tuple[str, ...], ...]] = {
    Backbone.VGGFACE: tuple((f"conv{k}_",) for k in range(1, 6)),
    Backbone.IRV1: (("conv2d_", "maxpool_3a"), ("repeat_1.", "mixed_6a."),
                    ("repeat_2.", "mixed_7a."), ("repeat_3.", "block8.")),
    Backbone.DENSENET121: (("features.conv0", "features.norm0"),
                           *((f"features.denseblock{k}.", f"features.transition{k}.")
                             for k in (1, 2, 3)), ("features.denseblock4.",)),
    Backbone.SHALLOW_CNN: (("conv1.", "conv2."), ("conv3.", "conv4.")),
    Backbone.INCEPTION_V4: inception_v4.BLOCKS,
}


def frozen_prefixes(backbone: Backbone, trainable_blocks: int | None) -> tuple[str, ...]:
    """Name prefixes of the blocks before the last ``trainable_blocks`` (None: none frozen)."""
    if trainable_blocks is None:
        return ()
    blocks = BLOCKS[backbone]
    return tuple(p for block in blocks[:max(len(blocks) - trainable_blocks, 0)] for p in block)


def set_frozen(model: FineTuneNet, prefixes: tuple[str, ...] | None) -> None:
    """Gradients off for the backbone parameters whose names start with one of ``prefixes``
    (None: every backbone parameter), on for the others."""
    for name, p in model.net.named_parameters():
        p.requires_grad_(not (prefixes is None or name.startswith(prefixes)))


def eval_frozen(model: FineTuneNet, prefixes: tuple[str, ...] | None) -> None:
    """Frozen modules in eval mode (their batch-norm statistics stay as loaded)."""
    for name, mod in model.net.named_modules():
        if name and (prefixes is None or (name + ".").startswith(prefixes)):
            mod.eval()


def checkpoint_state(built: Built) -> dict[str, torch.Tensor]:
    """The original state dict with the trained tensors (CPU, float32) and the new classifier
    (``logits.*`` / ``fc8.*``, replacing the file's own; multitask: ``logits.heads.<task>.*``);
    same keys for everything else."""
    prefix = _CLASSIFIER[built.backbone] + "."
    out = {k: v for k, v in built.original.items() if not k.startswith(prefix)}
    out.update({k: v.detach().cpu().clone() for k, v in built.model.net.state_dict().items()})
    out.update({prefix + k: v.detach().cpu().clone()
                for k, v in built.model.classifier.state_dict().items()})
    return out
