"""68-point facial landmarks inside a face box: the ``landmarks.backend`` family.

``dlib68`` (default): dlib's shape predictor from face-recognition-models (this module); ``fan``:
2D-FAN as a local TorchScript file (:mod:`emoprep.stages.landmarks_fan`). Each backend's config
class carries its facts (``make()``, ``model_files()``, ``libraries``, ``temporal``), so nothing
branches on the backend name; :data:`LandmarksConfig` is the family as a pydantic type.

dlib's 68-point predictor was trained on boxes from dlib's HOG face detector, which sit tighter and
lower on the face than OpenCV Haar boxes. Given a Haar box, the predictor still converges but the
points are biased (mouth and chin pulled towards the box). ``refine`` therefore re-runs the
predictor in the box the previous landmarks span, mapped to where dlib's HOG box would be
(:data:`LM_TO_HOG`).
"""

from __future__ import annotations

import importlib.util
import math
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import numpy as np
from pydantic import Field, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import CoreSchema

from emoprep.errors import MissingDependencyError, ModelFileError
from emoprep.stages.backends import BackendConfig, family
from emoprep.stages.detect import to_grey
from emoprep.stages.landmarks_fan import FanLandmarker, FanLandmarksConfig, make_fan_landmarker

DEFAULT_MODEL = "shape_predictor_68_face_landmarks.dat"
MODELS_PACKAGE = "face_recognition_models"

#: dlib HOG box relative to the extent of its own 68 landmarks (xmin, ymin, xmax, ymax; W, H =
#: extent width and height): left = xmin - 0.056 W, top = ymin - 0.105 H, right = xmax + 0.032 W,
#: bottom = ymax - 0.066 H. Means over 102 frames of the sample clips
#: (dlib.get_frontal_face_detector box, predictor run in it); see docs/METHODS.md.
LM_TO_HOG = (-0.056, -0.105, 0.032, -0.066)


def find_model_file(name: str) -> Path:
    """Path of model file ``name`` inside the installed face-recognition-models package.

    The package is located without importing it (its ``__init__`` imports ``pkg_resources``).
    Raises :class:`ModelFileError` naming the file and the fix when it is missing.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    roots: list[Path] = []
    if spec is not None:
        if spec.submodule_search_locations:
            roots += [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin:
            roots.append(Path(spec.origin).parent)
    for root in roots:
        path = root / "models" / name
        if path.is_file():
            return path
    where = ", ".join(str(r / "models") for r in roots) or f"package {MODELS_PACKAGE} not installed"
    raise ModelFileError(
        f"landmark model {name}: not found ({where}); install it with "
        f"'pip install face-recognition-models', or set landmarks.model: /path/to/{name}"
    )


def hog_box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Box (x, y, w, h) float32 where dlib's HOG detector would put the face of ``landmarks``
    (68, 2)."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    ext = hi - lo
    dl, dt, dr, db = LM_TO_HOG
    x0, y0 = lo[0] + dl * ext[0], lo[1] + dt * ext[1]
    x1, y1 = hi[0] + dr * ext[0], hi[1] + db * ext[1]
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float32)


def follow_box(hog: np.ndarray, prev_box: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``hog`` (x, y, w, h) moved and scaled as ``prev_box`` became ``box``: float32 (4,).
    Float64 arithmetic on Python floats (once per tracked frame)."""
    px, py, pw, ph = (float(v) for v in np.asarray(prev_box).tolist())
    bx, by, bw, bh = (float(v) for v in np.asarray(box).tolist())
    hx, hy, hw, hh = (float(v) for v in np.asarray(hog).tolist())
    s = math.sqrt((bw * bh) / (pw * ph)) if pw > 0 and ph > 0 else 1.0
    cx, cy = (bx + bw / 2) + ((hx + hw / 2) - (px + pw / 2)) * s, \
        (by + bh / 2) + ((hy + hh / 2) - (py + ph / 2)) * s
    w, h = hw * s, hh * s
    return np.array([cx - w / 2, cy - h / 2, w, h], np.float32)


@lru_cache(maxsize=4)
def _load_predictor(path: str, mtime_ns: int):  # noqa: ANN202 (dlib type)
    """dlib predictor, loaded once per process and file version (~0.5 s per load saved per
    video)."""
    import dlib

    return dlib.shape_predictor(path)


