"""Index files that link the per-video shards, rebuilt by the coordinator after every run.

Which index files exist and what they link follows from the stages' declared artifacts
(``Artifact.index``, :class:`~emoprep.io.layout.Indexed`): an artifact that gives the rows of its
store's index (``<store>.h5``: one row per video, its state that of the artifact's stage), and
artifacts linked into a row (an external link, or a group of datasets under a prefix). What the
run summary takes from the records besides comes from ``StageDef.report``
(:class:`~emoprep.pipeline.stagedef.Reported`). No stage is named here.

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
from emoprep.io.layout import Artifact, Linked
from emoprep.io.store_config import PACKED_SCHEMA, SCHEMA_VERSION, IndexRow, ItemPart
from emoprep.pipeline import index_check
from emoprep.pipeline.batches import BATCH_KEY, packed
from emoprep.pipeline.dag import Plan, gc_paused
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.manifest.labels import default_task, vocabularies
from emoprep.pipeline.quality import LowFacePolicy, VideoWarning, face_coverage_warning
from emoprep.pipeline.records import Record
from emoprep.pipeline.session import Session
from emoprep.pipeline.stagedef import StageDef
from emoprep.types import UnitStatus, VideoEntry, VideoState


def _video_state(session: Session, plan: Plan, vid: str, final_stage: str
                 ) -> tuple[VideoState, str]:
    """("ok" | "failed" | "pending", first error) of one video for one output stage: the first
    failure (current fingerprint) among the stages up to it in DAG order (the variants of an
    embedder family, ``StageDef.embedder``, other than itself left out), else its record's
    state."""
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
    # (link prefix, shard or pack, the item in a pack or "" for a shard, a group of its own);
    # the first gives the row's attributes
    shards: list[tuple[str, Path, str, bool]] = field(default_factory=list)
    key: list[Any] = field(default_factory=list)  # what identifies the row's content
    meta: dict[str, Any] = field(default_factory=dict)  # attributes from the manifest, on top


def _fp(session: Session, stage: str, vid: str) -> str:
    """What identifies a record's output in an index: its state and fingerprint (and the pack
    that holds it, for an item of a batch)."""
    rec = session.records.get(stage, vid)
    if rec is None:
        return ""
    return f"{rec.status}:{rec.fingerprint}" + (f":{rec.outputs[0]}" if packed(rec) else "")


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
        if any(item for _, _, item, _ in p.shards):
            _parts(p, path)
            continue
        for prefix, shard, _, _ in p.shards:
            p.row.links.update(hdf5.shard_links(shard, _rel(shard, path), prefix=prefix))
        if p.shards:
            p.row.attrs = {**_shard_attrs(p.shards[0][1]), **p.meta}
    if any(p.row.parts for p in pending):
        attrs = {**attrs, "schema_version": PACKED_SCHEMA}
    stamp.unlink(missing_ok=True)  # a run killed between the two writes leaves no stale stamp
    from emoprep.io.index_items import write_items

    rows = [p.row for p in pending]
    hdf5.build_index(path, rows, {**attrs, "inputs_digest": key},
                     extra=lambda f: write_items(f, rows))
    atomic_write_text(stamp, json.dumps({"inputs_digest": key, **(_stamp_of(path) or {})}))
    return True


def _parts(p: _Pending, index: Path) -> None:
    """An item with an output in a pack: each of its outputs (packed or a shard of its own) a
    row of the index's ``items`` table (:class:`ItemPart`), no ``videos/<id>`` group; the first
    part's attributes are the item's, with the manifest's on top."""
    from emoprep.io.hdf5 import shard_rows
    from emoprep.io.pack_format import DATA
    from emoprep.io.packs import pack_item

    row = p.row
    for prefix, shard, item, own in p.shards:
        part = prefix.rstrip("/")
        if item:
            entry = pack_item(shard, item)
            offsets, attrs, target = entry.offsets, entry.attrs, f"/{DATA}"
        else:
            (offsets, attrs), target = shard_rows(shard), "/"
        row.parts.append(ItemPart(part, _rel(shard, index), target, dict(offsets),
                                  dict(attrs) if own or not part else {}))
    for name, (rel, _) in sorted(row.links.items()):  # a linked shard of the item's own
        offsets, attrs = shard_rows(index.parent / rel)
        row.parts.append(ItemPart(name, rel, "/", offsets, attrs))
    row.links = {}
    row.parts[0].attrs = {**row.parts[0].attrs, **p.meta}


