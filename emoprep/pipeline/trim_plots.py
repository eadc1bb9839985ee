"""AU-trim plots of a session's videos (``--plots``, ``emoprep report``)."""

from __future__ import annotations

from pathlib import Path

from emoprep.errors import StoreError
from emoprep.io.layout import ItemIO
from emoprep.io.packs import PackIO
from emoprep.pipeline.batches import BATCH_KEY, packed
from emoprep.pipeline.session import Session
from emoprep.pipeline.steps.au import OUTPUT
from emoprep.plots import plot_trim
from emoprep.stages.au.trim import TrimResult
from emoprep.stages.window import WindowMode


def write_trim_plots(session: Session) -> list[Path]:
    """One PNG per video with AU data: score, threshold, kept range, anomaly mark."""
    written = []
    applied = session.manifest.stages.window.mode is WindowMode.AU_TRIM
    for v in session.videos:
        rec = session.records.get("au", v.video_id)
        pack = PackIO(session.layout, rec.summary[BATCH_KEY]) if rec and packed(rec) else None
        io: ItemIO = pack or session.layout.io
        try:  # its AU shard, or its item in its batch's pack
            arrays, a = io.read_arrays(OUTPUT, v.video_id, ("trim_score", "frame_index"))
        except StoreError:
            continue
        finally:
            if pack is not None:
                pack.close()
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
