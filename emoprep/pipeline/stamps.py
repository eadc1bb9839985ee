"""Whether a record's outputs can be trusted: each output stat'ed once and compared with the
size, mtime and sha256 its record keeps (:func:`check_outputs`).

A plan checks the outputs of every up-to-date unit; the items of a batch share their packs'
stamps, so the planner checks each distinct stamp once (``dag._Planner._check``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emoprep.io.atomic import check_stamp, is_disk_full, stamp_file

#: how a reason about a corrupt output starts (``status`` and the plan use it)
CORRUPT = "output corrupt"


def check_outputs(root: str, outputs: list[str], checksums: dict[str, dict[str, Any]],
                  full: bool) -> str:
    """Why outputs (paths relative to ``root``) cannot be trusted ("" when they can).

    Missing outputs; then size + mtime against ``checksums`` (sha256 when they differ); with
    ``full`` the sha256 of every output and, for HDF5 files, every dataset read in full.
    """
    for rel in outputs:
        path = f"{root}/{rel}" if rel[:1] != "/" else rel  # os.path.join, for a plain root
        stamp = checksums.get(rel)
        try:  # one stat per output: exists, size and mtime in one call
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return f"output missing: {rel}"
        except OSError:
            st = None  # check_stamp says why
        why = check_stamp(path, stamp, full, st) if stamp else ""
        if not why and full and rel.endswith(".h5"):
            from emoprep.io.hdf5 import verify_shard  # h5py only for --verify

            why = verify_shard(Path(path))
        if why:
            return f"{CORRUPT}: {rel}: {why}"
    return ""


def fill_checksums(root: Path, outputs: list[str], checksums: dict[str, dict[str, Any]]) -> None:
    """Stamp the outputs a worker did not stamp (a record from an older worker), in place."""
    for rel in outputs:
        if rel not in checksums and (root / rel).is_file():
            try:
                checksums[rel] = stamp_file(root / rel)
            except OSError as exc:
                if is_disk_full(exc):
                    raise
                continue
