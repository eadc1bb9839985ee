"""emoprep's version, and installed library versions read from package metadata (nothing is
imported).

Fingerprints hold the versions of the libraries a stage computes with; ``status`` and
``--dry-run`` must not import torch to learn them.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata

__version__ = "0.2.0"  #: emoprep's own (pyproject.toml's); ``emoprep.__version__`` re-exports it


@cache
def library_version(dist: str) -> str:
    """Installed version of a distribution, or ``"absent"``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def module_version(dist: str) -> str:
    """Version of distribution ``dist`` as its module reports it, or ``"absent"``.

    Read from the package metadata (nothing is imported) and cut to three release parts, which is
    what ``cv2.__version__`` (4.14.0 of wheel 4.14.0.94) and ``dlib.__version__`` (20.0.1 of
    20.0.1.post1) report; the embedders' fingerprints hold these module versions.
    """
    version = library_version(dist)
    return version if version == "absent" else ".".join(version.split(".")[:3])
