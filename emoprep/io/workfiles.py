"""Small intermediate results of the per-video stages (probe JSON, window and track arrays).

Written atomically; every read failure leaves as :class:`~emoprep.errors.StoreError` naming the
file, so a corrupt intermediate is reported (and its unit re-run), never a raw ``KeyError``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import StoreError
from emoprep.io.atomic import atomic_path, atomic_write_text


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` to ``path`` (.npz, uncompressed) atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npz(path: Path, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays ``names`` (all when None) of an .npz file; StoreError when missing or corrupt."""
    try:
        with np.load(path) as z:
            keys = z.files if names is None else names
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise StoreError(f"work file {path}: arrays {missing} missing (has {z.files}); "
                                 "it is rebuilt by the next run")
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise StoreError(f"work file {path}: cannot read ({type(exc).__name__}: {exc}); "
                         "it is rebuilt by the next run") from exc


def save_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj))


def load_json(path: Path) -> Any:
    """The JSON value in ``path``; StoreError naming the file when missing or corrupt."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"work file {path}: cannot read ({type(exc).__name__}: {exc}); "
                         "it is rebuilt by the next run") from exc
