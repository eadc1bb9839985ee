"""The shared types: the one device rule for every torch model; the face mask of status codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoprep.errors import ConfigError
from emoprep.types import Device, FrameStatus, resolve_device


def test_cpu_is_cpu_and_auto_follows_cuda() -> None:
    assert resolve_device(Device.CPU, "stages.embed") == torch.device("cpu")
    assert resolve_device("cpu", "train") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(Device.AUTO, "train").type == want


def test_cuda_without_a_gpu_names_the_section() -> None:
    if torch.cuda.is_available():
        assert resolve_device(Device.CUDA, "train").type == "cuda"
        return
    with pytest.raises(ConfigError, match=r"(?s)in train:.*device: cuda, but torch.cuda"):
        resolve_device(Device.CUDA, "train")


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="'tpu' is not a valid Device"):
        resolve_device("tpu", "stages.detect")


def test_has_face_table_equals_the_codes_for_every_dtype() -> None:
    """The uint8 fast path (a table lookup) and the general path give the same mask, for every
    code a uint8 can hold, and for the face codes exactly."""
    codes = np.arange(256)
    want = np.isin(codes, [1, 2, 3, 5])
    assert np.array_equal(FrameStatus.has_face(codes.astype(np.uint8)), want)
    assert np.array_equal(FrameStatus.has_face(codes), want)
    assert np.array_equal(FrameStatus.has_face(np.zeros(0, np.uint8)), np.zeros(0, bool))
    assert bool(FrameStatus.has_face(np.uint8(2))) and not FrameStatus.has_face(np.uint8(4))


def test_has_face_of_one_frame_equals_the_array_form() -> None:
    """One frame's status (asked per frame by the frame driver) gives what the array gives."""
    import numpy as np

    from emoprep.types import FrameStatus

    codes = np.arange(len(FrameStatus), dtype=np.uint8)
    whole = FrameStatus.has_face(codes)
    assert whole.tolist() == [False, True, True, True, False, True]
    for k in codes:
        one = FrameStatus.has_face(k)
        assert one.shape == () and bool(one) == whole[k]
