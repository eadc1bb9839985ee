"""Stage ``au``: per-frame AU intensities of the tracked face and the Algorithm-1 trim decision.

Left out of the DAG when its source has nothing to read: ``au.source: landmarks`` under
``landmarks.backend: none`` (:func:`stages`); no AU output then, and ``frames.h5`` links no
``videos/<id>/au`` (readers treat it as a run without AU values).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.io.layout import Layout
from emoprep.io.store_config import AU_STORE, FRAMES_STORE
from emoprep.pipeline.stagedef import Artifact, Indexed, PlanContext, Reported, StageDef, UnitTask
from emoprep.pipeline.steps.shared import aligned_crops, load_geometry
from emoprep.stages.window import WindowMode
from emoprep.types import VideoEntry
from emoprep.versions import library_version

#: AU intensities, names, frame numbers, trim score; the trim decision in its attributes; linked
#: as ``videos/<id>/au`` from the frame store's index (docs/STORE.md)
OUTPUT = Artifact.shard(AU_STORE, index=Indexed.link(FRAMES_STORE, "au"))


def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.align import align_geometry
    from emoprep.stages.au import compute_au
    from emoprep.stages.au.trim import au_trim, override_range, resolve_threshold, trim_score

    vid, s = task.entry.video_id, task.stages
    geom = load_geometry(layout, vid)

    def crops() -> Iterator[np.ndarray]:
        return aligned_crops(task.entry, geom, align_geometry(geom, s.align), s.align)

    res = compute_au(geom, task.entry, s.au, Path(task.root), crops=crops)
    score = trim_score(res.values, res.names)
    trim = au_trim(score, s.trim, resolve_threshold(s.trim, s.au), frame_index=geom.frame_index)
    start, end, anomaly = trim.start, trim.end, trim.anomaly
    if task.override is not None:
        start, end = override_range(geom.frame_index, *task.override)
        anomaly = False
    attrs = {
        "video_id": vid,
        "au_source": res.source,
        "trim_start": int(start),
        "trim_end": int(end),
        "anomaly": bool(anomaly),
        "trim_threshold": float(trim.threshold),
        "trim_peak": int(trim.peak),
        "trim_reason": trim.reason,
        "override": task.override is not None,
        "auto_anomaly": bool(trim.anomaly),
        "fingerprint": task.fingerprint,
    }
    names = np.array(res.names, dtype=object).astype(str)
    path = layout.io.write_arrays(OUTPUT, vid, {
        "au": res.values.astype(np.float32), "names": names, "frame_index": geom.frame_index,
        "trim_score": score.astype(np.float32)}, attrs)
    return [path], {"au_source": res.source, "trim": [int(start), int(end)],
                    "anomaly": bool(anomaly), "override": task.override is not None}


def inputs(v: VideoEntry, ctx: PlanContext) -> dict[str, Any]:
    """Side files of the AU source (OpenFace CSV) and a per-video trim override."""
    files = {p.name: ctx.hashes.file(p) for p in ctx.stages.au.source_files(v, ctx.root)
             if p.is_file()}
    override = ctx.overrides.get(v.video_id)
    return {"files": files, "override": list(override) if override else None}


def libraries(c: Any) -> dict[str, str]:
    return {key: library_version(dist) for key, dist in c.au.libraries.items()}


def _align(c: Any) -> Any:
    """The alignment, for AU sources computed on the aligned crops (pyfeat, expression)."""
    return c.align if c.au.uses_crops else None


def anomaly(c: Any, summary: Mapping[str, Any]) -> bool:
    """AU trimming marked the video for manual review (only meaningful in window mode au_trim)."""
    return c.window.mode is WindowMode.AU_TRIM and bool(summary.get("anomaly"))


STAGE = StageDef(name="au", run=run, version=1, reads={"au": "au", "trim": "trim", "align": _align},
                 upstream=("track",), outputs=(OUTPUT,), report=Reported(anomaly=anomaly),
                 libraries=libraries, models=lambda c: c.au.model_files(), inputs=inputs)


def stages(c: Any) -> list[StageDef]:
    """``[STAGE]``; none when the AU source computes from landmarks and the landmarks backend
    finds none (``landmarks.backend: none``): there is nothing to compute, so no unit, no
    record, no output."""
    return [] if c.au.reads_landmarks and not c.landmarks.finds_points else [STAGE]