class Landmarker:
    """dlib 68-point shape predictor, called as ``landmarker(frame, box_xywh)``.

    Returns (68, 2) float32 x, y in source pixels (0-based point order of the iBUG 68 scheme).
    Pickles by path (the model is reloaded), so it can cross process boundaries.
    """

    def __init__(self, path: Path, refine: int = 1) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError(
                "landmarks.backend dlib68: the dlib package is missing; pip install dlib-bin"
            ) from exc
        self.path, self.refine = Path(path), int(refine)
        try:
            self._predictor = _load_predictor(str(self.path), self.path.stat().st_mtime_ns)
        except (RuntimeError, OSError) as exc:
            raise ModelFileError(
                f"landmark model {self.path}: dlib cannot load it ({exc}); expected a dlib "
                "shape predictor .dat (e.g. shape_predictor_68_face_landmarks.dat)"
            ) from exc
        self._rect = dlib.rectangle

    def __getstate__(self) -> dict:
        return {"path": self.path, "refine": self.refine}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["path"], state["refine"])

    def predict(self, grey: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        """One predictor pass in ``box_xywh`` on a grey (H, W) uint8 frame: (68, 2) float32."""
        x, y, w, h = (float(v) for v in box_xywh)
        rect = self._rect(round(x), round(y), round(x + w) - 1, round(y + h) - 1)
        shape = self._predictor(grey, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        box = np.asarray(box_xywh, np.float32)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] < 1 or box[3] < 1:
            raise ValueError(f"landmarks: expected a finite (4,) x, y, w, h box, got {box_xywh!r}")
        grey = np.ascontiguousarray(to_grey(frame))
        points = self.predict(grey, box)
        for _ in range(self.refine):
            points = self.predict(grey, hog_box_from_landmarks(points))
        return points

    def follow(self, frame: np.ndarray, previous: np.ndarray, prev_box: np.ndarray,
               box: np.ndarray) -> np.ndarray:
        """One predictor pass for a tracked frame: (68, 2) float32, source pixels.

        previous: (68, 2) landmarks of the previous frame, found in ``prev_box``; box: this frame's
        tracked box (x, y, w, h). The HOG-like box of ``previous`` is moved with the box centre and
        scaled with its size, i.e. where the refinement pass would have put it.
        """
        grey = np.ascontiguousarray(to_grey(frame))
        return self.predict(grey, follow_box(hog_box_from_landmarks(previous), prev_box, box))


# -- the backend family ---------------------------------------------------------------------------

class Dlib68Config(BackendConfig):
    """``landmarks.backend: dlib68`` (default): dlib's 68-point shape predictor."""

    _tag_key: ClassVar[str] = "backend"
    #: fingerprint key -> distribution added to the track fingerprint (dlib is always there)
    libraries: ClassVar[dict[str, str]] = {}
    #: whether the landmarker gets the colour frame (else the grey frame the tracker works on)
    colour: ClassVar[bool] = False

    backend: Literal["dlib68"] = "dlib68"
    model: str | None = Field(
        None, description="path to the .dat file; default: the one in face-recognition-models")
    refine: int = Field(
        1, ge=0, description="re-run the predictor in the box the landmarks span, this many times")
    temporal: bool = Field(
        True,
        description="on tracked frames run the predictor once, in the box the previous frame's "
        "landmarks span moved with the tracked box (false: 1 + refine passes from the tracked box)",
    )

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint; ``temporal: false`` (the behaviour
        before the key existed) is left out, so outputs made then stay up to date with it."""
        data = self.model_dump(mode="json")
        if not self.temporal:
            data.pop("temporal")
        return data

    def model_path(self) -> Path:
        """The predictor file: ``model`` when set (must exist), else the packaged default."""
        if self.model is None:
            return find_model_file(DEFAULT_MODEL)
        path = Path(self.model).expanduser()
        if not path.is_file():
            raise ModelFileError(
                f"landmarks.model {self.model!r}: no such file; point it to a dlib 68-point "
                f"shape predictor .dat, or remove the key to use the one in face-recognition-models"
            )
        return path.resolve()

    def model_files(self) -> list[Path]:
        """Model files whose content the landmarks depend on (hashed into the track fingerprint)."""
        return [self.model_path()]

    def make(self) -> Landmarker:
        """The predictor (loads the model file once per process, ~0.5 s)."""
        return Landmarker(self.model_path(), self.refine)


class FanConfig(FanLandmarksConfig):
    """``landmarks.backend: fan``: :class:`FanLandmarksConfig` (2D-FAN TorchScript) with what the
    track stage asks of every landmarks backend. FAN runs in every frame's box (no temporal pass)
    on the colour frame (it was trained on RGB faces)."""

    libraries: ClassVar[dict[str, str]] = {"torch": "torch"}
    temporal: ClassVar[bool] = False
    colour: ClassVar[bool] = True

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint: runtime keys (device, batch) out."""
        return self.model_dump(mode="json", exclude={"device", "batch"})

    def make(self) -> FanLandmarker:
        """The FAN landmarker (loads the TorchScript file once)."""
        return make_fan_landmarker(self)


#: every landmarks backend's config class; the first is the default
BACKENDS: tuple[type[BackendConfig], ...] = (Dlib68Config, FanConfig)

# members from the registry: a type checker cannot list them
LandmarksBackend = Enum("LandmarksBackend",  # type: ignore[misc]
                        {c.tag_value().upper(): c.tag_value() for c in BACKENDS}, type=str)
LandmarksBackend.__doc__ = "Names of the landmarks backends (``landmarks.backend``)."

_FAMILY = family("backend", "dlib68", *BACKENDS)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(_FAMILY)


if TYPE_CHECKING:  # what the class below stands for, as a type checker sees it
    LandmarksConfig: TypeAlias = "Dlib68Config | FanConfig"
else:
    class LandmarksConfig:
        """The landmarks family as a type: a field annotated with it takes a mapping whose
        ``backend`` (default ``dlib68``) picks the config class. Calling it does the same for
        keyword keys: ``LandmarksConfig(refine=0)`` is a :class:`Dlib68Config`,
        ``LandmarksConfig(backend="fan", model=path)`` a :class:`FanConfig` (pydantic
        ValidationError for a bad key or value)."""

        def __new__(cls, **keys: Any) -> Dlib68Config | FanConfig:
            return _ADAPTER.validate_python(keys)

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any,
                                         handler: GetCoreSchemaHandler) -> CoreSchema:
            return handler.generate_schema(_FAMILY)


def make_landmarker(cfg: Dlib68Config | FanConfig) -> Landmarker | FanLandmarker:
    """The landmarker of ``cfg``, called as ``landmarker(frame, box_xywh) -> (68, 2)`` float32."""
    return cfg.make()


def model_files(cfg: Dlib68Config | FanConfig) -> list[Path]:
    """Model files whose content the landmarks depend on (hashed into the track fingerprint)."""
    return cfg.model_files()
