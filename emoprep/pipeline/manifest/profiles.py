"""Method profiles: ``profile:`` selects a documented, versioned set of manifest settings that
reproduces one source method (docs/METHODS.md has one table per profile, checked by a test).

A profile is a list of :class:`Rule` s, each a manifest key (dotted path from the manifest's root),
its value and where the source says so. :func:`apply_profile` fills the profile's values into a
raw (parsed, overridden, not yet validated) manifest wherever the user did not set the key: every
key the user wrote wins. Three refinements keep the result valid:

- a mapping value (``stages.split``) is one setting: it is filled only when the user wrote no
  such key at all, never merged key by key;
- a backend family section (``stages.detect`` on ``backend``, ``stages.au`` on ``source``) whose
  backend the user set to another one than the profile's gets none of the profile's keys;
- embedder rules (:attr:`Rule.embed_type`) apply to every embedder under ``stages.embed`` of that
  ``type`` the user declared (model weights are the user's to bring; a profile names none).

What a manifest cannot express (the export's padding rule, the weights to use) is in
:attr:`ProfileSpec.notes`. The sources (paths of the quote locations): *V* the video-FER thesis
(BU-4DFE), *V code* its code, *S* the multi-task real/fake emotion thesis (SASE-FE), *A* the
categorical/continuous FER thesis (AffectNet).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.presets import bu4dfe_thesis_split
from emoprep.stages.embed.augment import THESIS_AUGMENTATIONS

#: manifest sections that are backend families: section path -> its tag key
FAMILIES: dict[str, str] = {"stages.detect": "backend", "stages.au": "source"}
EMBED = "stages.embed"


class Profile(str, Enum):
    """The method profiles (``profile:`` in the manifest, ``--profile`` on the command line)."""

    EMOPREP = "emoprep"  #: emoprep's own improved method: no changes (default)
    THESIS_SASE_FE = "thesis-sase-fe"  #: the multi-task real/fake emotion thesis (SASE-FE)
    THESIS_BU4DFE = "thesis-bu4dfe"  #: the video-FER thesis (BU-4DFE) and its code
    THESIS_AFFECTNET = "thesis-affectnet"  #: the categorical/continuous FER thesis (AffectNet)


@dataclass(frozen=True)
class Rule:
    """One setting of a profile.

    rule: what the source does, in words; source: where (thesis and part, or algorithm); key:
    dotted manifest path (below ``stages.embed.<name>`` for an embedder rule); value: the
    manifest value; embed_type: for an embedder rule, the ``type`` it applies to.
    """

    rule: str
    source: str
    key: str
    value: Any
    embed_type: str | None = None

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


#: source codes (docs/METHODS.md names the theses)
S, V, VC, A = "S", "V", "V code", "A"
_NO_CONFIRM = "emoprep: confirmation (track.confirm) is emoprep's addition, off"

_SASE_FE = ProfileSpec(
    1,
    "SASE-FE thesis: naive per-frame Haar, 40-90 % window, 160 px box crops, "
    "InceptionResnetV1, 80/20 subjects",
    (
        Rule(
            "frames 40-90 % of each video",
            f"{S}, preprocessing: frame selection",
            "stages.window.mode",
            "fraction",
        ),
        Rule(
            "window start 40 %", f"{S}, preprocessing: frame selection", "stages.window.start", 0.4
        ),
        Rule("window end 90 %", f"{S}, preprocessing: frame selection", "stages.window.end", 0.9),
        Rule(
            "Haar frontal-face cascade",
            f"{S}, preprocessing: face detection",
            "stages.detect.backend",
            "haar",
        ),
        Rule(
            "the largest face of the frame",
            f"{S}, preprocessing: face detection",
            "stages.detect.select",
            "largest",
        ),
        Rule(
            "detector on every frame, no tracker",
            f"{S}, preprocessing: face detection",
            "stages.track.backend",
            "none",
        ),
        Rule("every detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        Rule(
            "the detected box cropped (no rotation)",
            f"{S}, preprocessing: face cropping",
            "stages.align.method",
            "box",
        ),
        Rule(
            "no extension of the box (the 10 px are V's)",
            f"{S}, preprocessing: face cropping",
            "stages.align.box_pad_y",
            0,
        ),
        Rule(
            "crop resized to 160 x 160",
            f"{S}, preprocessing: face cropping",
            "stages.align.size",
            160,
        ),
        Rule(
            "InceptionResnetV1 input 160 x 160",
            f"{S}, feature extraction (InceptionResnetV1)",
            "input_size",
            160,
            "inception_resnet_v1",
        ),
        Rule(
            "InceptionResnetV1 embeddings L2-normalised",
            f"{S}, feature extraction (InceptionResnetV1)",
            "l2_normalize",
            True,
            "inception_resnet_v1",
        ),
        Rule(
            "80/20 split of the subjects, no test part",
            f"{S}, experimental setup: data split",
            "stages.split.test_fraction",
            0.0,
        ),
        Rule(
            "validation part 20 % of the subjects (fold 1 of 5 is the thesis's one split)",
            f"{S}, experimental setup: data split",
            "stages.split.folds",
            5,
        ),
    ),
    (
        "Embedder weights are yours to bring: stages.embed.<name>: {type: inception_resnet_v1, "
        "weights: /path/20180402-114759-vggface2.pt} (facenet-pytorch's VGGFace2 state dict).",
        "Labels: the sase-fe preset (labels.preset: sase-fe).",
    ),
)

_BU4DFE = ProfileSpec(
    1,
    "video-FER thesis: Haar then MedianFlow, 10 px box extension, 160 px box "
    "crops, OpenFace Algorithm 1, thesis augmentations, VGGFace pool5",
    (
        Rule(
            "Haar frontal-face cascade on the first frame",
            f"{V}, preprocessing: face detection",
            "stages.detect.backend",
            "haar",
        ),
        Rule(
            "box extended by 10 px vertically (mouth movement)",
            f"{V}, preprocessing: face tracking",
            "stages.detect.pad_y",
            10,
        ),
        Rule(
            "MedianFlow tracks the extended box",
            f"{V}, preprocessing: face tracking",
            "stages.track.backend",
            "medianflow",
        ),
        Rule("no periodic re-detection", f"{VC}, tracking loop", "stages.track.redetect_every", 0),
        Rule("the first detection accepted", _NO_CONFIRM, "stages.track.confirm", 0),
        Rule(
            "the tracked (extended) box cropped, no rotation",
            f"{V}, preprocessing: face tracking",
            "stages.align.method",
            "box",
        ),
        Rule(
            "crop = tracked box + 10 px above and below",
            f"{VC}, cropping",
            "stages.align.box_pad_y",
            10,
        ),
        Rule(
            "faces resized to 160 x 160",
            f"{V}, preprocessing: face tracking",
            "stages.align.size",
            160,
        ),
        Rule(
            "faces stored losslessly (gzip HDF5)",
            f"{V}, preprocessing: storage",
            "stages.store.compression",
            "gzip",
        ),
        Rule(
            "neutral frames trimmed by AU scores",
            f"{V}, Algorithm 1",
            "stages.window.mode",
            "au_trim",
        ),
        Rule(
            "AU intensities from OpenFace",
            f"{V}, Algorithm 1 (OpenFace AU intensities)",
            "stages.au.source",
            "openface_csv",
        ),
        Rule(
            "threshold 0.5 x the video's max score",
            f"{V}, Algorithm 1",
            "stages.trim.threshold",
            0.5,
        ),
        Rule("always cut the last 10 frames", f"{V}, Algorithm 1", "stages.trim.min_end_cut", 10),
        Rule(
            "max in the last 20 frames: anomaly",
            f"{V}, Algorithm 1",
            "stages.trim.anomaly_last",
            20,
        ),
        Rule("never cut more than half the video", f"{V}, Algorithm 1", "stages.trim.max_cut", 0.5),
        Rule(
            "cap tested after both cuts (as printed)",
            f"{V}, Algorithm 1 (listing)",
            "stages.trim.cap",
            "pseudocode",
        ),
        Rule(
            "frame counts are video frames", f"{V}, Algorithm 1", "stages.trim.count_in", "source"
        ),
        Rule(
            "the nine augmentations as the code does them",
            f"{VC}, augmentation",
            "stages.augment.names",
            [a.value for a in THESIS_AUGMENTATIONS],
        ),
        Rule(
            "test F001-F010 + M001-M010, five folds of 16, F016 out",
            f"{V}, experimental setup",
            "stages.split",
            "bu4dfe_thesis_split()",
        ),
        Rule(
            "VGGFace features after pool5 (25088)",
            f"{V}, feature extraction (VGGFace)",
            "layer",
            "pool5",
            "vggface",
        ),
        Rule(
            "VGGFace input 224 x 224 (7 x 7 pool5)",
            f"{V}, feature extraction (VGGFace)",
            "input_size",
            224,
            "vggface",
        ),
    ),
    (
        "Head truncation to 100 steps is an export option: emoprep export --max-len 100 --pad "
        "head.",
        "Embedder weights are yours to bring: stages.embed.<name>: {type: vggface, weights: "
        "/path/vgg_face_dag.pth} (Oxford VGG-Face, vgg_face_dag key names).",
        "OpenFace CSVs are yours to bring: stages.au.openface_csv (default {stem}.csv next to the "
        "videos).",
        "Labels and the thesis split's subject ids: the bu4dfe preset (labels.preset: bu4dfe).",
        "After a tracker failure emoprep runs the detector on the same frame (the thesis does not "
        "say "
        "what its code does then).",
    ),
)

_AFFECTNET = ProfileSpec(1, "AffectNet thesis: eye-based alignment (emoprep 0.1's crop)", (
    Rule("eye centroids of points 37-42 / 43-48, one rotation + scale", f"{A}, face alignment",
         "stages.align.method", "eyes"),
    Rule("crop side 160 px", "emoprep 0.1 default (A gives no size we could check)",
         "stages.align.size", 160),
    Rule("inter-ocular distance 0.30 S", "emoprep 0.1 default (A gives no value we could check)",
         "stages.align.eye_distance", 0.3),
    Rule("eye line at 0.40 S", "emoprep 0.1 default (A gives no value we could check)",
         "stages.align.eye_y", 0.4),
), ("emoprep's default eye line moved to 0.28 S so the jaw stays in the crop (benchmarks/crop.py); "
    "this profile keeps the 0.40 of emoprep 0.1.",))

PROFILES: dict[Profile, ProfileSpec] = {
    Profile.EMOPREP: ProfileSpec(1, "emoprep's own method: the defaults, nothing changed"),
    Profile.THESIS_SASE_FE: _SASE_FE,
    Profile.THESIS_BU4DFE: _BU4DFE,
    Profile.THESIS_AFFECTNET: _AFFECTNET,
}

#: rule values that stand for a longer value (the METHODS.md tables write the name)
NAMED_VALUES: dict[str, Any] = {"bu4dfe_thesis_split()": bu4dfe_thesis_split}

_MISSING = object()


@dataclass(frozen=True)
class Setting:
    """One rule of the active profile as it ended up: the full key, the value in effect (None when
    the rule does not apply) and why (``profile``, ``your manifest``, or why it does not apply)."""

    key: str
    value: Any
    origin: str
    rule: Rule


def profile_of(raw: Mapping[str, Any], source: str = "manifest") -> Profile:
    """The ``profile:`` of a raw manifest (default ``emoprep``); ConfigError naming the choices."""
    value = raw.get("profile", Profile.EMOPREP.value)
    try:
        return Profile(value)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise ConfigError(source, [f"profile: expected one of {names}, got {value!r} (fix: e.g. "
                                   "profile: thesis-bu4dfe; docs/METHODS.md lists them)"]) from None


def rule_value(rule: Rule) -> Any:
    """The manifest value of ``rule`` (a named value such as ``bu4dfe_thesis_split()`` expanded)."""
    if isinstance(rule.value, str) and rule.value in NAMED_VALUES:
        return NAMED_VALUES[rule.value]()
    return copy.deepcopy(rule.value)


def apply_profile(raw_manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw manifest with its profile's values filled in where the user set nothing.

    ``raw_manifest`` is the parsed YAML after ``--set`` overrides, before validation; its
    ``profile`` key (kept in the result) names the profile. See the module docstring for mapping
    values, backend families and embedder rules. Raises ConfigError for an unknown profile.
    """
    out = copy.deepcopy(raw_manifest)
    spec = PROFILES[profile_of(out)]
    for rule in spec.rules:
        paths, _ = _targets(out, rule, spec)
        for path in paths:
            _fill(out, path, rule_value(rule))
    return out


