"""The honest baseline: the script a researcher would write for emoprep's default output.

    python benchmarks/baseline_script.py VIDEOS_DIR OUT_DIR

Per video: the frame count from the header, one decode, the 40-90 % window, OpenCV's Haar cascade
with emoprep's default settings (histogram-equalised grey, scaleFactor 1.1, minNeighbors 5,
minSize 60) on every kept frame, the largest face, a 160x160 crop, and one gzip-compressed HDF5
file per video. It imports nothing of emoprep on purpose: it stands for the user's own code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import h5py
import numpy as np


def crops(path: Path, cascade: cv2.CascadeClassifier) -> np.ndarray:
    """(K, 160, 160, 3) uint8 BGR: the largest face of each kept frame that has one."""
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    lo, hi = int(0.4 * n), int(0.9 * n)
    out = []
    for i in range(hi):
        ok, frame = cap.read()
        if not ok:
            break
        if i < lo:
            continue
        grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(60, 60))
        if len(faces):
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
            out.append(cv2.resize(frame[y:y + h, x:x + w], (160, 160)))
    cap.release()
    return np.stack(out) if out else np.zeros((0, 160, 160, 3), np.uint8)


def main(videos: Path, out: Path) -> int:
    cv2.setNumThreads(1)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted(videos.glob("*.mp4")):
        faces = crops(path, cascade)
        with h5py.File(out / f"{path.stem}.h5", "w") as f:
            f.create_dataset("crops", data=faces, compression="gzip",
                             chunks=(1, 160, 160, 3) if len(faces) else None)
        total += len(faces)
    return total


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), Path(sys.argv[2])))
