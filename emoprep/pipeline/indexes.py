"""Index files that link the per-video shards, rebuilt by the coordinator after every run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py

from emoprep.errors import StoreError
from emoprep.pipeline.dag import Plan, parse_embed_stage
from emoprep.pipeline.store import SCHEMA_VERSION, IndexRow, build_index, decode_attrs, shard_links

if TYPE_CHECKING:
    from emoprep.pipeline.runner import Session


def _video_state(session: Session, plan: Plan, vid: str, final_stage: str) -> tuple[str, str]:
    """("ok" | "failed" | "pending", first error) of one video for one output stage."""
    for d in plan.stages:
        if d.name != final_stage and d.name.startswith("embed:"):
            continue
        rec = session.records.get(d.name, vid)
        unit = plan.units[(d.name, vid)]
        if rec is not None and rec.status == "failed" and rec.fingerprint == unit.fingerprint:
            return "failed", f"{d.name}: {rec.error.splitlines()[0] if rec.error else rec.error_type}"
        if d.name == final_stage:
            break
    rec = session.records.get(final_stage, vid)
    ok = rec is not None and rec.status == "ok" and rec.fingerprint == plan.units[(final_stage, vid)].fingerprint
    return ("ok", "") if ok else ("pending", "")


def _rel(shard: Path, index: Path) -> str:
    """Shard path as HDF5 resolves external links: relative to the index file's folder."""
    return os.path.relpath(shard, index.parent)


def _shard_attrs(path) -> dict[str, Any]:
    try:
        with h5py.File(path, "r") as f:
            return decode_attrs(f.attrs, json_keys=())
    except OSError as exc:
        raise StoreError(f"shard {path}: cannot read ({exc})") from exc


def rebuild_indexes(session: Session, plan: Plan) -> list[dict[str, Any]]:
    """Rewrite ``frames.h5`` and every ``features/<name>.h5``; return one summary row per video."""
    lay = session.layout
    rows, summary = [], []
    for v in session.videos:
        state, error = _video_state(session, plan, v.video_id, "frames")
        row = IndexRow(v.video_id, v.subject, v.labels, state, error=error)
        info: dict[str, Any] = {"video_id": v.video_id, "subject": v.subject, "status": state, "error": error}
        track = session.records.get("track", v.video_id)
        if track is not None and track.status == "ok":
            info.update(n_tracked=track.summary.get("n_frames", 0), n_tracked_face=track.summary.get("n_face", 0))
        au = session.records.get("au", v.video_id)
        if au is not None and au.status == "ok":
            info["anomaly"] = bool(au.summary.get("anomaly")) and session.manifest.stages.window.mode.value == "au_trim"
        if state == "ok":
            shard = lay.frames_shard(v.video_id)
            rec = session.records.get("frames", v.video_id)
            row.n_frames, row.n_face = rec.summary["n_frames"], rec.summary["n_face"]
            row.links = shard_links(shard, _rel(shard, lay.frames_index))
            row.attrs = _shard_attrs(shard)
            if lay.au_shard(v.video_id).is_file() and au is not None and au.status == "ok":
                row.links["au"] = (_rel(lay.au_shard(v.video_id), lay.frames_index), "/")
            info.update(n_frames=row.n_frames, n_face=row.n_face)
        rows.append(row)
        summary.append(info)
    attrs = {"schema_version": SCHEMA_VERSION, "store": "frames"}
    build_index(lay.frames_index, rows, attrs)
    for name in sorted(session.manifest.stages.embed):
        _features_index(session, plan, name)
    return summary


def _features_index(session: Session, plan: Plan, name: str) -> None:
    lay = session.layout
    stages = [d.name for d in plan.stages if d.name.startswith(f"embed:{name}") and
              parse_embed_stage(d.name)[0] == name]
    rows = []
    for v in session.videos:
        state, error = _video_state(session, plan, v.video_id, f"embed:{name}")
        row = IndexRow(v.video_id, v.subject, v.labels, state, error=error)
        if state == "ok":
            shard = lay.features_shard(name, v.video_id)
            row.links = shard_links(shard, _rel(shard, lay.features_index(name)))
            row.attrs = _shard_attrs(shard)
            rec = session.records.get(f"embed:{name}", v.video_id)
            row.n_frames = int(rec.summary.get("n_frames", 0)) if rec else 0
            for st in stages:
                _, aug = parse_embed_stage(st)
                rec = session.records.get(st, v.video_id)
                if aug and rec is not None and rec.status == "ok" and rec.fingerprint == plan.units[(st, v.video_id)].fingerprint:
                    ashard = lay.features_shard(name, v.video_id, aug)
                    row.links.update(shard_links(ashard, _rel(ashard, lay.features_index(name)),
                                                 prefix=f"augmented/{aug}/"))
        rows.append(row)
    build_index(lay.features_index(name), rows, {"schema_version": SCHEMA_VERSION, "store": f"features/{name}"})


def write_trim_plots(session: Session) -> list:
    """One PNG per video with AU data: score, threshold, kept range, anomaly mark."""
    from emoprep.pipeline.store import read_arrays
    from emoprep.plots import plot_trim
    from emoprep.stages.trim import TrimResult

    written = []
    for v in session.videos:
        path = session.layout.au_shard(v.video_id)
        if not path.is_file():
            continue
        arrays, a = read_arrays(path, ("trim_score", "frame_index"))
        res = TrimResult(int(a["trim_start"]), int(a["trim_end"]), bool(a["anomaly"]), float(a["trim_threshold"]),
                         int(a.get("trim_peak", 0)), str(a.get("trim_reason", "")))
        out = session.layout.plot(v.video_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        written.append(plot_trim(arrays["trim_score"], res, out, f"{v.video_id} ({a.get('au_source', '')})",
                                 frame_index=arrays["frame_index"]))
    return written
