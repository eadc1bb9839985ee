"""emoprep: offline, incremental, distributed preprocessing of facial-expression video datasets.

The Python API (the same as the command line, for notebooks and scripts)::

    import emoprep
    report = emoprep.run("data_manifest.yaml", "out", overrides=["stages.detect.min_size=80"])
    state = emoprep.status("data_manifest.yaml", "out")    # the data of `emoprep status --json`
    store = emoprep.open_store("out")                        # read the frame store
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprep.versions import __version__

if TYPE_CHECKING:
    from emoprep.io.reader import FrameStore
    from emoprep.pipeline.runner import RunReport
    from emoprep.pipeline.session import ManifestSource


def open_store(out: str | Path) -> FrameStore:
    """Open the frame store in an output folder: ``.videos()``, ``.frames(id)``, ``.meta(id)``,
    ``.features(id, name)`` (T, D) float32, ``.feature_names()``."""
    from emoprep.io.reader import open_store as _open

    return _open(out)


def run(manifest: ManifestSource, out: str | Path | None = None, overrides: Sequence[str] = (),
        *, workers: int = 0, executor: str = "local", scheduler: str | None = None,
        force: Sequence[str] = (), fail_fast: bool = False) -> RunReport:
    """Run every stale (stage, video) unit of ``manifest`` (a YAML path, a dict or a Manifest)
    into ``out`` (default: the manifest's ``output``). ``workers=0`` runs in this process.

    Returns the report (``.videos``, ``.ran``, ``.failed_videos``, ``.to_json()``); raises
    :class:`emoprep.errors.ConfigError` with every problem before any work.
    """
    from emoprep.pipeline.executors import ExecutorKind
    from emoprep.pipeline.runner import RunOptions
    from emoprep.pipeline.runner import run as _run

    opts = RunOptions(ExecutorKind(executor), workers, scheduler, set(force), fail_fast=fail_fast)
    return _run(manifest, None if out is None else Path(out), tuple(overrides), opts)


def status(manifest: ManifestSource, out: str | Path | None = None,
           overrides: Sequence[str] = ()) -> dict[str, Any]:
    """What is up to date, stale (and why), failed: the data of ``emoprep status --json``."""
    import json

    from emoprep.pipeline.runner import status as _status
    from emoprep.train.cache import training_status

    rep = _status(manifest, None if out is None else Path(out), tuple(overrides),
                  training=training_status)
    return json.loads(rep.to_json())


__all__ = ["__version__", "open_store", "run", "status"]
