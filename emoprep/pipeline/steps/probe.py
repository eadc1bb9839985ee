"""Stage ``probe``: fps, frame count, size, codec and content hash of a video."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprep.io.layout import Layout
from emoprep.io.workfiles import save_json
from emoprep.pipeline.stagedef import WORK, PlanContext, StageDef, UnitTask, distributions
from emoprep.types import ProbeInfo, SourceKind, VideoEntry

if TYPE_CHECKING:
    from emoprep.stages.probe import CountCheck

def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.probe import probe_counted

    info, check = probe_counted(task.entry, task.upstream.get("content", ""), task.stages.probe)
    return save(task, layout, info, check)


def save(task: UnitTask, layout: Layout, info: ProbeInfo, check: CountCheck
         ) -> tuple[list[Path], dict[str, Any]]:
    """Write the probe output (the info and how its count was established: ``header_frames``,
    ``decoded_frames`` (-1: not decoded), ``count_mismatch``); the summary holds a ``warning``
    when the header and the decoded count disagree."""
    path = layout.work("probe", task.entry.video_id, ".json")
    save_json(path, {**asdict(info), **check.as_dict()})
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


STAGE = StageDef(name="probe", run=run, version=1, reads={"probe": "probe"},
                 outputs=(WORK / "probe",), inputs=inputs,
                 libraries=distributions(cv2="opencv-contrib-python-headless"))
