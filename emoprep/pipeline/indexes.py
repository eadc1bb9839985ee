"""Index files that link the per-video shards, rebuilt by the coordinator after every run.

Labels are metadata: each row's subject, labels and AU-trim ``anomaly`` flag come from the
current manifest and records (never from the shards), and the file attributes carry the label
class lists (``classes``, JSON), ``default_task``, ``default_split`` and ``anomalies`` (JSON list
of video ids), so changing a label rewrites the index files and runs no video stage.

Whether an index must be rewritten is decided without opening it (nor importing h5py): the digest
of its rows and attributes is kept, with the index file's size and mtime, in a small stamp under
``.emoprep/indexes/`` (:meth:`Layout.index_stamp`), written after the index is renamed into place.
A missing or unreadable stamp, another digest, or an index file of another size or mtime means the
index is rebuilt (an index of an older emoprep without a stamp is opened once, and stamped when
its ``inputs_digest`` attribute matches).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoprep.errors import StoreError
from emoprep.io.atomic import atomic_write_text
from emoprep.io.store_config import SCHEMA_VERSION, IndexRow
from emoprep.pipeline.dag import Plan, gc_paused
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.manifest.labels import default_task, vocabularies
from emoprep.pipeline.quality import LowFacePolicy, VideoWarning, face_coverage_warning
from emoprep.pipeline.session import Session
from emoprep.types import UnitStatus, VideoState


def _video_state(session: Session, plan: Plan, vid: str, final_stage: str
                 ) -> tuple[VideoState, str]:
    """("ok" | "failed" | "pending", first error) of one video for one output stage."""
    for d in plan.stages:
        if d.name != final_stage and d.embedder is not None:
            continue
        rec = session.records.get(d.name, vid)
        unit = plan.units[(d.name, vid)]
        if (
            rec is not None
            and rec.status is UnitStatus.FAILED
            and rec.fingerprint == unit.fingerprint
        ):
            return (
                VideoState.FAILED,
                f"{d.name}: {rec.error.splitlines()[0] if rec.error else rec.error_type}",
            )
        if d.name == final_stage:
            break
    rec = session.records.get(final_stage, vid)
    ok = (
        rec is not None
        and rec.status is UnitStatus.OK
        and rec.fingerprint == plan.units[(final_stage, vid)].fingerprint
    )
    return (VideoState.OK, "") if ok else (VideoState.PENDING, "")


def _rel(shard: Path, index: Path) -> str:
    """Shard path as HDF5 resolves external links: relative to the index file's folder."""
    return os.path.relpath(shard, index.parent)


def _shard_attrs(path) -> dict[str, Any]:
    import h5py

    from emoprep.io.hdf5 import decode_attrs

    try:
        with h5py.File(path, "r") as f:
            return decode_attrs(f.attrs, json_keys=())
    except OSError as exc:
        raise StoreError(f"shard {path}: cannot read ({exc})") from exc


@dataclass
class _Pending:
    """An index row whose links and attributes are read from its shards only if the index
    changed."""

    row: IndexRow
    # (link prefix, shard); first gives attrs
    shards: list[tuple[str, Path]] = field(default_factory=list)
    key: list[Any] = field(default_factory=list)  # what identifies the row's content
    meta: dict[str, Any] = field(default_factory=dict)  # attributes from the manifest, on top


def _fp(session: Session, stage: str, vid: str) -> str:
    rec = session.records.get(stage, vid)
    return f"{rec.status}:{rec.fingerprint}" if rec is not None else ""


