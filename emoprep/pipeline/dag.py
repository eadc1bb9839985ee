"""The stage DAG per video, fingerprints of (stage, video) units, and the plan of what to run.

A stage declares its code version, the config keys it reads, the libraries and model files it
depends on and its upstream stages. Everything that makes up a unit's fingerprint is computed
here, in the coordinator, before any work runs; the plan says for every unit whether it is up to
date and, if not, why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.fingerprint import HashCache, digest, explain_change
from emoprep.io.layout import Layout
from emoprep.pipeline.records import RecordStore
from emoprep.stages.window import WindowMode
from emoprep.types import VideoEntry

#: settings that name model files: the files' sha256 is in the fingerprint, their paths are not
PATH_KEYS = ("weights", "head_weights", "model", "cascade")


@dataclass(frozen=True)
class StageDef:
    """One per-video stage: what it reads and what it depends on."""

    name: str
    version: int
    upstream: tuple[str, ...]
    config: Callable[[StagesConfig], dict[str, Any]]
    libraries: Callable[[StagesConfig], dict[str, str]] = lambda c: {}
    models: Callable[[StagesConfig], list[Path]] = lambda c: []
    inputs: Callable[[VideoEntry, PlanContext], dict[str, Any]] = lambda v, ctx: {}


@dataclass
class PlanContext:
    """What input-dependent fingerprint parts need: content hashes, the videos root, overrides."""

    stages: StagesConfig
    root: Path
    hashes: HashCache
    content: dict[str, str] = field(default_factory=dict)  # video_id -> content hash
    overrides: dict[str, tuple[int, int]] = field(default_factory=dict)


class UnitState(str, Enum):
    FRESH = "up-to-date"
    STALE = "stale"
    MISSING = "missing"
    FAILED = "failed"  #: failed last time with the same fingerprint (retried unless --skip-failed)
    BLOCKED = "blocked"  #: an upstream unit failed in this plan


@dataclass
class Unit:
    stage: str
    video: VideoEntry
    fingerprint: str
    components: dict[str, Any]
    state: UnitState
    reasons: list[str] = field(default_factory=list)
    upstream: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.stage, self.video.video_id)

    @property
    def todo(self) -> bool:
        return self.state in (UnitState.STALE, UnitState.MISSING, UnitState.FAILED)


def _dump(model: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data = model.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in drop}


def _track_models(c: StagesConfig) -> list[Path]:
    from emoprep.stages import detect, landmarks

    return [*detect.model_files(c.detect), *landmarks.model_files(c.landmarks)]


def _cv_versions(*mods: str) -> Callable[[StagesConfig], dict[str, str]]:
    def versions(c: StagesConfig) -> dict[str, str]:
        from emoprep.pipeline.fingerprint import library_version

        names = {"cv2": "opencv-contrib-python-headless", "dlib": "dlib-bin", "h5py": "h5py"}
        return {m: library_version(names[m]) for m in mods}

    return versions


def _au_versions(c: StagesConfig) -> dict[str, str]:
    from emoprep.pipeline.fingerprint import library_version
    from emoprep.stages.au import AUSource

    return {"py-feat": library_version("py-feat")} if c.au.source is AUSource.PYFEAT else {}


def _au_inputs(v: VideoEntry, ctx: PlanContext) -> dict[str, Any]:
    from emoprep.stages.au import source_files

    files = {p.name: ctx.hashes.file(p) for p in source_files(v, ctx.stages.au, ctx.root) if p.is_file()}
    override = ctx.overrides.get(v.video_id)
    return {"files": files, "override": list(override) if override else None}


def _frames_config(c: StagesConfig) -> dict[str, Any]:
    return {"align": _dump(c.align), "store": _dump(c.store), "window_mode": c.window.mode.value}


def base_stages(c: StagesConfig) -> list[StageDef]:
    """probe -> window -> track -> au -> frames (au feeds frames only in ``au_trim`` mode)."""
    frames_up = ("track", "au") if c.window.mode is WindowMode.AU_TRIM else ("track",)
    return [
        StageDef("probe", 1, (), lambda c: {"probe": _dump(c.probe)}, _cv_versions("cv2"),
                 inputs=lambda v, ctx: {"content": ctx.content[v.video_id], "kind": v.kind,
                                        "fps": v.fps, "frames_glob": v.frames_glob if v.kind == "frames" else None}),
        StageDef("window", 1, ("probe",), lambda c: {"window": _dump(c.window)}),
        StageDef("track", 1, ("window",),
                 lambda c: {"detect": _dump(c.detect, PATH_KEYS), "track": _dump(c.track),
                            "landmarks": _dump(c.landmarks, PATH_KEYS)},
                 _cv_versions("cv2", "dlib"), _track_models),
        StageDef("au", 1, ("track",), lambda c: {"au": _dump(c.au), "trim": _dump(c.trim, ("overrides",))},
                 _au_versions, inputs=_au_inputs),
        StageDef("frames", 1, frames_up, _frames_config, _cv_versions("cv2", "h5py"),
                 inputs=lambda v, ctx: {"subject": v.subject, "labels": v.labels}),
    ]


def embed_stage_name(name: str, aug: str | None = None) -> str:
    return f"embed:{name}" + (f"@{aug}" if aug else "")


def parse_embed_stage(stage: str) -> tuple[str, str | None]:
    """"embed:hog@flip" -> ("hog", "flip")."""
    body = stage.split(":", 1)[1]
    name, _, aug = body.partition("@")
    return name, (aug or None)


def embed_stages(c: StagesConfig) -> list[StageDef]:
    """One stage per configured embedder, and one per (embedder, augmentation)."""
    from emoprep.stages.embed import base as embed_base

    defs = []
    for name, ecfg in sorted(c.embed.items()):
        sem = embed_base.fingerprint_config(ecfg)  # batch size, device, threads left out
        slice_ = {"embed": {k: v for k, v in sem.items() if k not in PATH_KEYS}}
        libs = (lambda e: lambda c: embed_base.library_versions(e))(ecfg)
        models = (lambda e: lambda c: embed_base.model_files(e))(ecfg)
        version = embed_base.stage_version(ecfg)
        defs.append(StageDef(embed_stage_name(name), version, ("frames",), lambda c, s=slice_: s, libs, models))
        for aug in c.augment.names:
            aug_name = getattr(aug, "value", str(aug))
            aslice = {**slice_, "augment": {"name": aug_name, "seed": c.augment.seed}}
            defs.append(StageDef(embed_stage_name(name, aug_name), version, ("frames",),
                                 lambda c, s=aslice: s, libs, models))
    return defs


def all_stages(c: StagesConfig) -> list[StageDef]:
    return base_stages(c) + embed_stages(c)


def downstream_of(defs: list[StageDef], roots: set[str]) -> set[str]:
    """The stages in ``roots`` and every stage that depends on them, transitively."""
    out = set(roots)
    for d in defs:  # defs are in topological order
        if any(u in out for u in d.upstream):
            out.add(d.name)
    return out


@dataclass
class Plan:
    stages: list[StageDef]
    units: dict[tuple[str, str], Unit]
    videos: list[VideoEntry]

    def by_stage(self, stage: str) -> list[Unit]:
        return [u for (s, _), u in self.units.items() if s == stage]


def make_plan(videos: list[VideoEntry], ctx: PlanContext, layout: Layout, records: RecordStore,
              force: set[str] | None = None, retry_failed: bool = True) -> Plan:
    """Fingerprint every (stage, video) unit and decide whether it must run, and why."""
    defs = all_stages(ctx.stages)
    forced = downstream_of(defs, force or set())
    static = {d.name: (d.config(ctx.stages), d.libraries(ctx.stages),
                       {p.name: ctx.hashes.file(p) for p in d.models(ctx.stages)}) for d in defs}
    units: dict[tuple[str, str], Unit] = {}
    for v in videos:
        for d in defs:
            config, libs, models = static[d.name]
            ups = [units[(u, v.video_id)] for u in d.upstream]
            comp = {"stage": d.name, "version": d.version, "config": config, "libraries": libs,
                    "models": models, "inputs": d.inputs(v, ctx),
                    "upstream": {u.stage: u.fingerprint for u in ups}}
            unit = Unit(d.name, v, digest(comp), comp, UnitState.FRESH, upstream=d.upstream)
            _decide(unit, records, layout, ups, d.name in forced, retry_failed)
            units[unit.key] = unit
    return Plan(defs, units, videos)


def _decide(unit: Unit, records: RecordStore, layout: Layout, ups: list[Unit], forced: bool,
            retry_failed: bool) -> None:
    if any(u.state is UnitState.BLOCKED or (u.state is UnitState.FAILED and not retry_failed) for u in ups):
        unit.state, unit.reasons = UnitState.BLOCKED, ["upstream failed"]
        return
    rec = records.get(unit.stage, unit.video.video_id)
    if rec is None:
        unit.state, unit.reasons = UnitState.MISSING, ["never run"]
    elif rec.fingerprint != unit.fingerprint:
        unit.state, unit.reasons = UnitState.STALE, explain_change(rec.components, unit.components)
    elif rec.status != "ok":
        unit.state, unit.reasons = UnitState.FAILED, [f"failed last run: {rec.error.splitlines()[0] if rec.error else '?'}"]
        if not retry_failed:
            return
    elif missing := [o for o in rec.outputs if not (layout.root / o).exists()]:
        unit.state, unit.reasons = UnitState.STALE, [f"output missing: {missing[0]}"]
    elif forced:
        unit.state, unit.reasons = UnitState.STALE, ["forced (--force)"]
    # an upstream unit that re-runs with an unchanged fingerprint (lost output) gives the same
    # result, so this unit stays up to date