def index_attrs(session: Session, store: str, anomalies: list[str]) -> dict[str, Any]:
    """File attributes of an index: schema, store, class lists, default task and split."""
    classes = vocabularies(session.manifest.labels, [v.labels for v in session.videos])
    return {"schema_version": SCHEMA_VERSION, "store": store, "classes": classes,
            "default_task": default_task(session.manifest.labels, classes),
            "default_split": session.manifest.stages.split.name, "anomalies": anomalies}


@dataclass
class StoreIndex:
    """One index file, as the declared artifacts make it: the stage whose artifact gives its rows
    and the artifacts linked beside them (:class:`~emoprep.io.layout.Linked`), in DAG order."""

    store: str
    stage: StageDef
    rows: Artifact
    linked: list[tuple[StageDef, Artifact]] = field(default_factory=list)


def declared_indexes(stages: list[StageDef]) -> list[StoreIndex]:
    """The index files the stages' artifacts ask for, in DAG order of the stages giving their
    rows (``stages``: in DAG order; a link into a store nobody gives rows of is checked by
    :func:`emoprep.pipeline.dag.order_stages`)."""
    found: dict[str, StoreIndex] = {}
    for d in stages:
        for a in d.outputs:
            if a.index is not None and a.index.how is Linked.ROWS:
                found[a.index.into] = StoreIndex(a.index.into, d, a)
    for d in stages:
        for a in d.outputs:
            if a.index is not None and a.index.how is not Linked.ROWS and a.index.into in found:
                found[a.index.into].linked.append((d, a))
    return list(found.values())


def _ok(session: Session, stage: str, vid: str) -> Record | None:
    rec = session.records.get(stage, vid)
    return rec if rec is not None and rec.status is UnitStatus.OK else None


def _anomalies(session: Session, plan: Plan) -> list[str]:
    """The videos an ok record marks for manual review (``Reported.anomaly``), in manifest
    order."""
    c = session.manifest.stages
    judges = [(d.name, d.report.anomaly) for d in plan.stages if d.report.anomaly is not None]
    return [v.video_id for v in session.videos
            if any((rec := _ok(session, name, v.video_id)) is not None and judge(c, rec.summary)
                   for name, judge in judges)]


def _low_face(session: Session, counts: StageDef | None, vid: str) -> VideoWarning | None:
    """The ``stages.quality`` warning of a video, from the record of the stage whose summary
    holds the video's face counts (``Reported.face_counts``), or None."""
    rec = session.records.get(counts.name, vid) if counts is not None else None
    if rec is None:
        return None
    return face_coverage_warning(vid, int(rec.summary.get("n_frames", 0)),
                                 int(rec.summary.get("n_face", 0)),
                                 session.manifest.stages.quality.min_face_fraction)


def _quality(session: Session, counts: StageDef | None, vid: str
             ) -> tuple[str, VideoWarning | None]:
    """(why ``stages.quality.on_low_face: fail`` fails a finished video, "" when it does not; the
    warning): a policy on outputs, applied to the indexes, so changing it re-runs no stage."""
    warning = _low_face(session, counts, vid)
    if warning is None or session.manifest.stages.quality.on_low_face is not LowFacePolicy.FAIL:
        return "", warning
    return f"quality: {warning.message} (stages.quality.on_low_face: fail)", warning


def rebuild_indexes(session: Session, plan: Plan) -> list[dict[str, Any]]:
    """Rewrite every index file the declared artifacts ask for (``frames.h5``,
    ``features/<name>.h5``) where anything changed; return one summary row per video. A run
    with every unit up to date and nothing changed since the last rebuild reads no record
    (:mod:`.index_check`)."""
    files = [session.layout.index_file(x.store) for x in declared_indexes(plan.stages)]
    with gc_paused():
        digest = index_check.sources(session, plan)
        kept = index_check.kept_summary(session, digest, files)
        if kept is not None:
            return kept
        index_check.forget(session)
        summary = _rebuild_indexes(session, plan)
        index_check.remember(session, digest, files, summary)
        return summary


def _rebuild_indexes(session: Session, plan: Plan) -> list[dict[str, Any]]:
    lay = session.layout
    anomalies = _anomalies(session, plan)
    counts = next((d for d in plan.stages if d.report.face_counts), None)
    indexes = declared_indexes(plan.stages)
    main = next((x for x in indexes if x.stage is counts), indexes[0] if indexes else None)
    summary = []
    for x in indexes:
        rows = _Rows(session, plan, x, anomalies, counts)
        pending = [rows.row(v) for v in session.videos]
        if x is main:
            summary = [rows.summary(v, p) for v, p in zip(session.videos, pending, strict=True)]
        index = lay.index_file(x.store)
        _write_index(index, lay.index_stamp(index), pending,
                     index_attrs(session, x.store, anomalies))
    return summary


