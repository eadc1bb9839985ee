"""Naming rules: how a video's path relative to ``videos.root`` becomes (video id, subject, labels).

A rule is data (the ``labels:`` section): a regex with named groups matched against the whole
relative path (POSIX ``/``, suffix included), value maps per group, the group that names the
subject, a video-id template, and optionally a per-video label file (CK+ ``Emotion/``). A preset
is a ready rule plus the ``videos:`` defaults (include globs, kind, frames glob) for one dataset;
every key set in the manifest overrides the preset's value. docs/MANIFEST.md lists each preset.
"""

from __future__ import annotations

import difflib
import glob
import re
import string
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.presets import BASIC7, BASIC7_WORDS, PRESETS, MapValue, Preset

#: a video id becomes a file name in the output folder: no '/', no leading '.', no '..'
VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
#: template fields every rule has, besides the pattern's named groups
BUILTIN_FIELDS = ("stem", "parent", "path")


class MissingLabel(str, Enum):
    """What to do with a video whose label file is absent (CK+ labels 327 of 593 sequences)."""

    UNMATCHED = "unmatched"  #: list it under unmatched and leave it out (default)
    KEEP = "keep"  #: keep it, without that label


class LabelFileRule(BaseModel):
    """One label read from a small text file found next to the data (CK+ ``Emotion/``)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="glob template relative to videos.root; fields: pattern groups, stem, parent, "
                    "path"
    )
    key: str = Field("emotion", description="label name the file's value is stored under")
    map: dict[str, str] = Field(
        default_factory=dict, description="file value -> label; empty: the text itself"
    )
    missing: MissingLabel = MissingLabel.UNMATCHED



class Vocabulary(str, Enum):
    """Which words the ``emotion`` label uses."""

    NATIVE = "native"  #: the dataset's own words and class list (default)
    BASIC7 = "basic7"  #: one shared list for every preset (presets.BASIC7), for cross-dataset work


class LabelsSection(BaseModel):
    """The ``labels:`` section. Unset or null keys take the preset's values (``generic``: none)."""

    model_config = ConfigDict(extra="forbid")

    preset: Preset = Preset.GENERIC
    pattern: str | None = Field(
        None, description="regex with named groups; must match the whole relative path"
    )
    ignore_case: bool | None = Field(
        None, description="case-insensitive pattern and map look-ups (default false)"
    )
    maps: dict[str, dict[str, MapValue]] = Field(
        default_factory=dict, description="group -> {raw text: label value, or {label: value, ...}}"
    )
    groups: list[str] | None = Field(
        None, description="groups that become labels; default: all but subject"
    )
    subject: str | None = Field(None, description="group naming the subject; default: the video id")
    video_id: str | None = Field(
        None, description="template over groups, e.g. '{subject}_{clip}'; default '{path}'"
    )
    label_file: LabelFileRule | None = None
    classes: dict[str, list[str]] = Field(
        default_factory=dict, description="label -> full class list in index order; default: the "
        "preset's, else the map's values in map order, else the sorted values found")
    vocabulary: Vocabulary = Field(Vocabulary.NATIVE, description="basic7: one shared emotion list")
    task: str | None = Field(None, description="default label for exports/training; null: emotion")


def _map_keys(group: str, table: dict[str, MapValue]) -> list[str]:
    """Label keys a group's map sets (the group itself, or the keys of its mapping values)."""
    keys = [k for v in table.values() if isinstance(v, dict) for k in v]
    return list(dict.fromkeys(keys)) if keys else [group]


def with_preset(labels: LabelsSection) -> LabelsSection:
    """The section with every unset or null key taken from its preset; ``maps`` and ``classes``
    merge per key (a preset class list is dropped for labels whose map the manifest replaces)."""
    preset = {"ignore_case": False, **PRESETS[labels.preset].labels}
    mine = {k: v for k, v in labels.model_dump().items() if v is not None}
    replaced = {k for g, t in labels.maps.items() for k in _map_keys(g, t)}
    kept = {k: v for k, v in preset.get("classes", {}).items() if k not in replaced}
    merged = {**preset, **mine, "maps": {**preset.get("maps", {}), **labels.maps},
              "classes": {**kept, **labels.classes}}
    return LabelsSection.model_validate(merged)


