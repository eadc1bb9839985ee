"""``landmarks.backend: dlib68`` (the default): dlib's 68-point shape predictor from
face-recognition-models. Holds :class:`Dlib68Config` and :class:`Dlib68Landmarker`; dlib is imported
only when the landmarker is built.

dlib's 68-point predictor was trained on boxes from dlib's HOG face detector, which sit tighter and
lower on the face than OpenCV Haar boxes. Given a Haar box, the predictor still converges but the
points are biased (mouth and chin pulled towards the box). ``refine`` therefore re-runs the
predictor in the box the previous landmarks span, mapped to where dlib's HOG box would be
(:data:`LM_TO_HOG`).
"""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import MissingDependencyError, ModelFileError
from emoprep.stages.detect.base import to_grey
from emoprep.stages.landmarks.base import LandmarksBackendConfig, check_box

DEFAULT_MODEL = "shape_predictor_68_face_landmarks.dat"
MODELS_PACKAGE = "face_recognition_models"

#: dlib HOG box relative to the extent of its own 68 landmarks (xmin, ymin, xmax, ymax; W, H =
#: extent width and height): left = xmin - 0.056 W, top = ymin - 0.105 H, right = xmax + 0.032 W,
#: bottom = ymax - 0.066 H. Means over 102 frames of the sample clips
#: (dlib.get_frontal_face_detector box, predictor run in it); see docs/METHODS.md.
LM_TO_HOG = (-0.056, -0.105, 0.032, -0.066)
#: refinement passes in a detector's box when ``refine`` is left null
DETECTOR_BOX_REFINE = 1


@lru_cache(maxsize=8)
def find_model_file(name: str) -> Path:
    """Path of model file ``name`` inside the installed face-recognition-models package (looked up
    once per process: a found path is kept, a missing one is looked up again).

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


class Dlib68Landmarker:
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
        parts = self._predictor(grey, rect).parts()
        # one flat pass over the 68 points (~15 % cheaper than a list of pairs; same values)
        xy = np.fromiter(chain.from_iterable((p.x, p.y) for p in parts), np.float32, 2 * len(parts))
        return xy.reshape(-1, 2)

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        box = check_box(box_xywh)
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


# -- the config ---------------------------------------------------------------------------------

class Dlib68Config(LandmarksBackendConfig):
    """``landmarks.backend: dlib68`` (default): dlib's 68-point shape predictor."""

    path_keys = ("model",)

    backend: Literal["dlib68"] = "dlib68"
    model: str | None = Field(
        None, description="path to the .dat file; default: the one in face-recognition-models")
    refine: int | None = Field(
        None, ge=0, description="re-run the predictor in the box the landmarks span, this many "
        "times; null (default): 1 in a detector's box, 0 in a whole-frame box "
        "(detect.backend none; docs/METHODS.md)")
    temporal: bool = Field(
        True,
        description="on tracked frames run the predictor once, in the box the previous frame's "
        "landmarks span moved with the tracked box (false: 1 + refine passes from the tracked box)",
    )

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint; ``temporal: false`` (the behaviour
        before the key existed) is left out, so outputs made then stay up to date with it."""
        data = self.model_dump(mode="json")
        if data["refine"] is None:  # the value in a detector's box, as before the key was null
            data["refine"] = DETECTOR_BOX_REFINE
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

    def for_boxes(self, whole_frame: bool) -> Dlib68Config:
        """This config with ``refine`` settled: null becomes 0 for whole-frame boxes (one
        predictor pass per frame), else 1."""
        if self.refine is not None:
            return self
        return self.model_copy(update={"refine": 0 if whole_frame else DETECTOR_BOX_REFINE})

    def make(self) -> Dlib68Landmarker:
        """The predictor (loads the model file once per process, ~0.5 s)."""
        refine = DETECTOR_BOX_REFINE if self.refine is None else self.refine
        return Dlib68Landmarker(self.model_path(), refine)