def _stamp_of(path: Path) -> dict[str, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _up_to_date(path: Path, stamp: Path, key: str) -> bool:
    """True when the index at ``path`` holds exactly the rows of ``key`` (see the module doc)."""
    now = _stamp_of(path)
    if now is None:
        return False
    try:
        kept = json.loads(stamp.read_text(encoding="utf-8"))
        return kept == {"inputs_digest": key, **now}
    except FileNotFoundError:
        pass  # an index of an older emoprep: compare its attribute once
    except (OSError, ValueError):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            same = f.attrs.get("inputs_digest") == key
    except OSError:
        return False  # unreadable index: rewrite it
    if same:
        atomic_write_text(stamp, json.dumps({"inputs_digest": key, **now}))
    return same


def _write_index(path: Path, stamp: Path, pending: list[_Pending], attrs: dict[str, Any]) -> bool:
    """Rewrite ``path`` unless an index with exactly these rows exists already. True if written.
    ``stamp``: where the digest, size and mtime of the index written are kept."""
    key = digest([attrs, [[p.row.video_id, p.row.subject, p.row.labels, p.row.status, p.row.error,
                           p.row.n_frames, p.row.n_face, p.key, p.meta] for p in pending]])
    if _up_to_date(path, stamp, key):
        return False
    from emoprep.io import hdf5

    for p in pending:
        for prefix, shard in p.shards:
            p.row.links.update(hdf5.shard_links(shard, _rel(shard, path), prefix=prefix))
        if p.shards:
            p.row.attrs = {**_shard_attrs(p.shards[0][1]), **p.meta}
    stamp.unlink(missing_ok=True)  # a run killed between the two writes leaves no stale stamp
    hdf5.build_index(path, [p.row for p in pending], {**attrs, "inputs_digest": key})
    atomic_write_text(stamp, json.dumps({"inputs_digest": key, **(_stamp_of(path) or {})}))
    return True


def index_attrs(session: Session, store: str, anomalies: list[str]) -> dict[str, Any]:
    """File attributes of an index: schema, store, class lists, default task and split."""
    classes = vocabularies(session.manifest.labels, [v.labels for v in session.videos])
    return {"schema_version": SCHEMA_VERSION, "store": store, "classes": classes,
            "default_task": default_task(session.manifest.labels, classes),
            "default_split": session.manifest.stages.split.name, "anomalies": anomalies}


def _anomaly(session: Session, vid: str) -> bool:
    """AU trimming marked the video for manual review (only meaningful in window mode au_trim)."""
    au = session.records.get("au", vid)
    au_trim = session.manifest.stages.window.mode.value == "au_trim"
    return (
        au_trim
        and au is not None
        and au.status is UnitStatus.OK
        and bool(au.summary.get("anomaly"))
    )


def _low_face(session: Session, vid: str) -> VideoWarning | None:
    """The ``stages.quality`` warning of a finished video, or None."""
    rec = session.records.get("frames", vid)
    assert rec is not None  # called for videos whose frames unit is up to date
    return face_coverage_warning(vid, int(rec.summary.get("n_frames", 0)),
                                 int(rec.summary.get("n_face", 0)),
                                 session.manifest.stages.quality.min_face_fraction)


def _quality_failure(session: Session, vid: str) -> str:
    """Why ``stages.quality.on_low_face: fail`` fails a finished video ("" when it does not):
    a policy on outputs, applied to the indexes, so changing it re-runs no stage."""
    warning = _low_face(session, vid)
    if warning is None or session.manifest.stages.quality.on_low_face is not LowFacePolicy.FAIL:
        return ""
    return f"quality: {warning.message} (stages.quality.on_low_face: fail)"


def rebuild_indexes(session: Session, plan: Plan) -> list[dict[str, Any]]:
    """Rewrite ``frames.h5`` and every ``features/<name>.h5`` where anything changed; return one
    summary row per video."""
    with gc_paused():
        return _rebuild_indexes(session, plan)


def _rebuild_indexes(session: Session, plan: Plan) -> list[dict[str, Any]]:
    lay = session.layout
    pending, summary = [], []
    anomalies = [v.video_id for v in session.videos if _anomaly(session, v.video_id)]
    # the au shards' folder relative to the index's, once (video ids hold no "/")
    au_rel = _rel(lay.au_shard("_").parent, lay.frames_index)
    for v in session.videos:
        vid = v.video_id
        state, error = _video_state(session, plan, vid, "frames")
        p = _Pending(IndexRow(vid, v.subject, v.labels, state, error=error),
                     meta={"subject": v.subject, "labels": v.labels, "anomaly": vid in anomalies})
        info: dict[str, Any] = {
            "video_id": vid,
            "subject": v.subject,
            "status": state.value,
            "error": error,
        }
        track, au = session.records.get("track", vid), session.records.get("au", vid)
        if track is not None and track.status is UnitStatus.OK:
            info.update(
                n_tracked=track.summary.get("n_frames", 0),
                n_tracked_face=track.summary.get("n_face", 0),
            )
        if au is not None and au.status is UnitStatus.OK:
            info["anomaly"] = vid in anomalies
        if state is VideoState.OK and (error := _quality_failure(session, vid)):
            state = p.row.status = VideoState.FAILED
            p.row.error = error
            info.update(status=state.value, error=error)
        elif state is VideoState.OK and (warning := _low_face(session, vid)):
            info["warnings"] = [warning.as_dict()]
        if state is VideoState.OK:
            rec = session.records.get("frames", vid)
            assert rec is not None  # state OK: the record exists
            p.row.n_frames, p.row.n_face = rec.summary["n_frames"], rec.summary["n_face"]
            p.shards.append(("", lay.frames_shard(vid)))
            p.key = [_fp(session, "frames", vid), _fp(session, "au", vid)]
            if au is not None and au.status is UnitStatus.OK \
                    and os.path.isfile(lay.au_shard(vid)):
                p.row.links["au"] = (f"{au_rel}/{vid}.h5", "/")
            info.update(n_frames=p.row.n_frames, n_face=p.row.n_face)
        pending.append(p)
        summary.append(info)
    _write_index(lay.frames_index, lay.index_stamp(lay.frames_index), pending,
                 index_attrs(session, "frames", anomalies))
    for name in sorted(session.manifest.stages.embed):
        _features_index(session, plan, name, anomalies)
    return summary


def _features_index(session: Session, plan: Plan, name: str, anomalies: list[str]) -> None:
    lay = session.layout
    augs = [d.augmentation for d in plan.stages if d.embedder == name and d.augmentation]
    pending = []
    for v in session.videos:
        vid = v.video_id
        state, error = _video_state(session, plan, vid, f"embed:{name}")
        if state is VideoState.OK and (error := _quality_failure(session, vid)):
            state = VideoState.FAILED
        p = _Pending(IndexRow(vid, v.subject, v.labels, state, error=error),
                     meta={"subject": v.subject, "labels": v.labels, "anomaly": vid in anomalies})
        if state is VideoState.OK:
            rec = session.records.get(f"embed:{name}", vid)
            assert rec is not None  # state OK: the record exists
            p.row.n_frames = int(rec.summary.get("n_frames", 0))
            p.shards.append(("", lay.features_shard(name, vid)))
            p.key.append(_fp(session, f"embed:{name}", vid))
            for aug in augs:
                stage = f"embed:{name}@{aug}"
                rec = session.records.get(stage, vid)
                if (
                    rec is not None
                    and rec.status is UnitStatus.OK
                    and rec.fingerprint == plan.units[(stage, vid)].fingerprint
                ):
                    p.shards.append((f"augmented/{aug}/", lay.features_shard(name, vid, aug)))
                    p.key.append(_fp(session, stage, vid))
        pending.append(p)
    index = lay.features_index(name)
    _write_index(index, lay.index_stamp(index), pending,
                 index_attrs(session, f"features/{name}", anomalies))