def _map_values(labels: LabelsSection) -> dict[str, list[str]]:
    """Label key -> the values the maps (and the label-file map) can give, in map order."""
    out: dict[str, list[str]] = {}
    for group, table in labels.maps.items():
        for raw in table.values():
            pairs = raw.items() if isinstance(raw, dict) else [(group, raw)]
            for key, value in pairs:
                out.setdefault(key, []).append(value.strip().lower())
    if labels.label_file is not None and labels.label_file.map:
        out.setdefault(labels.label_file.key, []).extend(
            v.strip().lower() for v in labels.label_file.map.values())
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def _class_problems(labels: LabelsSection) -> list[str]:
    problems = []
    for key, names in labels.classes.items():
        if len(set(names)) != len(names) or not names:
            problems.append(f"labels.classes.{key}: expected distinct class names, got {names} "
                            f"(fix: list each class once)")
    for key, values in _map_values(labels).items():
        declared = labels.classes.get(key)
        missing = [v for v in values if declared is not None and v not in declared]
        if missing:
            problems.append(f"labels.classes.{key}: expected every value labels.maps can give, "
                            f"got {declared} without {missing} (fix: add them to the list)")
    return problems


def vocabularies(labels: LabelsSection, found: list[dict[str, str]]) -> dict[str, list[str]]:
    """Label key -> full class list in index order, for a preset-merged section.

    Declared ``classes`` first, else the map's values in map order, else the sorted values in
    ``found`` (each video's labels); values found outside a list are appended, sorted.
    ``vocabulary: basic7`` makes the ``emotion`` list :data:`BASIC7`.
    """
    out = {**_map_values(labels), **{k: list(v) for k, v in labels.classes.items()}}
    if labels.vocabulary is Vocabulary.BASIC7:
        out["emotion"] = list(BASIC7)
    seen: dict[str, set[str]] = {}
    for row in found:
        for k, v in row.items():
            seen.setdefault(k, set()).add(v)
    for key, values in sorted(seen.items()):
        known = out.setdefault(key, [])
        known += sorted(values - set(known))
    return {k: out[k] for k in sorted(out) if k in seen}


def default_task(labels: LabelsSection, classes: dict[str, list[str]]) -> str:
    """``labels.task``, else ``emotion`` when the videos have it, else "" (must be given)."""
    return labels.task or ("emotion" if "emotion" in classes else "")


