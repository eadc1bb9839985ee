"""The plan of a run, kept column-wise: a :class:`Unit` object only for the units that are not up
to date; an up-to-date one is made on demand (:class:`Units`), from its record.

A million items make six million (stage, item) units; a Python object of each, with its
components, took about 1 KiB, so the plan keeps only the units that run (or failed, or are
blocked) and, per stage, how many units are in each state (:meth:`Plan.counts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from emoprep.pipeline.stagedef import StageDef
from emoprep.types import UnitState, VideoEntry

Key = tuple[str, str]
#: the states of a unit that runs (``--skip-failed`` leaves out FAILED)
TODO = (UnitState.STALE, UnitState.MISSING, UnitState.FAILED)


class Unit:
    """A (stage, video) unit: its fingerprint, the components it hashes (computed when first
    asked for, for a unit made from its record), its state and why."""

    __slots__ = ("_components", "decl", "fingerprint", "reasons", "state", "upstream", "video")

    def __init__(self, decl: StageDef, video: VideoEntry, fingerprint: str,
                 components: dict[str, Any] | Callable[[], dict[str, Any]], state: UnitState,
                 reasons: list[str] | None = None, upstream: tuple[str, ...] = ()) -> None:
        self.decl, self.video, self.fingerprint = decl, video, fingerprint
        self._components, self.state = components, state
        self.reasons = reasons if reasons is not None else []
        self.upstream = upstream

    @property
    def components(self) -> dict[str, Any]:
        if callable(self._components):
            self._components = self._components()
        return self._components

    @property
    def stage(self) -> str:
        return self.decl.name

    @property
    def key(self) -> Key:
        return (self.decl.name, self.video.video_id)

    @property
    def todo(self) -> bool:
        return self.state in TODO

    def __repr__(self) -> str:
        return f"Unit({self.stage!r}, {self.video.video_id!r}, {self.state.value})"


class Units(Mapping[Key, Unit]):
    """Every (stage, video) unit of a plan, keyed ``(stage, video id)``, in video-major order.

    ``live``: the units that are not up to date (objects made by the planner); any other key of
    the plan is up to date, and its unit is made by ``fresh(decl, video)`` when asked for (not
    kept: iterating every unit of a large plan costs what planning it saved)."""

    def __init__(self, stages: list[StageDef], videos: list[VideoEntry], live: dict[Key, Unit],
                 fresh: Callable[[StageDef, VideoEntry], Unit]) -> None:
        self.live = live
        self._stages = {d.name: d for d in stages}
        self._videos = videos
        self._by_id: dict[str, VideoEntry] | None = None
        self._fresh = fresh

    def _video(self, vid: str) -> VideoEntry | None:
        if self._by_id is None:
            self._by_id = {v.video_id: v for v in self._videos}
        return self._by_id.get(vid)

    def __getitem__(self, key: Key) -> Unit:
        unit = self.live.get(key)
        if unit is not None:
            return unit
        d, v = self._stages.get(key[0]), self._video(key[1])
        if d is None or v is None:
            raise KeyError(key)
        return self._fresh(d, v)

    def __contains__(self, key: object) -> bool:
        if key in self.live:
            return True
        return (isinstance(key, tuple) and len(key) == 2 and key[0] in self._stages
                and self._video(key[1]) is not None)

    def state(self, key: Key) -> UnitState:
        """A unit's state without making its object."""
        unit = self.live.get(key)
        return UnitState.FRESH if unit is None else unit.state

    def __len__(self) -> int:
        return len(self._stages) * len(self._videos)

    def __iter__(self) -> Iterator[Key]:
        names = list(self._stages)
        for v in self._videos:
            for name in names:
                yield (name, v.video_id)


@dataclass
class Plan:
    stages: list[StageDef]
    units: Units
    videos: list[VideoEntry]
    #: video id -> batch id of the items that run in batches (pipeline/batches.py)
    batch_of: dict[str, str] = field(default_factory=dict)

    def by_stage(self, stage: str) -> list[Unit]:
        """Every unit of ``stage`` (up-to-date ones made from their records: slow for a large
        plan; :meth:`live` and :meth:`counts` are what ``status`` uses)."""
        return [self.units[(stage, v.video_id)] for v in self.videos]

    def live(self, stage: str | None = None) -> list[Unit]:
        """The units that are not up to date (of ``stage``, or of every stage), in video-major
        plan order."""
        return [u for u in self.units.live.values() if stage is None or u.stage == stage]

    def counts(self, stage: str) -> dict[UnitState, int]:
        """How many units of ``stage`` are in each state (every state, zeros included)."""
        out = dict.fromkeys(UnitState, 0)
        for u in self.live(stage):
            out[u.state] += 1
        out[UnitState.FRESH] = len(self.videos) - sum(out.values())
        return out

    def fresh_count(self) -> int:
        """Units up to date, over every stage."""
        return len(self.units) - len(self.units.live)
