"""Batches of small items (manifest section ``batch:``): which items go together, and the record
of a batch's item that was copied into its rewritten pack.

An item is small when it has at most ``batch.max_frames`` frames (a still image has one; a clip
its header's count). Small items are grouped, in manifest order, into batches of at most
``batch.items`` items and ``batch.frames`` frames; a batch runs as one job per batch (every stale
stage of every item, models built once) and writes one pack per artifact
(:mod:`emoprep.io.packs`): one file, one fsync, one rename per store and batch.

Membership is stable and kept in the records: every record of a batched item carries its batch
id in its summary (``"batch": "b000003"``). An item keeps its batch for as long as it exists and
stays small; new items go into new batches (ids after the highest one in use, never positions in
a sorted list); an item whose content or settings changed re-runs only its batch. Items recorded
one file per video (schema 1, or ``batch.enabled: false``) keep their files while they are up to
date; an item whose first stage runs again joins a batch (``emoprep run --force probe`` moves a
whole folder into packs, and removes the files of its own each item's records named).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from emoprep.io.layout import is_pack
from emoprep.pipeline.records import CHECKSUM_KEY, Record, RecordStore
from emoprep.pipeline.stagedef import Copy
from emoprep.types import SourceKind, UnitState, VideoEntry

if TYPE_CHECKING:
    from emoprep.pipeline.dag import Plan

#: summary key of a batched item's record: its batch id
BATCH_KEY = "batch"
#: summary key of a worker's result for an up-to-date item copied into a rewritten pack
COPIED_KEY = "_copied"


class BatchConfig(BaseModel):
    """The ``batch:`` section: how small items are grouped into batches (docs/STORE.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="group small items into batches written as packs "
                          "(items already in a batch stay in it either way)")
    max_frames: int = Field(150, ge=1, description="an item with at most this many frames (a "
                            "still image: 1) is small")
    items: int = Field(4000, ge=1, description="items per batch at most (6 packs per batch with "
                       "one embedder: 4000 keeps a folder under items / 500 files; a batch is "
                       "one job, so fewer items per batch spread a small dataset over more "
                       "workers)")
    frames: int = Field(20000, ge=1, description="frames per batch at most (the sum of its "
                        "items' header counts)")


def batch_name(number: int) -> str:
    """The stable name of batch ``number``: ``b000001``."""
    return f"b{number:06d}"


def _number(name: str) -> int:
    try:
        return int(name[1:])
    except ValueError:
        return 0


def item_frames(v: VideoEntry) -> int:
    """The frame count an item is judged small by: its header's (a still image: 1; a frame
    folder: its images); 0 when unknown (it is never small then). Asked only of items whose
    first stage is to run."""
    from emoprep.stages.probe import probe_header

    try:
        if v.kind is SourceKind.FRAMES:
            from emoprep.io.video import list_frame_files

            return len(list_frame_files(v.path, v.frames_glob or "*.png"))
        return probe_header(v, "").n_frames
    except Exception:  # noqa: BLE001 (an unreadable item runs alone and fails there, clearly)
        return 0


def assign_batches(plan: Plan, records: RecordStore, cfg: BatchConfig) -> dict[str, str]:
    """video id -> batch id of every batched item of ``plan`` (see the module's docstring)."""
    if not plan.stages:
        return {}
    first = plan.stages[0].name  # the root stage: every item has a unit of it
    out: dict[str, str] = {}
    fresh: list[tuple[VideoEntry, int]] = []
    highest = 0
    for v in plan.videos:
        unit = plan.units[(first, v.video_id)]
        rec = records.get(first, v.video_id)
        old = str(rec.summary.get(BATCH_KEY, "")) if rec is not None else ""
        if old:
            highest = max(highest, _number(old))
        if not unit.todo:  # up to date: where it is (a batch, or its own files)
            if old:
                out[v.video_id] = old
            continue
        n = item_frames(v)
        if not 0 < n <= cfg.max_frames:
            continue  # no longer small, or not known to be: one unit per stage, as a video
        if old:
            out[v.video_id] = old
        elif cfg.enabled:
            fresh.append((v, n))
    out.update(_group(fresh, highest, cfg))
    return out


def _group(items: Iterable[tuple[VideoEntry, int]], highest: int, cfg: BatchConfig
           ) -> dict[str, str]:
    """New batches for ``items`` (manifest order), numbered after ``highest``."""
    out: dict[str, str] = {}
    count = frames = 0
    number = highest
    for v, n in items:
        if number == highest or count >= cfg.items or frames + n > cfg.frames:
            number, count, frames = number + 1, 0, 0
        out[v.video_id] = batch_name(number)
        count, frames = count + 1, frames + n
    return out


def copies(plan: Plan, records: RecordStore, batch: str, vids: list[str], todo: set[tuple[str,
           str]], layout: Any) -> tuple[Copy, ...]:
    """For each stage with a unit to run in ``batch``: its up-to-date items whose record points
    into the stage's pack (copied into the rewritten pack, so it keeps the whole batch)."""
    out = []
    for d in plan.stages:
        if not any((d.name, vid) in todo for vid in vids) or not d.outputs:
            continue
        artifact = d.outputs[0]
        rel = layout.rel(artifact.pack(layout, batch))
        keep = []
        for vid in vids:
            unit = plan.units[(d.name, vid)]
            rec = records.get(d.name, vid) if unit.state is UnitState.FRESH else None
            if rec is not None and rec.outputs == [rel]:
                keep.append(vid)
        if keep:
            out.append(Copy(d.name, artifact, tuple(keep)))
    return tuple(out)


def copied_record(old: Record, outputs: list[str], summary: dict[str, Any]) -> Record:
    """The record of an up-to-date item copied into its batch's rewritten pack: the old one with
    the new pack's checksums."""
    return Record(old.stage, old.video_id, old.fingerprint, old.components, old.status,
                  old.error, old.error_type, list(outputs), dict(old.summary), old.seconds,
                  dict(summary.get(CHECKSUM_KEY, {})))


def packed(rec: Record | None) -> bool:
    """True when the record's output is a pack (its item is a row of the pack's ``items`` table)."""
    return rec is not None and bool(rec.outputs) and is_pack(rec.outputs[0])