def resolve_task(task: str | None, classes: dict[str, list[str]], default: str = "") -> str:
    """The label key to train on: ``task``, else ``default``; a ConfigError with a did-you-mean
    when it is not a label key, or when none is given and there is no default."""
    keys = sorted(classes)
    if task is None and (default or not keys):
        return default
    if task is None:
        raise ConfigError("task", [f"task: expected one of {', '.join(keys)}, got nothing; this "
                                   f"dataset has no 'emotion' label (fix: pass --task / task=)"])
    if task not in classes:
        near = difflib.get_close_matches(task, keys, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"use one of {', '.join(keys) or 'none'}"
        raise ConfigError("task", [f"task: expected a label key ({', '.join(keys) or 'none'}), "
                                   f"got {task!r} (fix: {hint})"])
    return task


def safe_id(text: str) -> str:
    """Replace every run of characters outside ``[A-Za-z0-9_.+-]`` by ``_``."""
    return _UNSAFE.sub("_", text)


def template_fields(template: str) -> list[str]:
    """Field names of a ``{name}`` template; raises ValueError on a malformed one."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


def _pattern_groups(labels: LabelsSection) -> tuple[list[str], list[str]]:
    """(named groups of the pattern, problems compiling it)."""
    if labels.pattern is None:
        return [], []
    try:
        return list(re.compile(labels.pattern).groupindex), []
    except re.error as exc:
        return [], [f"labels.pattern: expected a valid regular expression, got {labels.pattern!r} "
                    f"({exc}) (fix: correct the regex; test it with python -c 'import re; ...')"]


def _check_template(key: str, template: str, allowed: list[str]) -> list[str]:
    try:
        names = template_fields(template)
    except ValueError as exc:
        return [f"{key}: expected a template like '{{subject}}_{{clip}}', got {template!r} ({exc}) "
                f"(fix: balance the braces; write '{{{{' for a literal brace)"]
    bad = [n for n in names if n not in allowed]
    if bad:
        return [f"{key}: template field {{{bad[0]}}} is not a group of labels.pattern nor a "
                f"built-in, got {template!r} (fix: use one of {', '.join(allowed)})"]
    try:
        template.format_map(dict.fromkeys(names, "x"))
    except (ValueError, TypeError) as exc:
        return [
            f"{key}: expected plain {{name}} fields, got {template!r} ({exc}) (fix: drop the "
            "format spec)"
        ]
    return []


def rule_problems(labels: LabelsSection) -> list[str]:
    """Static checks of a preset-merged rule: the regex compiles and every name it uses exists."""
    groups, problems = _pattern_groups(labels)
    if problems:
        return problems
    known = ", ".join(groups) or "none (labels.pattern is not set)"
    named = {f"labels.maps.{g}": g for g in labels.maps}
    named |= {f"labels.groups: {g!r}": g for g in labels.groups or []}
    if labels.subject is not None:
        named["labels.subject"] = labels.subject
    for key, group in named.items():
        if group not in groups:
            problems.append(
                f"{key}: expected a named group of labels.pattern ({known}), got {group!r} "
                f"(fix: add (?P<{group}>...) to the pattern or remove the key)"
            )
    allowed = [*groups, *BUILTIN_FIELDS]
    if labels.video_id is not None:
        problems += _check_template("labels.video_id", labels.video_id, allowed)
    problems += _class_problems(labels)
    if labels.label_file is not None:
        path = labels.label_file.path
        problems += _check_template("labels.label_file.path", path, allowed)
        if path.startswith("/") or ".." in PurePosixPath(path).parts:
            problems.append(f"labels.label_file.path: expected a glob relative to videos.root, got "
                            f"{path!r} (fix: write it relative to the root, without '..')")
    return problems


@dataclass(frozen=True)
class Named:
    """What a naming rule gives one video."""

    video_id: str
    subject: str
    labels: dict[str, str]


def _builtins(rel: str, is_dir: bool) -> dict[str, str]:
    """``{stem}``, ``{parent}`` and ``{path}`` of a relative POSIX path (as :class:`PurePosixPath`
    gives them; plain string work for the usual normalised path, ~10x faster per video)."""
    if rel and "//" not in rel and "/./" not in rel and not rel.startswith(("./", "/")) \
            and not rel.endswith(("/", "/.")) and rel != ".":
        head, _, name = rel.rpartition("/")
        dot = name.rfind(".")
        stem = name[:dot] if not is_dir and 0 < dot < len(name) - 1 else name
        stemmed = f"{head}/{stem}" if head else stem
        return {"stem": stem, "parent": head.rpartition("/")[2],
                "path": stemmed.replace("/", "_")}
    p = PurePosixPath(rel)
    path = p if is_dir else p.with_suffix("")
    return {
        "stem": path.name,
        "parent": p.parent.name,
        "path": path.as_posix().replace("/", "_"),
    }


def _lookup(labels: LabelsSection, group: str, raw: str | None) -> MapValue | None:
    """The map value for ``raw`` (None: not in the map); ``raw`` itself when the group has no
    map."""
    table = labels.maps.get(group)
    if table is None:
        return raw
    key = "" if raw is None else raw
    if labels.ignore_case:
        return {k.lower(): v for k, v in table.items()}.get(key.lower())
    return table.get(key)


def _group_labels(labels: LabelsSection, groups: dict[str, str | None]) -> dict[str, str] | str:
    """Labels from the pattern's groups, or the reason the path is left out."""
    wanted = (
        labels.groups if labels.groups is not None else [g for g in groups if g != labels.subject]
    )
    out: dict[str, str] = {}
    for g in wanted:
        value = _lookup(labels, g, groups.get(g))
        if value is None and g in labels.maps:
            known = ", ".join(labels.maps[g]) or "nothing"
            return f"{g} {groups.get(g)!r} is not in labels.maps.{g} (known: {known})"
        if isinstance(value, dict):
            out.update({k: v.strip().lower() for k, v in value.items()})
        elif value is not None:
            out[g] = value.strip().lower()
    return out


def _as_code(text: str) -> str:
    """``'   3.0000000e+00'`` -> ``'3'``; text that is not an integral number is returned
    stripped."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _file_label(
    rule: LabelFileRule, root: Path, fields: dict[str, str]
) -> tuple[str | None, str | None]:
    """(label value or None, reason to leave the video out or None) from the rule's label file."""
    pattern = rule.path.format_map({k: glob.escape(v) for k, v in fields.items()})
    try:
        hits = sorted(root.glob(pattern))
    except ValueError as exc:
        return None, f"labels.label_file.path {pattern!r} is not a valid glob ({exc})"
    if not hits and rule.missing is MissingLabel.KEEP:
        return None, None
    if len(hits) != 1:
        return (
            None,
            f"{len(hits)} label files match labels.label_file.path {pattern!r} (expected 1)",
        )
    text = _as_code(hits[0].read_text(errors="replace"))
    if not text:
        return None, f"label file {hits[0].name} is empty"
    if not rule.map:
        return text.lower(), None
    if text not in rule.map:
        known = ", ".join(rule.map)
        return (
            None,
            f"label file {hits[0].name} holds {text!r}, not in labels.label_file.map (known: "
            f"{known})",
        )
    return rule.map[text].strip().lower(), None


def name_video(labels: LabelsSection, rel: str, root: Path, is_dir: bool = False) -> Named | str:
    """Apply a preset-merged rule to ``rel`` (POSIX path relative to ``root``).

    Returns the video's id, subject and labels, or a string saying why the path matches no rule.
    Template fields are sanitised with :func:`safe_id`; the id is checked later by the caller.
    """
    groups: dict[str, str | None] = {}
    if labels.pattern is not None:
        match = re.fullmatch(labels.pattern, rel, re.IGNORECASE if labels.ignore_case else 0)
        if match is None:
            spec = PRESETS[labels.preset]
            hint = (
                f" (preset {labels.preset.value}: {spec.layout})"
                if spec.labels.get("pattern") == labels.pattern
                else ""
            )
            return f"does not match labels.pattern {labels.pattern!r}{hint}"
        groups = match.groupdict()
    got = _group_labels(labels, groups)
    if isinstance(got, str):
        return got
    fields = {**_builtins(rel, is_dir), **{k: v or "" for k, v in groups.items()}}
    video_id = (labels.video_id or "{path}").format_map({k: safe_id(v) for k, v in fields.items()})
    subject = video_id if labels.subject is None else groups.get(labels.subject)
    if not subject:
        return f"group {labels.subject!r} (labels.subject) matched nothing"
    if labels.label_file is not None:
        value, why = _file_label(labels.label_file, root, fields)
        if why is not None:
            return why
        if value is not None:
            got[labels.label_file.key] = value
    return Named(video_id, subject, in_vocabulary(labels, got))


def in_vocabulary(labels: LabelsSection, got: dict[str, str]) -> dict[str, str]:
    """Labels in the section's vocabulary: under ``basic7`` the ``emotion`` word is mapped to
    :data:`BASIC7` (a word without a basic7 class, such as calm or contempt, drops the label)."""
    if labels.vocabulary is Vocabulary.NATIVE or "emotion" not in got:
        return got
    out = {k: v for k, v in got.items() if k != "emotion"}
    if got["emotion"] in BASIC7_WORDS:
        out["emotion"] = BASIC7_WORDS[got["emotion"]]
    return out
