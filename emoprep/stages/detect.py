"""Face detection: OpenCV Haar cascade (default) or ``none`` (the whole frame is the face).

Vision steps compose: ``detect`` returns every candidate box, ``select_face`` picks one.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class DetectBackend(str, Enum):
    """Which detector finds faces."""

    HAAR = "haar"  #: OpenCV Haar cascade (``cascade`` file, ``detectMultiScale`` parameters)
    NONE = "none"  #: no detector: each whole frame is the face (pre-cropped datasets)


class SelectPolicy(str, Enum):
    """Which face to keep when the detector returns several (the frame is flagged ``multi_face``)."""

    LARGEST = "largest"  #: largest box area (default)
    CENTER = "center"  #: box centre closest to the frame centre
    PREVIOUS = "previous"  #: largest overlap (IoU) with the last known box, else largest


class DetectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: DetectBackend = DetectBackend.HAAR
    cascade: str = Field(
        "haarcascade_frontalface_default.xml",
        description="file name inside cv2.data.haarcascades, or a path to a cascade XML",
    )
    scale_factor: float = Field(1.1, gt=1.0, description="detectMultiScale scaleFactor")
    min_neighbors: int = Field(5, ge=0, description="detectMultiScale minNeighbors")
    min_size: int = Field(60, ge=8, description="smallest face side, source pixels")
    max_size: int | None = Field(None, ge=8, description="largest face side, source pixels")
    select: SelectPolicy = SelectPolicy.LARGEST
    pad_y: int = Field(10, ge=0, description="pixels added above and below the box before tracking")
