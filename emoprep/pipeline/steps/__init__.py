"""The stage registry: one declaration per stage, each next to its runner.

Adding a stage: its stage functions in ``emoprep/stages/``, a module here with ``run`` and a
``STAGE = StageDef(...)``, and one line in :data:`DECLARED`. Order does not matter: the DAG is
sorted from each stage's ``upstream`` (:func:`emoprep.pipeline.dag.build_dag`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emoprep.pipeline.stagedef import StageDef
from emoprep.pipeline.steps import au, embed, frames, probe, track, window

#: every stage: a StageDef, or a function of the config giving its stages (one per embedder; au
#: or none)
DECLARED: tuple[StageDef | Callable[[Any], list[StageDef]], ...] = (
    probe.STAGE,
    window.STAGE,
    track.STAGE,
    au.stages,
    frames.STAGE,
    embed.stages,
)


def declared(c: Any) -> list[StageDef]:
    """The stage declarations for config ``c`` (embed stages expanded), in declaration order."""
    out: list[StageDef] = []
    for d in DECLARED:
        out += [d] if isinstance(d, StageDef) else d(c)
    return out
