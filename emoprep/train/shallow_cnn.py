"""The shallow CNN of the spontaneous/posed thesis (002 §4.4.3, Table 4.2), trained from scratch
by ``emoprep finetune --backbone shallow_cnn`` (no pretrained file). Importing this module imports
torch.

Layers, as Table 4.2 lists them (shapes channels-first here; the table writes NHWC):

======================  =================  =================
layer                   input              output
======================  =================  =================
``conv1``               (B, 3, 96, 96)     (B, 8, 96, 96)
``conv2``               (B, 8, 96, 96)     (B, 16, 96, 96)
max-pool 3x3, stride 3  (B, 16, 96, 96)    (B, 16, 32, 32)
``conv3``               (B, 16, 32, 32)    (B, 24, 32, 32)
``conv4``               (B, 24, 32, 32)    (B, 32, 32, 32)
max-pool 3x3, stride 3  (B, 32, 32, 32)    (B, 32, 11, 11)
``fc1``                 (B, 3872)          (B, 2048)
``fc2`` (classifier)    (B, 2048)          (B, 2 or 12)
======================  =================  =================

What the table leaves open, chosen here: 3x3 kernels with stride 1 and one pixel of zero
padding (the table keeps the side, so "same" padding), ReLU after each convolution and after
``fc1``, the pools rounding up (32 / 3 -> 11 as the table has it: TensorFlow's "SAME" pooling,
002 §4.4.3 used TensorFlow), dropout 0.4 before ``fc2`` (the final CNN's, 002 Fig. 5.9 and 5.12),
PyTorch's default initialisation (seeded), input RGB scaled to [-1, 1] (``(x - 127.5) / 127.5``).

:class:`ShallowCNN` is the body (``conv1``..``fc1``, (B, 3, 96, 96) -> (B, 2048));
:class:`~emoprep.train.backbones.FineTuneNet` adds the dropout and ``fc2``. The checkpoint
(:func:`~emoprep.train.backbones.checkpoint_state`) holds ``conv1.*``..``fc1.*`` and ``fc2.*``:
:func:`load_checkpoint` rebuilds the whole classifier from it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from emoprep.errors import ModelFileError

SIDE = 96  #: input side (Table 4.2)
CHANNELS = (3, 8, 16, 24, 32)  #: conv1..conv4 in -> out (Table 4.2)
KERNEL = 3  #: chosen: 002 gives no kernel size
POOL = 3  #: 3x3 max-pool with stride 3 (Table 4.2)
FLAT = 32 * 11 * 11  #: 3872, fc1's input (Table 4.2)
DIM = 2048  #: fc1's output (Table 4.2)
DROPOUT = 0.4  #: before fc2: the final CNN's dropout (002 Fig. 5.9, Fig. 5.12)
MEAN = STD = (127.5, 127.5, 127.5)  #: chosen: RGB 0-255 -> [-1, 1]
EXPECTED = "no file: the shallow CNN of 002 Table 4.2 trains from scratch"


class ShallowCNN(nn.Module):
    """Table 4.2 up to ``fc1``: (B, 3, 96, 96) float -> (B, 2048) after ReLU."""

    conv1: nn.Conv2d
    conv2: nn.Conv2d
    conv3: nn.Conv2d
    conv4: nn.Conv2d

    def __init__(self) -> None:
        super().__init__()
        pairs = zip(CHANNELS[:-1], CHANNELS[1:], strict=True)
        for k, (c_in, c_out) in enumerate(pairs, start=1):
            self.add_module(f"conv{k}", nn.Conv2d(c_in, c_out, KERNEL, padding=KERNEL // 2))
        self.pool = nn.MaxPool2d(POOL, POOL, ceil_mode=True)
        self.fc1 = nn.Linear(FLAT, DIM)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv2(self.relu(self.conv1(x)))))
        x = self.pool(self.relu(self.conv4(self.relu(self.conv3(x)))))
        return self.relu(self.fc1(x.flatten(1)))


class ShallowCNNClassifier(nn.Module):
    """The whole network of Table 4.2 for inference: body, dropout, ``fc2`` (B, K) logits."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.body = ShallowCNN()
        self.drop = nn.Dropout(DROPOUT)
        self.fc2 = nn.Linear(DIM, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.body(x)))


def parameter_count(n_classes: int) -> int:
    """Weights and biases of Table 4.2's layers with :data:`KERNEL`-sized kernels."""
    convs = sum(c_in * c_out * KERNEL * KERNEL + c_out
                for c_in, c_out in zip(CHANNELS[:-1], CHANNELS[1:], strict=True))
    return convs + FLAT * DIM + DIM + DIM * n_classes + n_classes


def load_checkpoint(path: str | Path) -> ShallowCNNClassifier:
    """The classifier from ``emoprep finetune --backbone shallow_cnn``'s checkpoint
    (``torch.load(weights_only=True)``), in eval mode; the class count from ``fc2.weight``.
    ModelFileError naming the file when it is not there."""
    if not Path(path).is_file():
        raise ModelFileError(f"shallow_cnn: checkpoint {path} not found; expected the "
                             "shallow_cnn.pt that emoprep finetune --backbone shallow_cnn writes "
                             "(OUT/finetune/shallow_cnn/<fold>/)")
    sd = torch.load(Path(path), map_location="cpu", weights_only=True)
    model = ShallowCNNClassifier(int(sd["fc2.weight"].shape[0]))
    model.body.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc2.")})
    model.fc2.load_state_dict({"weight": sd["fc2.weight"], "bias": sd["fc2.bias"]})
    return model.eval()
