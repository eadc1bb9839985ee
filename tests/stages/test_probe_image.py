"""The probe's image size from the file header (issue 22 item 4: no decode per small item) equals
what OpenCV's decode gives, EXIF orientation included; a file no reader takes is a VideoError."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from emoprep.errors import VideoError
from emoprep.stages.probe import image_size


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("orientation", [None, 1, 3, 6, 8])
def test_header_size_equals_the_decoded_size(tmp_path: Path, suffix: str,
                                             orientation: int | None) -> None:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (90, 160, 3), np.uint8))
    path = tmp_path / f"face{suffix}"
    if orientation is None:
        im.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(path, exif=exif.tobytes())
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image_size(path, "image x") == (decoded.shape[1], decoded.shape[0])
    assert image_size(path, "image x") == ((90, 160) if orientation in (6, 8) else (160, 90))


def test_a_file_no_reader_takes_names_the_image(tmp_path: Path) -> None:
    bad = tmp_path / "img_006.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(VideoError, match=r"image x: cannot read img_006.png \(corrupt or not an "
                                         r"image\)"):
        image_size(bad, "image x")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_the_plain_header_path_reads_files_without_exif_only(tmp_path: Path, suffix: str) -> None:
    """A JPEG/PNG without EXIF is sized from its header bytes (imagesize); one with an EXIF
    block, or whose header does not fit the bytes read, is left to Pillow (None here)."""
    from emoprep.stages.probe import _HEAD_BYTES, _plain_header_size

    im = Image.fromarray(np.random.default_rng(1).integers(0, 255, (70, 130, 3), np.uint8))
    plain, turned = tmp_path / f"plain{suffix}", tmp_path / f"turned{suffix}"
    im.save(plain)
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(turned, exif=exif.tobytes())
    assert _plain_header_size(plain) == (130, 70)
    assert _plain_header_size(turned) is None
    assert image_size(turned, "image x") == (70, 130)
    if suffix == ".jpg":  # a comment segment longer than the bytes read: Pillow decides
        big = tmp_path / "big.jpg"
        im.save(big, comment=b"x" * (_HEAD_BYTES - 100))
        assert _plain_header_size(big) is None
        assert image_size(big, "image x") == (130, 70)