@dataclass
class _Rows:
    """The rows of one index file (:class:`StoreIndex`), and the run summary's rows from them."""

    session: Session
    plan: Plan
    index: StoreIndex
    anomalies: list[str]
    counts: StageDef | None  #: the stage whose record holds the face counts (quality)

    def __post_init__(self) -> None:
        lay, file = self.session.layout, self.session.layout.index_file(self.index.store)
        # each linked artifact's folder relative to the index's, once (video ids hold no "/")
        self.folders = {id(a): _rel(lay.root / a.folder, file) for _, a in self.index.linked}
        self.warnings: dict[str, VideoWarning | None] = {}
        self.flagged = set(self.anomalies)

    def row(self, v: VideoEntry) -> _Pending:
        s, x, vid = self.session, self.index, v.video_id
        state, error = _video_state(s, self.plan, vid, x.stage.name)
        if state is VideoState.OK:
            failure, self.warnings[vid] = _quality(s, self.counts, vid)
            if failure:
                state, error = VideoState.FAILED, failure
        p = _Pending(IndexRow(vid, v.subject, v.labels, state, error=error),
                     meta={"subject": v.subject, "labels": v.labels,
                           "anomaly": vid in self.flagged})
        if state is VideoState.OK:
            rec = s.records.get(x.stage.name, vid)
            assert rec is not None  # state OK: the record exists
            p.row.n_frames = int(rec.summary.get("n_frames", 0))
            p.row.n_face = int(rec.summary.get("n_face", 0))
            p.shards.append(("", *self._where(rec, x.rows, vid), False))
            p.key.append(_fp(s, x.stage.name, vid))
            for d, a in x.linked:
                self._link(p, d, a, vid)
        return p

    def _link(self, p: _Pending, d: StageDef, a: Artifact, vid: str) -> None:
        """Add the shard ``a`` of stage ``d`` to the row of ``vid`` as its ``Indexed`` says."""
        s, how = self.session, a.index
        assert how is not None
        rec = _ok(s, d.name, vid)
        if how.how is Linked.LINK:
            p.key.append(_fp(s, d.name, vid))
            if rec is not None and packed(rec):
                pack, item = self._where(rec, a, vid)
                if os.path.isfile(pack):
                    p.shards.append((f"{how.name}/", pack, item, True))
            elif rec is not None and os.path.isfile(a.path(s.layout, vid)):
                p.row.links[how.name] = (
                    f"{self.folders[id(a)]}/{a.filename.format(video_id=vid)}", "/")
        elif rec is not None and rec.fingerprint == self.plan.units[(d.name, vid)].fingerprint:
            p.shards.append((how.name, *self._where(rec, a, vid), False))
            p.key.append(_fp(s, d.name, vid))

    def _where(self, rec: Record, a: Artifact, vid: str) -> tuple[Path, str]:
        """(file, item) of a record's output: its batch's pack and the video id, or its shard
        and ""."""
        lay = self.session.layout
        if packed(rec):  # the pack of this artifact: a stage may write several
            batch = rec.summary.get(BATCH_KEY)
            return (a.pack(lay, str(batch)) if batch else lay.root / rec.outputs[0]), vid
        return a.path(lay, vid), ""

    def summary(self, v: VideoEntry, p: _Pending) -> dict[str, Any]:
        """The run summary's row of a video: its state in this index, what the stages report
        (``Reported``), the quality warning and its counts."""
        vid, ok = v.video_id, p.row.status is VideoState.OK
        info: dict[str, Any] = {"video_id": vid, "subject": v.subject,
                                "status": VideoState(p.row.status).value, "error": p.row.error}
        for d in self.plan.stages:
            rep = d.report
            rec = _ok(self.session, d.name, vid) if rep.keys or rep.anomaly else None
            if rec is not None:
                info.update({k: rec.summary.get(src, 0) for k, src in d.report.keys.items()})
                if d.report.anomaly is not None:
                    info["anomaly"] = vid in self.flagged
        if ok and (warning := self.warnings.get(vid)):
            info["warnings"] = [warning.as_dict()]
        if ok:
            info.update(n_frames=p.row.n_frames, n_face=p.row.n_face)
        return info
