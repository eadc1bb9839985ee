"""Stage ``probe``: fps, frame count, size, codec and content hash of a video."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from emoprep.io.layout import Layout
from emoprep.io.video import count_frames
from emoprep.pipeline.stagedef import (
    REDO,
    Artifact,
    Count,
    FrameConsumer,
    FrameNeed,
    Outputs,
    PassContext,
    PlanContext,
    Redo,
    StageDef,
    UnitTask,
    distributions,
)
from emoprep.types import ProbeInfo, SourceKind, VideoEntry

if TYPE_CHECKING:
    from emoprep.stages.probe import CountCheck

#: the probe's output: the :class:`ProbeInfo` and how its count was established (JSON)
OUTPUT = Artifact.work("probe", ".json")


def load_probe(layout: Layout, video_id: str) -> ProbeInfo:
    """The probe's :class:`ProbeInfo` (its count check, also in the file, is left out)."""
    data = layout.io.load_json(OUTPUT, video_id)
    return ProbeInfo(**{k: data[k] for k in ProbeInfo.__dataclass_fields__ if k in data})


class Probe(FrameConsumer):
    """The probe in the frame pass: the header's properties, its frame count verified by the pass.

    ``value``: the :class:`ProbeInfo` downstream stages plan with (its ``n_frames`` the planned
    count; the settled one after ``finish``). The count is decoded up front where the header has
    none or is not trusted with ``exact_count``; a frame folder is counted from its file names;
    otherwise the pass counts (always with ``exact_count``, else only when it decodes anyway).
    When the settled count differs from the planned one, ``finish`` asks for another pass.
    """

    info: ProbeInfo | None = None
    check: CountCheck | None = None
    planned: int = 0

    def begin(self, ctx: PassContext) -> FrameNeed:
        from emoprep.stages.probe import CountCheck, header_trusted, probe_header

        e, cfg = self.task.entry, self.task.stages.probe
        if self.info is None:
            self.info = probe_header(e, self.task.upstream.get("content", ""))
            header = self.info.n_frames
            if e.kind is SourceKind.FRAMES:
                self.check = CountCheck(header, header)
            elif header <= 0 or (cfg.exact_count and not header_trusted(e)):
                self.check = CountCheck(header, count_frames(e))
            exact = self.check is not None and (cfg.exact_count or header <= 0)
            self.planned = self.check.decoded if exact and self.check else header
        self.value = replace(self.info, n_frames=self.planned)
        if self.check is not None:
            return FrameNeed()
        return FrameNeed(count=Count.ALWAYS if cfg.exact_count else Count.IF_READING)

    def finish(self, ctx: PassContext) -> Outputs | Redo:
        from emoprep.stages.probe import CountCheck, settle_count

        assert self.info is not None
        check = self.check or CountCheck(self.info.n_frames, ctx.decoded)
        final = settle_count(self.task.entry, self.info, check, self.task.stages.probe)
        if final.n_frames != self.planned:  # plan again with the decoded count
            self.check, self.planned = check, final.n_frames
            return REDO
        self.value = final
        return save(self.task, self.layout, final, check)


def save(task: UnitTask, layout: Layout, info: ProbeInfo, check: CountCheck) -> Outputs:
    """Write the probe output (the info and how its count was established: ``header_frames``,
    ``decoded_frames`` (-1: not decoded), ``count_mismatch``); the summary holds a ``warning``
    when the header and the decoded count disagree."""
    path = layout.io.save_json(OUTPUT, task.entry.video_id, {**asdict(info), **check.as_dict()})
    summary = {"n_frames": info.n_frames, "fps": round(info.fps, 3),
               "size": f"{info.width}x{info.height}", "codec": info.codec,
               "header_frames": check.header, "count_mismatch": check.mismatch}
    if check.mismatch:
        summary["warning"] = check.message(task.entry)  # logged by the coordinator
    return [path], summary


def inputs(v: VideoEntry, ctx: PlanContext) -> dict[str, Any]:
    """The video's content hash and how it is read."""
    frames = v.kind is SourceKind.FRAMES
    return {"content": ctx.content[v.video_id], "kind": v.kind.value, "fps": v.fps,
            "frames_glob": v.frames_glob if frames else None}


STAGE = StageDef(name="probe", consumer=Probe, version=1, reads={"probe": "probe"},
                 outputs=(OUTPUT,), inputs=inputs,
                 libraries=distributions(cv2="opencv-contrib-python-headless"))
