"""The three MTCNN networks in torch (Zhang et al. 2016, "Joint Face Detection and Alignment using
Multi-task Cascaded Convolutional Networks"). Importing this module imports torch.

Layer names match the plain state dicts shipped in the facenet-pytorch 2.6.0 wheel
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``), so they load with ``strict=True``. Inputs are
RGB, NCHW float32, scaled as ``(pixel - 127.5) / 128``. The dense layers of those weights expect
the feature map flattened in (W, H, C) order (they come from a port of the original Caffe
models, which ran on transposed images), hence the permute before flattening.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from emoprep.errors import ModelFileError


def _flat_whc(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, W*H*C), flattened in (W, H, C) order."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal network, fully convolutional: a 12x12 window -> face probability + 4 offsets.

    (N, 3, H, W) -> probabilities (N, H', W') and offsets (N, 4, H', W'), H' = ceil((H-2)/2) - 4.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class RNet(nn.Module):
    """Refinement network: (N, 3, 24, 24) -> face probability (N,) and offsets (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flat_whc(self.prelu3(self.conv3(x)))))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output network: (N, 3, 48, 48) -> probability (N,), offsets (N, 4), landmarks (N, 10).

    Landmarks are the 5 x then the 5 y positions (eyes, nose, mouth corners) as fractions of the
    input box's width and height.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flat_whc(self.prelu4(self.conv4(x)))))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


NETS: dict[str, type[nn.Module]] = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_net(name: str, path: Path, device: torch.device) -> nn.Module:
    """Network ``name`` ("pnet", "rnet", "onet") with the state dict at ``path``, eval mode, on
    ``device``. ModelFileError naming the file when it is unreadable or does not match."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; all mean "not a state dict"
        raise ModelFileError(
            f"detect.backend mtcnn: cannot read {path} as a torch state dict "
            f"({type(exc).__name__}); expected {name}.pt from facenet-pytorch 2.6.0; "
            "run `emoprep models fetch mtcnn`"
        ) from exc
    net = NETS[name]()
    try:
        net.load_state_dict(sd, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"detect.backend mtcnn: {path} does not match the {name} architecture "
            f"({str(exc).splitlines()[0][:200]}); expected {name}.pt from facenet-pytorch 2.6.0; "
            "run `emoprep models fetch mtcnn`"
        ) from exc
    return net.to(device).eval()