def profile_settings(raw_manifest: Mapping[str, Any]) -> tuple[Profile, list[Setting]]:
    """The profile of a raw manifest and, per rule, the value in effect and where it comes from
    (for ``emoprep config show``)."""
    profile = profile_of(raw_manifest)
    spec, out = PROFILES[profile], []
    for rule in spec.rules:
        paths, why_not = _targets(raw_manifest, rule, spec)
        if not paths:
            out.append(Setting(rule.label, None, why_not, rule))
        for path in paths:
            mine = _get(raw_manifest, path)
            key = ".".join(path)
            if mine is _MISSING:
                out.append(Setting(key, rule_value(rule), "profile", rule))
            else:
                out.append(Setting(key, mine, "your manifest", rule))
    return profile, out


def describe(raw_manifest: Mapping[str, Any]) -> list[str]:
    """Text lines for ``emoprep config show``: the profile, its version, each setting and where
    it comes from, then the notes."""
    profile, settings = profile_settings(raw_manifest)
    spec = PROFILES[profile]
    lines = [f"profile {profile.value} (version {spec.version}): {spec.summary}"]
    for s in settings:
        value = "-" if s.value is None and s.origin not in ("profile", "your manifest") else \
            json.dumps(s.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        lines.append(f"  {s.key} = {value}  [{s.origin}; {s.rule.source}]")
    lines += [f"  note: {n}" for n in spec.notes]
    return lines


def render_table(profile: Profile) -> list[str]:
    """The METHODS.md table of a profile: rule | source | key | value (JSON, or a named value)."""
    lines = ["| rule | source | key | value |", "|---|---|---|---|"]
    for r in PROFILES[profile].rules:
        value = (
            r.value if isinstance(r.value, str) and r.value in NAMED_VALUES else json.dumps(r.value)
        )
        lines.append(f"| {r.rule} | {r.source} | `{r.label}` | `{value}` |")
    return lines


def _targets(
    raw: Mapping[str, Any], rule: Rule, spec: ProfileSpec
) -> tuple[list[tuple[str, ...]], str]:
    """The full paths ``rule`` fills in ``raw`` (none when it does not apply) and, if none, why."""
    if rule.embed_type is not None:
        embed = _get(raw, tuple(EMBED.split(".")))
        names = [n for n, c in embed.items() if isinstance(c, Mapping)
                 and c.get("type") == rule.embed_type] if isinstance(embed, Mapping) else []
        why = f"no embedder of type {rule.embed_type} under {EMBED}"
        return [(*EMBED.split("."), n, *rule.key.split(".")) for n in names], why
    for section, tag in FAMILIES.items():
        if rule.key.startswith(section + "."):
            mine = next((r.value for r in spec.rules if r.key == f"{section}.{tag}"), None)
            user = _get(raw, (*section.split("."), tag))
            if mine is not None and user is not _MISSING and user != mine:
                return [], f"not applied: your {section}.{tag} is {user!r}"
    return [tuple(rule.key.split("."))], ""


def _get(raw: Any, path: tuple[str, ...]) -> Any:
    node = raw
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _fill(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``path`` to ``value`` unless the user set it; empty (null) sections count as unset."""
    node = raw
    for part in path[:-1]:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            return  # the user wrote something else there: validation names it
        node = node[part]
    node.setdefault(path[-1], value)
