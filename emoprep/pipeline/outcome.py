"""What a run's summary and ``status`` say besides units: what the window kept, videos gone since
the last run, label settings changed since it (the indexes are rewritten, no stage re-runs), and the
manifest a run was made with (saved, so ``status -o OUT`` works on a quick-start folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprep.io.atomic import atomic_write_text
from emoprep.io.layout import Artifact, ArtifactKind

if TYPE_CHECKING:
    from emoprep.pipeline.dag import Plan
    from emoprep.pipeline.session import Session

__all__ = ["SAVED_BY", "USED_MANIFEST", "batch_note", "gone_videos", "label_changes",
           "save_used_manifest", "window_note"]


#: where a run keeps the manifest it was made with (for ``status -o OUT`` without a manifest file)
USED_MANIFEST = "manifest.json"
#: what the source of a manifest read back from there ends with
SAVED_BY = ", as saved by the last run in "


def save_used_manifest(session: Session) -> None:
    """Keep the resolved manifest (absolute root and output) in ``OUT/.emoprep/manifest.json``,
    so that ``status -o OUT`` (and ``run -o OUT``) work on a quick-start folder, which has no
    manifest file."""
    data = session.manifest.model_dump(mode="json")
    data["videos"]["root"] = str(session.manifest.root_dir())
    data["output"] = str(session.layout.root)
    source = session.manifest.source.split(SAVED_BY)[0]
    text = json.dumps({"source": source, "manifest": data}, indent=1)
    atomic_write_text(session.layout.meta_dir / USED_MANIFEST, text)


def window_note(session: Session, videos: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``stages.window`` did to the ok videos: mode, bounds, frames kept of the source's
    (``kept`` of ``source`` decodable frames; the probe's counts)."""
    w = session.manifest.stages.window
    source = kept = 0
    counts = session.records.summary_values("probe", "n_frames")  # one query, not a record each
    for v in videos:
        if counts is None:  # no database (JSON records of an older folder)
            rec = session.records.get("probe", v["video_id"])
            n = rec.summary.get("n_frames") if rec is not None else None
        else:
            n = counts.get(v["video_id"])
        if v["status"] == "ok" and n is not None:
            source += int(n)
            kept += int(v.get("n_frames", 0))
    return {"mode": w.mode.value, "start": w.start, "end": w.end, "source": source, "kept": kept,
            "sampled": any(x is not None for x in w.sample.model_dump().values())}


def batch_note(session: Session, plan: Plan) -> dict[str, Any]:
    """How many items of the plan are in batches (packs), in how many, and the frame store's
    packs of the first and last batch (relative paths); {} when no item is."""
    batches = sorted(set(plan.batch_of.values()))
    if not batches:
        return {}
    lay, store = session.layout, _shards(session)[0]
    return {"items": len(plan.batch_of), "batches": len(batches),
            "first": lay.rel(store.pack(lay, batches[0])),
            "last": lay.rel(store.pack(lay, batches[-1]))}


def gone_videos(session: Session) -> list[dict[str, Any]]:
    """Videos processed before (they have a ``probe`` record) that the manifest no longer
    finds: their ids and the files of theirs still in the output folder (kept, and left out of
    every index; a video that comes back is up to date again)."""
    had = session.records.ids("probe")
    lay, out, shards = session.layout, [], _shards(session)
    for vid in sorted(had - {v.video_id for v in session.videos}):
        rec = session.records.get("probe", vid)
        batch = rec.summary.get("batch") if rec is not None else None
        if batch:  # a small item: its data is in its batch's packs, beside the other items'
            files = [lay.rel(p) for p in (a.pack(lay, batch) for a in shards) if _holds(p, vid)]
            out.append({"video_id": vid, "files": files, "batch": batch})
        else:
            paths = [a.path(lay, vid) for a in shards]
            out.append({"video_id": vid, "files": [lay.rel(p) for p in paths if p.is_file()]})
    return out


def _holds(pack: Path, video_id: str) -> bool:
    """Whether the pack holds the item (a gone item is dropped when its batch runs again)."""
    from emoprep.errors import StoreError
    from emoprep.io.packs import pack_item

    if not pack.is_file():
        return False
    try:
        pack_item(pack, video_id)
    except StoreError:
        return False
    return True


def _shards(session: Session) -> list[Artifact]:
    """The shard artifacts the stages declare: each index's rows and what it links, then the
    shards no index links."""
    from emoprep.pipeline.dag import build_dag
    from emoprep.pipeline.indexes import declared_indexes

    stages = build_dag(session.manifest.stages)
    found = [a for x in declared_indexes(stages) for a in (x.rows, *(a for _, a in x.linked))]
    return found + [a for d in stages for a in d.outputs
                    if a.kind is ArtifactKind.SHARD and a not in found]


def _saved(session: Session) -> dict[str, Any] | None:
    try:
        data = json.loads((session.layout.meta_dir / USED_MANIFEST).read_text(encoding="utf-8"))
        return data["manifest"] if isinstance(data.get("manifest"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def label_changes(session: Session) -> list[str]:
    """The ``labels.*`` keys that differ from the manifest the last run saved (labels are
    metadata: the indexes' tables and class lists are rewritten, no stage re-runs); [] without a
    saved manifest."""
    saved = _saved(session)
    if saved is None:
        return []
    old = saved.get("labels") or {}
    new = session.manifest.model_dump(mode="json")["labels"]
    return [f"labels.{k} changed" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def bad_files(session: Session, videos: list[str]) -> list[tuple[str, str]]:
    """(video id, why) for the video files among ``videos`` (ids) that cannot be videos: 0 bytes
    or text (:func:`~emoprep.pipeline.manifest.files.file_problem`; reads 512 bytes of each)."""
    from emoprep.pipeline.manifest.files import file_problem
    from emoprep.types import SourceKind

    by_id = {v.video_id: v for v in session.videos}
    out = []
    for vid in videos:
        v = by_id.get(vid)
        if v is not None and v.kind is SourceKind.FILE and (why := file_problem(v.path)):
            out.append((vid, why))
    return out


def explain_failures(session: Session, videos: list[dict[str, Any]]) -> None:
    """Add the file's own problem (0 bytes, text) to the reason of each failed video
    (``videos``: the summary rows, changed in place)."""
    failed = {v["video_id"]: v for v in videos if v["status"] == "failed"}
    for vid, why in bad_files(session, list(failed)):
        failed[vid]["error"] = f"{failed[vid]['error']}; the file: {why}"
