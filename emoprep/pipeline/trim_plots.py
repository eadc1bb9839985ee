"""AU-trim plots of a session's videos (``--plots``, ``emoprep report``)."""

from __future__ import annotations

from pathlib import Path

from emoprep.io.hdf5 import read_arrays
from emoprep.io.store_config import AU_STORE
from emoprep.pipeline.session import Session
from emoprep.plots import plot_trim
from emoprep.stages.au.trim import TrimResult
from emoprep.stages.window import WindowMode


def write_trim_plots(session: Session) -> list[Path]:
    """One PNG per video with AU data: score, threshold, kept range, anomaly mark."""
    written = []
    applied = session.manifest.stages.window.mode is WindowMode.AU_TRIM
    for v in session.videos:
        path = session.layout.shard(AU_STORE, v.video_id)
        if not path.is_file():
            continue
        arrays, a = read_arrays(path, ("trim_score", "frame_index"))
        res = TrimResult(
            int(a["trim_start"]),
            int(a["trim_end"]),
            bool(a["anomaly"]),
            float(a["trim_threshold"]),
            int(a.get("trim_peak", 0)),
            str(a.get("trim_reason", "")),
        )
        out = session.layout.plot(v.video_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        title = f"{v.video_id} ({a.get('au_source', '')})"
        if not applied:
            title += " - not applied: window.mode is " + session.manifest.stages.window.mode.value
        written.append(
            plot_trim(arrays["trim_score"], res, out, title, frame_index=arrays["frame_index"])
        )
    return written
