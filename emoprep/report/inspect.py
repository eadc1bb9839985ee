"""``emoprep inspect VIDEO_ID``: everything the output folder knows about one video.

:func:`inspect_video` returns a JSON-serialisable dict; :func:`render_inspect` turns it into
text for a terminal. Only stored files are read; a video's outputs are found where its records
say they are (its own shards, or its batch's packs, docs/STORE.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import StoreError
from emoprep.io.layout import PACKS, is_pack
from emoprep.io.packs import pack_item
from emoprep.io.reader import open_store
from emoprep.io.store_config import AU_STORE, FRAMES_STORE, features_store
from emoprep.pipeline.batches import BATCH_KEY
from emoprep.pipeline.quality import face_coverage_warning
from emoprep.pipeline.records_db import db_path
from emoprep.report.rundata import RunData, load_run, stage_key, status_counts

_SOURCE_ATTRS = ("source", "content_hash", "fps", "width", "height", "n_source_frames",
                 "crop_size", "window_mode")


def _window(meta: dict[str, Any]) -> dict[str, Any]:
    fi = np.asarray(meta["frame_index"])
    return {"mode": meta.get("window_mode", ""), "n_frames": int(fi.size),
            "first_frame": int(fi[0]) if fi.size else None,
            "last_frame": int(fi[-1]) if fi.size else None}


def _trim(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The AU-trim decision in tracked-frame indices and in source frame numbers."""
    if "trim_start" not in meta or "au_frame_index" not in meta:
        return None
    fi = np.asarray(meta["au_frame_index"])
    start, end = int(meta["trim_start"]), int(meta["trim_end"])
    kept = fi[start:end]
    return {"applied": meta.get("window_mode") == "au_trim", "start": start, "end": end,
            "first_frame": int(kept[0]) if kept.size else None,
            "last_frame": int(kept[-1]) if kept.size else None,
            "threshold": float(meta.get("trim_threshold", float("nan"))),
            "anomaly": bool(meta.get("anomaly", False)), "au_source": meta.get("au_source", "")}


def _stages(run: RunData, video_id: str) -> dict[str, dict[str, Any]]:
    recs = run.records.get(video_id, {})
    return {s: {"status": r.get("status", ""), "fingerprint": r.get("fingerprint", ""),
                "seconds": r.get("seconds"), "error": r.get("error", ""),
                "summary": r.get("summary", {}),
                "record": f"{run.layout.rel(db_path(run.layout))} ({s}, {video_id})"}
            for s, r in sorted(recs.items(), key=lambda kv: stage_key(kv[0]))}


def _store_of(rel: str) -> str:
    """The store key of a recorded output: its folder, less a trailing ``packs``
    (``frames/packs/b000001.h5`` and ``frames/<id>.h5``: ``frames``; ``features/hog/@flip``)."""
    folder = rel.rpartition("/")[0]
    return folder.removesuffix(f"/{PACKS}")


def _in_pack(path: Path, video_id: str) -> bool:
    try:
        pack_item(path, video_id)
    except (StoreError, OSError):
        return False
    return True


def _recorded(run: RunData, video_id: str) -> dict[str, str]:
    """Store -> the output (relative path) the video's records name, where it exists: its own
    shard, or its batch's pack listing it in its item table. Work files are left out."""
    work = run.layout.rel(run.layout.meta_dir) + "/"
    found: dict[str, str] = {}
    for rec in run.records.get(video_id, {}).values():
        for rel in rec.get("outputs") or []:
            path = run.root / rel
            if rel.startswith(work) or not path.is_file():
                continue
            if not is_pack(rel) or _in_pack(path, video_id):
                found[_store_of(rel)] = rel
    return found


def _by_path(run: RunData, video_id: str) -> dict[str, str]:
    """Store -> per-video shard (relative path) found where a shard of the video would be."""
    lay = run.layout
    found = {s: lay.shard(s, video_id) for s in (FRAMES_STORE, AU_STORE)}
    for d in sorted(p for p in (lay.root / "features").glob("*") if p.is_dir()):
        found[features_store(d.name)] = lay.shard(features_store(d.name), video_id)
        for aug in sorted(d.glob("@*")):
            found[f"features/{d.name}/{aug.name}"] = aug / f"{video_id}.h5"
    return {k: lay.rel(p) for k, p in found.items() if p.is_file()}


def _shards(run: RunData, video_id: str) -> dict[str, str]:
    """Store -> where the video's output of it is (relative to the output folder): the records'
    output (a shard or a pack), else a per-video shard found by its path; frames and au first,
    then the feature stores by name."""
    found = {**_by_path(run, video_id), **_recorded(run, video_id)}
    first = [s for s in (FRAMES_STORE, AU_STORE) if s in found]
    rest = sorted(set(found) - set(first), key=lambda s: s.split("/"))
    return {s: found[s] for s in first + rest}


def _packed(root: Path, shards: dict[str, str], video_id: str) -> dict[str, str]:
    """Store -> the video's row of its pack's item table (``items[1]``: its offsets into the
    pack's arrays and its attributes), for the stores whose output is a pack."""
    return {s: f"items[{pack_item(root / rel, video_id).row}]" for s, rel in shards.items()
            if is_pack(rel)}


