"""emoprep: offline, incremental, distributed preprocessing of facial-expression video datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from emoprep.io.reader import FrameStore


def open_store(out) -> FrameStore:
    """Open the frame store in an output folder: ``.videos()``, ``.frames(id)``, ``.meta(id)``."""
    from emoprep.io.reader import open_store as _open

    return _open(out)


__all__ = ["open_store", "__version__"]
