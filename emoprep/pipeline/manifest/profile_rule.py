"""The building blocks of the method profiles: :class:`Profile` (the names), :class:`Rule` (one
setting with its source) and :class:`ProfileSpec` (a versioned profile). The profiles themselves
are in :mod:`emoprep.pipeline.manifest.profile_specs` (video theses) and
:mod:`emoprep.pipeline.manifest.profile_specs_images` (still-image theses).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any

#: the manifest section of the embedders (embedder rules apply to every one of a type)
EMBED = "stages.embed"


class Profile(str, Enum):
    """The method profiles (``profile:`` in the manifest, ``--profile`` on the command line)."""

    EMOPREP = "emoprep"  #: emoprep's own improved method: no changes (default)
    THESIS_SASE_FE = "thesis-sase-fe"  #: the multi-task real/fake emotion thesis (SASE-FE)
    THESIS_BU4DFE = "thesis-bu4dfe"  #: the video-FER thesis (BU-4DFE) and its code
    THESIS_AFFECTNET = "thesis-affectnet"  #: the categorical/continuous FER thesis (AffectNet)
    THESIS_NVIE = "thesis-nvie"  #: the spontaneous vs posed thesis (NVIE apex images)


@dataclass(frozen=True)
class Rule:
    """One setting of a profile.

    rule: what the source does, in words; source: where (document number and section, table,
    figure, equation); key: dotted manifest path (below ``stages.embed.<name>`` for an embedder
    rule); value: the manifest value; embed_type: for an embedder rule, the ``type`` it applies
    to; chosen: empty when the document gives the value, else what was chosen and why (the
    METHODS.md tables write "the document gives no value; chosen: ..."); unclear: the document
    gives the value but not all of its meaning, or contradicts itself ("the document is not clear;
    chosen: ...").
    """

    rule: str
    source: str
    key: str
    value: Any
    embed_type: str | None = None
    chosen: str = ""
    unclear: bool = False

    @property
    def label(self) -> str:
        """The key as the METHODS.md tables write it (``stages.embed.*.layer [type vggface]``)."""
        return f"{EMBED}.*.{self.key} [type {self.embed_type}]" if self.embed_type else self.key


@dataclass(frozen=True)
class ProfileSpec:
    """A profile: its version (bumped when a value changes), what it reproduces, its rules and
    the notes that are not manifest keys."""

    version: int
    summary: str
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """Rule label -> value (deep copies), in rule order."""
        return {r.label: copy.deepcopy(r.value) for r in self.rules}


NO_CONFIRM = "emoprep's confirmation (track.confirm), off: no document has it"
NO_SKIP = "emoprep's linear skip (train.linear_skip), off: no document has it"
IRV1, VGG = "inception_resnet_v1", "vggface"


def rule(rule: str, source: str, key: str, value: Any, chosen: str = "",
       embed: str | None = None, unclear: bool = False) -> Rule:
    return Rule(rule, source, key, value, embed, chosen, unclear)