def _batch(stages: dict[str, dict[str, Any]]) -> str:
    """The batch id the records' summaries name ('' if none)."""
    return next((str(d["summary"][BATCH_KEY]) for d in stages.values()
                 if d["summary"].get(BATCH_KEY)), "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def inspect_video(out_dir: str | Path, video_id: str,
                  min_face_fraction: float | None = None) -> dict[str, Any]:
    """Labels, subject, window and trim, per-status frame counts, fingerprints per stage,
    warnings and shard paths of one video, as plain JSON-serialisable data.

    ``shards``: store -> where the records say the video's output is (relative path): its own
    shard, or its batch's pack (``frames/packs/b000001.h5``); only for an item of a batch,
    ``batch`` (its id) and ``rows`` (store -> ``items[<k>]``, its row of that pack's item
    table: its offsets into the pack's arrays, its attributes).

    ``min_face_fraction``: as in :func:`~emoprep.report.build.build_report` (None: the run's
    recorded value, else 0.5). Works for failed videos too (then window, trim and counts are None
    and ``error`` says why).
    Raises :class:`~emoprep.errors.StoreError` for an id the output folder does not know.
    """
    run = load_run(out_dir)
    row = run.row(video_id)
    info: dict[str, Any] = {
        "video_id": video_id, "subject": row["subject"], "labels": row["labels"],
        "status": row["status"], "error": row["error"], "failed_stage": run.failed_stage(video_id),
        "n_frames": row["n_frames"], "n_face": row["n_face"], "window": None, "trim": None,
        "status_counts": None, "warnings": [], "source": {},
    }
    if row["status"] == "ok":
        with open_store(out_dir) as store:
            meta = store.meta(video_id)
        info["source"] = {k: _jsonable(meta[k]) for k in _SOURCE_ATTRS if k in meta}
        info["window"], info["trim"] = _window(meta), _trim(meta)
        if info["trim"]:
            info["trim"]["threshold"] = _jsonable(info["trim"]["threshold"])
        info["status_counts"] = status_counts(meta["status"])
        w = face_coverage_warning(video_id, row["n_frames"], row["n_face"],
                                  run.min_face_fraction(min_face_fraction))
        info["warnings"] = [w.as_dict()] if w else []
    stages = _stages(run, video_id)
    info["fingerprints"] = {s: d["fingerprint"] for s, d in stages.items()}
    info["stages"] = stages
    info["shards"] = _shards(run, video_id)
    rows = _packed(run.root, info["shards"], video_id)
    if rows:  # only for an item of a batch: a per-video folder's dict is as it always was
        info["batch"] = _batch(stages)
        info["rows"] = rows
    info["out"] = str(run.root)
    return info


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _kv(label: str, value: Any) -> str:
    return f"{label:<14}{value}"


def render_inspect(info: dict[str, Any]) -> str:
    """Plain text of :func:`inspect_video`'s dict (no colours, nothing cut)."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(info["labels"].items())) or "-"
    lines = [_kv("video", info["video_id"]), _kv("subject", info["subject"]),
             _kv("labels", labels), _kv("status", info["status"])]
    if info.get("batch"):
        lines.append(_kv("batch", f"{info['batch']} (outputs in its packs)"))
    if info["error"]:
        lines.append(_kv("error", info["error"]))
    src = info.get("source") or {}
    if src:
        lines.append(_kv("source", f"{src.get('source', '')} ({src.get('width')}x"
                                   f"{src.get('height')}, {src.get('fps', 0):.3g} fps, "
                                   f"{src.get('n_source_frames')} frames)"))
    if info["window"]:
        w = info["window"]
        lines.append(_kv("window", f"{w['mode']}: {w['n_frames']} frames, source frames "
                                   f"{w['first_frame']}-{w['last_frame']}"))
    if info["trim"]:
        t = info["trim"]
        state = "applied" if t["applied"] else "computed, not applied"
        lines.append(_kv("trim", f"{state}: kept [{t['start']}, {t['end']}) = source frames "
                                 f"{t['first_frame']}-{t['last_frame']}, threshold "
                                 f"{_num(t['threshold'])}, anomaly {t['anomaly']} "
                                 f"({t['au_source']})"))
    if info["status_counts"]:
        counts = ", ".join(f"{k} {v}" for k, v in info["status_counts"].items() if v)
        lines.append(_kv("frames", f"{info['n_face']} of {info['n_frames']} with a face: {counts}"))
    lines += [_kv("warning", w["message"]) for w in info["warnings"]]
    lines.append("stages:")
    for s, d in info["stages"].items():
        secs = "" if d["seconds"] is None else f"{d['seconds']:.2f} s"
        lines.append(f"  {s:<16}{d['status']:<8}{secs:>10}  {d['fingerprint'][:12]}"
                     + (f"  {d['error']}" if d["error"] else ""))
    lines.append("shards:")
    rows = info.get("rows", {})
    lines += [f"  {k:<24}{Path(info['out']) / v}" + (f"  row {rows[k]}" if k in rows else "")
              for k, v in info["shards"].items()]
    return "\n".join(lines)


def render_inspect_json(info: dict[str, Any]) -> str:
    """The dict as indented JSON (what ``--json`` prints)."""
    return json.dumps(info, indent=1, sort_keys=True)
