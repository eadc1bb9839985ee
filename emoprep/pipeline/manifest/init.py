"""``emoprep init``: a commented manifest for a folder of videos, with the naming rule detected.

The rule is, in this order: the first preset (sase-fe, ravdess, crema-d, bu4dfe, ck+) that names
every video found under the folder; else :data:`SUBJECT_EMOTION` (``S01_happy.mp4``,
``p3-angry.mov``: subject, separator, emotion) when it names every file; else none (each video its
own subject, no labels). The draft is validated and its videos discovered before it is written, so
it runs as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.discovery import discover_videos
from emoprep.pipeline.manifest.presets import PRESETS, Preset, VideoKind
from emoprep.pipeline.manifest.schema import manifest_from_dict

#: a newcomer's own naming: subject (letters then digits), ``_`` or ``-``, emotion word
SUBJECT_EMOTION = r"(?:.*/)?(?P<subject>[a-z]*\d+)[_-](?P<emotion>[a-z]+)\.[a-z0-9]+"


@dataclass
class Draft:
    """What :func:`draft_manifest` found: the manifest text, its rule in words, the counts."""

    text: str
    rule: str
    n_videos: int
    n_subjects: int
    unmatched: list[str]


def _labels_candidates() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(rule in words, labels section, extra videos keys) to try, most specific first."""
    out = []
    for preset, spec in PRESETS.items():
        if preset is Preset.GENERIC:
            continue
        videos = {"fps": float(spec.fps_hint.split(": ")[-1])} \
            if spec.kind is VideoKind.FRAMES and spec.fps_hint else {}
        out.append((f"preset {preset.value} ({spec.layout})", {"preset": preset.value}, videos))
    out.append(("subject_emotion file names (e.g. S01_happy.mp4)",
                {"pattern": SUBJECT_EMOTION, "ignore_case": True, "subject": "subject"}, {}))
    out.append(("none: each video is its own subject, without labels", {}, {}))
    return out


def _raw(root: str, labels: dict[str, Any], videos: dict[str, Any], n_subjects: int
         ) -> dict[str, Any]:
    few = n_subjects < 7  # 5 folds and a 20 % test part need about 7 subjects
    split = {"folds": 2 if few else 5, "test_fraction": 0.0 if few else 0.2, "required": False}
    return {"version": 1, "videos": {"root": root, **videos}, "labels": labels,
            "stages": {"window": {"mode": "all"},
                       "embed": {"hog": {"type": "hog"}, "geometry": {"type": "landmarks"}},
                       "split": split},
            "output": "out"}


def draft_manifest(folder: Path, manifest: Path) -> Draft:
    """The draft for the videos under ``folder``, to be written at ``manifest`` (``videos.root``
    is relative to it when the folder lies below the manifest's folder). Raises
    :class:`ConfigError` when no video is found."""
    base = manifest.absolute().parent
    folder = folder.expanduser().absolute()
    root = str(folder.relative_to(base)) if folder.is_relative_to(base) else str(folder)
    last: ConfigError | None = None
    for rule, labels, videos in _labels_candidates():
        raw = _raw(root, labels, videos, 0)
        try:
            found = discover_videos(manifest_from_dict(raw, str(manifest), base))
        except ConfigError as exc:
            last = exc
            continue
        if found.unmatched and labels:
            continue  # the rule leaves files out: try the next one
        n_subjects = len({v.subject for v in found.videos})
        text = _text(_raw(root, labels, videos, n_subjects), rule, len(found.videos), n_subjects)
        return Draft(text, rule, len(found.videos), n_subjects, found.unmatched)
    assert last is not None
    raise last


def _text(raw: dict[str, Any], rule: str, n_videos: int, n_subjects: int) -> str:
    """The manifest as commented YAML."""
    def block(key: str) -> str:
        return yaml.safe_dump({key: raw[key]}, sort_keys=False, width=100).rstrip()

    return "\n".join([
        "# emoprep manifest written by `emoprep init`; docs/MANIFEST.md explains every key, and",
        "# `emoprep config show -m THIS_FILE` prints every setting with its default.",
        f"# found {n_videos} videos of {n_subjects} subjects; naming rule: {rule}",
        "version: 1",
        "",
        "# videos.root: the dataset folder, relative to this file's folder. videos.include",
        "# (not set: the preset's globs, **/*.mp4 and other video suffixes) matches suffixes in",
        "# any case.",
        block("videos"),
        "",
        "# labels: how a file's path becomes its video id, subject and labels (docs/MANIFEST.md).",
        block("labels"),
        "",
        "# stages: only what differs from the defaults for a first run.",
        "# window.mode all keeps every frame (as OpenFace and py-feat); the SASE-FE thesis kept",
        "# 40-90 % of each video: mode fraction, start 0.4, end 0.9 (or profile: thesis-sase-fe).",
        "# embed: one feature store per embedder (docs/EMBEDDERS.md lists the others).",
        "# split: subject-independent folds; required: false reports a split these videos cannot",
        "# make instead of stopping the run (set it to true once the dataset is complete).",
        block("stages"),
        "",
        block("output") + "  # output folder, relative to this file's folder",
        "",
    ])


def write_draft(folder: Path, manifest: Path, force: bool = False) -> Draft:
    """Write :func:`draft_manifest` to ``manifest``; a ConfigError if it exists (unless
    ``force``)."""
    if manifest.exists() and not force:
        raise ConfigError(str(manifest), [f"manifest: {manifest} exists already, expected a new "
                                          f"file (fix: pass another -m PATH, or --force to "
                                          f"replace it)"])
    draft = draft_manifest(folder, manifest)
    manifest.write_text(draft.text, encoding="utf-8")
    return draft
