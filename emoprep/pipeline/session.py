"""A session: everything validated before any work runs (manifest, videos, model files, split).

Opening a session writes nothing: ``status`` and ``--dry-run`` are read-only. ``run`` saves the
content-hash cache (:meth:`Session.save_caches`) once it holds the lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emoprep.errors import ConfigError
from emoprep.io.atomic import expand_path
from emoprep.io.layout import Layout
from emoprep.pipeline.batches import assign_batches
from emoprep.pipeline.dag import Plan, RetryPolicy, build_dag, make_plan
from emoprep.pipeline.fingerprint import HashCache
from emoprep.pipeline.manifest import (
    Manifest,
    apply_overrides,
    discover_videos,
    load_manifest,
    manifest_from_dict,
)
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.splits import SplitPlan, plan_splits
from emoprep.pipeline.stagedef import PlanContext
from emoprep.types import VideoEntry

#: names ``--force`` takes besides the stages: the split manifest
SPLIT = "split"


@dataclass
class Session:
    """Everything validated before any work: manifest, videos, output layout, plan context."""

    manifest: Manifest
    videos: list[VideoEntry]
    unmatched: list[str]
    layout: Layout
    ctx: PlanContext
    records: RecordStore
    split: SplitPlan
    overrides: tuple[str, ...] = ()  #: the --set strings the manifest was resolved with
    split_forced: bool = False  #: ``--force split`` was given

    def provenance(self) -> dict[str, object]:
        """What a run's outputs were made with: emoprep's and the libraries' versions, the
        manifest file, the --set overrides and the resolved manifest (presets and profile filled
        in, every default)."""
        from emoprep.versions import __version__, library_version

        libs = ("numpy", "opencv-contrib-python-headless", "dlib-bin", "h5py", "torch",
                "pydantic", "scikit-learn", "dask", "face-recognition-models")
        return {"emoprep_version": __version__, "manifest": self.manifest.source,
                "overrides": list(self.overrides),
                "resolved_manifest": self.manifest.model_dump(mode="json"),
                "versions": {d: library_version(d) for d in libs}}

    def plan(self, force: set[str] | None = None,
             retry_failed: RetryPolicy | bool = True) -> Plan:
        """Every (stage, video) unit with its state; ``force`` names stages (and ``split``)."""
        force = set(force or ())
        names = [d.name for d in build_dag(self.manifest.stages)]
        unknown = sorted(force - set(names) - {SPLIT})
        if unknown:
            raise ConfigError("--force", [f"no stage {u!r}; stages: {', '.join([*names, SPLIT])}"
                                          for u in unknown])
        if SPLIT in force:
            self.split_forced = True
            self.split = plan_splits(self.videos, self.manifest, self.layout, True)
        plan = make_plan(self.videos, self.ctx, self.layout, self.records, force - {SPLIT},
                         retry_failed)
        plan.batch_of = assign_batches(plan, self.records, self.manifest.batch)
        return plan

    def plan_split_over(self, unusable: set[str]) -> None:
        """Plan the splits again over the usable videos (those not in ``unusable``: failed ones),
        so that no part is made of failed videos. Called once the outcome is known (after a run,
        or from a status's plan); a configured split that cannot be made from the usable videos
        is then reported as unavailable with the reason (the work is done, nothing is blocked)."""
        if not unusable & {v.video_id for v in self.videos}:
            return
        usable = [v for v in self.videos if v.video_id not in unusable]
        try:
            self.split = plan_splits(usable, self.manifest, self.layout, self.split_forced)
        except ConfigError as exc:
            self.split = SplitPlan(self.split.name, self.split.path, "", "unavailable",
                                   f"{'; '.join(exc.problems)} (over the {len(usable)} videos "
                                   f"that did not fail)")

    def save_caches(self) -> None:
        """Keep the content and model-file hashes computed so far (``run`` only)."""
        self.ctx.hashes.save()


ManifestSource = str | Path | dict | Manifest


def resolve_manifest(source: ManifestSource, overrides: Sequence[str] = ()) -> Manifest:
    """A validated manifest from a file path, a parsed dict (paths relative to the current folder)
    or a Manifest; ``overrides`` are ``--set`` strings."""
    if isinstance(source, str | Path):
        return load_manifest(Path(source), overrides)
    if isinstance(source, Manifest):
        raw, name, base = source.model_dump(mode="json"), source.source, source.base_dir
    else:
        raw, name, base = source, "the manifest given as a dict", None
    changed: set = set()
    if overrides:
        raw, changed, problems = apply_overrides(raw, overrides)
        if problems:
            raise ConfigError(name, problems)
    written = source.model_dump(mode="json") if isinstance(source, Manifest) else source
    return manifest_from_dict(raw, name, base, resolved=isinstance(source, Manifest),
                              overridden=changed, written=written)


def open_session(manifest: ManifestSource, out: Path | None = None,
                 overrides: Sequence[str] = ()) -> Session:
    """Load and validate the manifest, discover videos, hash their contents (cached), plan the
    split. Raises :class:`ConfigError` with every problem before any work; writes nothing."""
    from emoprep.stages.au.trim import load_overrides

    manifest = resolve_manifest(manifest, overrides)
    if out is not None:  # --out wins; discovery then also skips it if it lies inside videos.root
        manifest.output = os.path.abspath(Path(out).expanduser())
    _check_model_files(manifest)
    found = discover_videos(manifest)
    layout = Layout(manifest.output_dir())
    hashes = HashCache(layout.hashes)
    trim_file = manifest.stages.trim.overrides
    overrides_map = load_overrides(expand_path(trim_file, manifest.root_dir())) if trim_file else {}
    ctx = PlanContext(manifest.stages, manifest.root_dir(), hashes, overrides=overrides_map)
    for v in found.videos:
        ctx.content[v.video_id] = hashes.video(v)
    try:
        split = plan_splits(found.videos, manifest, layout)
    except ConfigError as exc:
        if found.unmatched:  # the list of left-out paths is often why there are too few videos
            exc = ConfigError(exc.source, [*exc.problems, _unmatched_line(found.unmatched)])
        raise exc from None
    return Session(manifest, found.videos, found.unmatched, layout, ctx, RecordStore(layout), split,
                   tuple(overrides))


def _unmatched_line(unmatched: list[str]) -> str:
    shown = "; ".join(unmatched[:5]) + ("; ..." if len(unmatched) > 5 else "")
    many = len(unmatched) != 1
    return (f"videos: {len(unmatched)} file{'s' if many else ''} matched no label rule and "
            f"{'are' if many else 'is'} left out: {shown}")


def _check_model_files(manifest: Manifest) -> None:
    """Resolve relative model paths of every backend (all four families) against the manifest's
    folder; every missing embedder file, at once."""
    manifest.stages = manifest.stages.with_model_paths(manifest.base_dir)
    problems = [p for name, cfg in manifest.stages.embed.items() for p in cfg.missing_files(name)]
    if problems:
        raise ConfigError(manifest.source, problems)
