"""The manifest (``data_manifest.yaml``): schema, loading with ``--set`` overrides, and discovery.

Every problem in a manifest is collected and raised once as :class:`ConfigError`, one line per
problem: ``<key> (line N): expected <what>, got <value> (fix: <how>)``. docs/MANIFEST.md documents
every key, each preset, the CSV list format and the override syntax.
"""

from __future__ import annotations

import copy
import csv
import difflib
import os
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic.fields import FieldInfo

from emoprep.errors import ConfigError
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.labels import (
    PRESETS,
    VIDEO_ID_RE,
    LabelsSection,
    Named,
    VideoKind,
    name_video,
    rule_problems,
    with_preset,
)
from emoprep.types import VideoEntry
from emoprep.video import IMAGE_SUFFIXES

Loc = tuple[str, ...]


def expand_path(text: str, base_dir: Path) -> Path:
    """``~`` and ``$VARS`` expanded; a relative path is taken against ``base_dir``; absolute, normalised."""
    p = Path(os.path.expandvars(os.path.expanduser(text)))
    return Path(os.path.abspath(p if p.is_absolute() else base_dir / p))


class VideosSection(BaseModel):
    """The ``videos:`` section: where the videos are. Null keys take the labels preset's values
    (filled in by :class:`Manifest`, so a validated manifest has no nulls in include/kind/frames_glob)."""

    model_config = ConfigDict(extra="forbid")

    root: str = Field(".", description="dataset folder; relative to the manifest's folder; ~ and $VARS expanded")
    include: list[str] | None = Field(None, description="globs relative to root; null: the preset's")
    exclude: list[str] = Field(default_factory=list, description="globs relative to root; a match drops the path")
    csv: str | None = Field(None, description="CSV list (path[,video_id][,subject][,<label>...]) instead of globs")
    kind: VideoKind | None = Field(None, description="null: the preset's (auto, or frames for bu4dfe / ck+)")
    fps: float | None = Field(None, gt=0, le=1000, description="frames per second of image folders (required)")
    frames_glob: str | None = Field(None, description="images of a frame folder, in name order; null: the preset's")


class Manifest(BaseModel):
    """A validated manifest with preset defaults filled in. Paths resolve against its folder."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    videos: VideosSection
    labels: LabelsSection = Field(default_factory=LabelsSection)
    stages: StagesConfig = Field(default_factory=StagesConfig)
    output: str = Field("out", description="output folder, relative to the manifest's folder")
    _source: str = PrivateAttr("<dict>")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _preset_defaults(self) -> Manifest:
        spec, v = PRESETS[self.labels.preset], self.videos
        update = {"include": [] if v.csv is not None else list(spec.include), "kind": spec.kind,
                  "frames_glob": spec.frames_glob}
        self.videos = v.model_copy(update={k: d for k, d in update.items() if getattr(v, k) is None})
        self.labels = with_preset(self.labels)
        return self

    @property
    def source(self) -> str:
        """The manifest file (or ``<dict>``) problems are reported against."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Folder that relative ``videos.root``, ``videos.csv`` and ``output`` are taken against."""
        return self._base_dir

    def root_dir(self) -> Path:
        return expand_path(self.videos.root, self._base_dir)

    def output_dir(self) -> Path:
        return expand_path(self.output, self._base_dir)


# --- schema walking (for messages and --set) -------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` from a type hint."""
    if get_origin(tp) is Annotated:
        return _unwrap(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _child(tp: Any, part: str) -> tuple[Any, FieldInfo | None] | None:
    """(type, field info) one key below ``tp``; None when ``tp`` is a model without that key."""
    tp = _unwrap(tp)
    if _is_model(tp):
        info = tp.model_fields.get(part)
        return None if info is None else (info.annotation, info)
    if get_origin(tp) is dict:
        return get_args(tp)[1], None
    return Any, None


def _field_at(loc: Sequence[Any]) -> tuple[Any, FieldInfo | None]:
    tp: Any = Manifest
    info: FieldInfo | None = None
    for part in loc:
        got = _child(tp, str(part))
        if got is None:
            return Any, None
        tp, info = got
    return tp, info


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
_FALLBACK = {"string_type": "a string", "int_parsing": "an integer", "int_type": "an integer",
             "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
             "dict_type": "a mapping", "model_type": "a mapping", "list_type": "a list"}  # fmt: skip


def _type_words(tp: Any) -> str:
    tp = _unwrap(tp)
    if tp in _WORDS:
        return _WORDS[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if _is_model(tp) or get_origin(tp) is dict:
        return "a mapping"
    return "a list" if get_origin(tp) is list else ""


def _tags(tp: Any) -> list[str]:
    """The ``type`` values of a discriminated union (embedders)."""
    members = get_args(_unwrap(tp))
    return [str(m.model_fields["type"].default) for m in members if _is_model(m) and "type" in m.model_fields]


def _expected(info: FieldInfo) -> str:
    """``'an integer >= 8'`` from a field's type and its ge/gt/le/lt constraints."""
    bounds = [f"{op} {getattr(m, a)}" for m in info.metadata for a, op in _BOUNDS if hasattr(m, a)]
    words = " ".join([_type_words(info.annotation), " and ".join(bounds)]).strip()
    optional = type(None) in get_args(info.annotation)
    return words + (" (or null)" if optional and words else "")


def _default_hint(info: FieldInfo | None) -> str:
    value = None if info is None else info.default
    if isinstance(value, Enum):
        value = value.value
    return f", e.g. {value!r} (the default)" if isinstance(value, (int, float, str)) else ""


# --- YAML, overrides and problem lines -------------------------------------------------------


@dataclass
class _Where:
    """Where each key came from: file lines (1-based) and the keys that ``--set`` changed."""

    raw: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    overridden: set[Loc] = field(default_factory=set)

    def of(self, loc: Sequence[Any]) -> str:
        key = tuple(str(p) for p in loc)
        # the key was overridden, or (for a check over a whole block) something inside it was
        if key and any(key[: len(o)] == o or o[: len(key)] == key for o in self.overridden):
            return " (--set)"
        for n in range(len(key), 0, -1):
            if key[:n] in self.lines:
                return f" (line {self.lines[key[:n]]})"
        return ""


def _walk_nodes(node: yaml.Node, path: Loc, where: _Where, problems: list[str], depth: int = 0) -> None:
    """Record the line of every key; report duplicate keys (YAML keeps the last one silently)."""
    if depth > 32:
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = path + (str(key_node.value),)
            if key in where.lines and key_node.value != "<<":
                problems.append(f"{'.'.join(key)} (line {key_node.start_mark.line + 1}): duplicate key, "
                                f"first on line {where.lines[key]} (fix: keep one; YAML keeps the last silently)")
            where.lines.setdefault(key, key_node.start_mark.line + 1)
            _walk_nodes(value, key, where, problems, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            where.lines.setdefault(path + (str(i),), item.start_mark.line + 1)
            _walk_nodes(item, path + (str(i),), where, problems, depth + 1)


def _read_yaml(text: str) -> tuple[_Where, list[str]]:
    try:
        where = _Where(raw=yaml.safe_load(text))
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        what = " ".join(str(x) for x in (getattr(exc, "problem", None) or exc, getattr(exc, "context", None) or "") if x)
        return _Where(), [f"{at}: expected valid YAML, got a syntax error: {what} (fix: check indentation "
                          f"and quoting there; quote values that contain ': ' or start with [ {{ * & %)"]
    problems: list[str] = []
    if node is not None:
        _walk_nodes(node, (), where, problems)
    return where, problems


def _override_target(parts: list[str], text: str) -> tuple[Any, str | None]:
    """(type hint of the key, problem): unknown keys get a difflib "did you mean"."""
    tp: Any = Manifest
    for i, part in enumerate(parts):
        got = _child(tp, part)
        if got is None:
            options = list(_unwrap(tp).model_fields)
            close = difflib.get_close_matches(part, options, n=1)
            hint = f"did you mean {'.'.join([*parts[:i], close[0]])!r}?" if close else "check the spelling;"
            return Any, (f"--set {text!r}: unknown key {part!r} in {'.'.join(parts[:i]) or 'the manifest'}, "
                         f"expected one of {', '.join(options)} (fix: {hint} see docs/MANIFEST.md)")
        tp = got[0]
    return tp, None


def _parse_value(value: str, tp: Any) -> tuple[Any, str | None]:
    """YAML-parse an override value; string keys keep the text as written when YAML would not."""
    try:
        parsed: Any = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        if _unwrap(tp) is str:
            return value, None
        return None, f"expected a YAML value, got {value!r} ({getattr(exc, 'problem', exc)}) (fix: quote it)"
    if _unwrap(tp) is str and parsed is not None and not isinstance(parsed, str):
        return value, None
    return parsed, None


def _put(raw: dict[str, Any], parts: list[str], value: Any) -> str | None:
    cur = raw
    for i, part in enumerate(parts[:-1]):
        nxt = cur.setdefault(part, {})
        if nxt is None:
            nxt = cur[part] = {}
        if not isinstance(nxt, dict):
            return f"{'.'.join(parts[: i + 1])} is {nxt!r}, not a mapping (fix: fix it in the file first)"
        cur = nxt
    cur[parts[-1]] = value
    return None


def _one_override(raw: dict[str, Any], text: str) -> str | None:
    """Apply one ``a.b.c=VALUE`` to ``raw`` in place; the problem, or None."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        return (f"--set {text!r}: expected KEY=VALUE with a dotted key, got no '=' or an empty key part "
                f"(fix: e.g. --set stages.detect.min_size=80)")
    tp, problem = _override_target(parts, text)
    if problem:
        return problem
    parsed, problem = _parse_value(value, tp)
    problem = problem or _put(raw, parts, parsed)
    return f"--set {text!r}: {problem}" if problem else None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], set[Loc], list[str]]:
    """Apply ``a.b.c=VALUE`` overrides to a copy of ``raw``: (new raw, keys changed, problems).

    VALUE is parsed with ``yaml.safe_load`` (``80`` -> int, ``[a, b]`` -> list, ``null`` -> None);
    for string keys (patterns, paths) the text is kept as written when YAML would make it something else.
    """
    out: dict[str, Any] = copy.deepcopy(raw)
    changed: set[Loc] = set()
    problems: list[str] = []
    for text in overrides:
        problem = _one_override(out, text)
        if problem:
            problems.append(problem)
        else:
            changed.add(tuple(text.partition("=")[0].strip().split(".")))
    return out, changed, problems


def _trim_loc(err: dict[str, Any], raw: Any) -> tuple[Any, ...]:
    """The part of an error's location that exists in the input (drops union tags like 'str')."""
    loc = err["loc"][:-1] if err["type"] == "missing" else err["loc"]
    kept, cur = [], raw
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            break
        kept.append(part)
    return (*kept, err["loc"][-1]) if err["type"] == "missing" else tuple(kept)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(loc: tuple[Any, ...], errs: list[dict[str, Any]], where: _Where) -> str:
    """One line for every pydantic error at one key."""
    key = ".".join(str(p) for p in loc) or "manifest"
    head, err, last = f"{key}{where.of(loc)}", errs[0], str(loc[-1]) if loc else ""
    tp, info = _field_at(loc)
    if err["type"] == "missing":
        parent = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return f"{head}: expected {_type_words(tp) or 'a value'}, got nothing (fix: add {last}: under {parent})"
    if err["type"] == "extra_forbidden":
        parent_tp = _unwrap(_field_at(loc[:-1])[0])
        options = list(parent_tp.model_fields) if _is_model(parent_tp) else []
        close = difflib.get_close_matches(last, options, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it;"
        return f"{head}: unknown key, expected one of {', '.join(options)} (fix: {hint} see docs/MANIFEST.md)"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(_tags(tp)) or "see docs"
        got = f"type {err['ctx']['tag']!r}" if err["type"] == "union_tag_invalid" else "no type key"
        return f"{head}: expected a mapping with type: one of {tags}, got {got} (fix: set type: to one of those)"
    if err["type"] in ("value_error", "assertion_error"):
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{head}: {msg} (fix: change the values named here)"
    words = {_FALLBACK.get(e["type"], e["msg"].removeprefix("Input should be ")) for e in errs}
    expected = (_expected(info) if info is not None else "") or " or ".join(sorted(words))
    got = err.get("input")
    if err["type"] == "string_type" and isinstance(got, (int, float, bool)):
        fix = f"quote it in the YAML: '{got}'"
    elif err["type"] in ("enum", "literal_error"):
        fix = f"use {expected.removeprefix('one of ')}"
    else:
        fix = f"set {expected}{_default_hint(info)}"
    return f"{head}: expected {expected}, got {_short(got)} (fix: {fix})"


def _with_where(line: str, where: _Where) -> str:
    """Add ``(line N)`` to a problem that starts with a known dotted key."""
    key, sep, rest = line.partition(": ")
    if sep and " " not in key and "(" not in key:
        return f"{key}{where.of(key.split('.'))}: {rest}"
    return line


def manifest_problems(m: Manifest) -> list[str]:
    """Checks that span keys (pydantic checks each key alone): globs, fps, the naming rule."""
    v, problems = m.videos, []
    if v.csv is not None and v.include:  # include was set by hand: the preset's is only filled without csv
        problems.append("videos: expected either include (globs) or csv (a list), got both "
                        "(fix: remove one of videos.include / videos.csv)")
    if v.csv is None and not v.include:
        problems.append("videos.include: expected at least one glob, got [] (fix: e.g. include: ['**/*.mp4'], "
                        "or list the videos in videos.csv)")
    for key in ("include", "exclude", "frames_glob"):
        value = getattr(v, key)
        for g in [value] if isinstance(value, str) else value or []:
            if not g or g.startswith(("/", "~")) or ".." in PurePosixPath(g).parts:
                problems.append(f"videos.{key}: expected globs relative to videos.root, got {g!r} "
                                f"(fix: move the folder part into videos.root)")
    if v.kind is VideoKind.FRAMES and v.fps is None:
        hint = PRESETS[m.labels.preset].fps_hint or "e.g. videos.fps: 30"
        problems.append(f"videos.fps: expected frames per second (a number > 0) for image-sequence folders, "
                        f"got nothing (fix: {hint})")
    return problems + rule_problems(m.labels)


def _partial(raw: dict[str, Any], errors: list[dict[str, Any]]) -> Manifest | None:
    """The manifest without the top-level keys that failed, for the cross-key checks."""
    bad = {str(e["loc"][0]) for e in errors if e["loc"]}
    if bad & {"videos", "labels"}:
        return None
    try:
        return Manifest.model_validate({k: v for k, v in raw.items() if k not in bad})
    except ValidationError:
        return None


def _validate(where: _Where, source: str, base_dir: Path, problems: list[str]) -> Manifest:
    raw = where.raw
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        problems.append(f"manifest: expected a mapping with videos:, labels:, stages:, output:, got {got} "
                        f"(fix: start from data_manifest.yaml in the repository)")
        raise ConfigError(source, problems)
    m: Manifest | None
    try:
        m = Manifest.model_validate(raw)
    except ValidationError as exc:
        grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for err in exc.errors():
            grouped.setdefault(_trim_loc(err, raw), []).append(err)
        problems += [_problem(loc, errs, where) for loc, errs in grouped.items()]
        m = _partial(raw, exc.errors())
    if m is not None:
        problems += [_with_where(p, where) for p in manifest_problems(m)]
    if problems:
        raise ConfigError(source, problems)
    assert m is not None
    m._source, m._base_dir = source, base_dir
    return m


def manifest_from_dict(raw: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None) -> Manifest:
    """Validate a parsed manifest; relative paths in it resolve against ``base_dir`` (default: cwd)."""
    return _validate(_Where(raw=raw), source, Path(base_dir or Path.cwd()).absolute(), [])


def load_manifest(path: Path, overrides: Sequence[str] = ()) -> Manifest:
    """Read, override (``"stages.detect.min_size=80"``) and validate a manifest file.

    Raises :class:`ConfigError` once with every problem: YAML syntax (line, column), duplicate
    keys, unknown keys, bad values, bad overrides, cross-key problems of the naming rule.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(str(path), [f"manifest: expected a YAML file at {path.absolute()}, got nothing there "
                                      f"(fix: pass the right path, or copy data_manifest.yaml from the repository)"])
    where, problems = _read_yaml(path.read_text(encoding="utf-8"))
    if isinstance(where.raw, dict) and overrides:
        where.raw, where.overridden, more = apply_overrides(where.raw, overrides)
        problems += more
    if problems and not isinstance(where.raw, dict):
        raise ConfigError(str(path), problems)
    return _validate(where, str(path), path.absolute().parent, problems)


# --- discovery -------------------------------------------------------------------------------


@dataclass
class Discovery:
    """Videos found by :func:`discover_videos`, sorted by id, and the paths left out, with why."""

    videos: list[VideoEntry]
    unmatched: list[str] = field(default_factory=list)  #: "relative/path: reason"


@dataclass(frozen=True)
class _Candidate:
    rel: str  #: POSIX path relative to root (the text the naming rule sees)
    path: Path
    is_dir: bool
    row: dict[str, str] | None = None  #: the CSV row, in CSV mode


def _kind_problem(v: VideosSection, path: Path) -> str | None:
    """Why ``path`` cannot be a video under ``videos.kind``; None when it can."""
    if path.is_dir():
        if v.kind is VideoKind.FILE:
            return "a folder, but videos.kind is 'file'"
        images = (q for q in path.glob(v.frames_glob or "*") if q.suffix.lower() in IMAGE_SUFFIXES)
        return None if next(images, None) else f"a folder without images matching videos.frames_glob {v.frames_glob!r}"
    return "a file, but videos.kind is 'frames' (folders of images)" if v.kind is VideoKind.FRAMES else None


def _glob(root: Path, key: str, pattern: str, source: str) -> list[Path]:
    try:
        return sorted(root.glob(pattern))
    except (ValueError, NotImplementedError) as exc:
        raise ConfigError(source, [f"videos.{key}: expected a glob relative to videos.root, got {pattern!r} "
                                   f"({exc}) (fix: e.g. '**/*.mp4'; '**' must be a whole path part)"]) from exc


def _glob_candidates(m: Manifest, root: Path) -> tuple[list[_Candidate], list[str]]:
    """Paths matched by ``include`` and not by ``exclude`` (nor inside the output folder)."""
    v = m.videos
    skip = {p for g in v.exclude for p in _glob(root, "exclude", g, m.source)} | {m.output_dir()}
    seen: set[Path] = set()
    found, unmatched = [], []
    for g in v.include or []:
        for p in _glob(root, "include", g, m.source):
            if p in seen or not skip.isdisjoint((p, *p.parents)):
                continue  # seen, excluded on purpose, or our own output
            seen.add(p)
            rel = p.relative_to(root).as_posix()
            why = "hidden (a name starts with '.')" if any(s.startswith(".") for s in rel.split("/")) else None
            why = why or _kind_problem(v, p)
            if why:
                unmatched.append(f"{rel}: {why}")
            else:
                found.append(_Candidate(rel, p, p.is_dir()))
    return found, unmatched


def _csv_candidates(m: Manifest, root: Path) -> tuple[list[_Candidate], list[str]]:
    """Rows of ``videos.csv``: (candidates, problems). Paths in it are relative to the root."""
    path = expand_path(m.videos.csv or "", m.base_dir)
    if not path.is_file():
        return [], [f"videos.csv: expected a CSV file, got {m.videos.csv!r} -> {path}, which does not exist "
                    f"(fix: relative paths are taken against the manifest's folder {m.base_dir})"]
    found, problems = [], []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if "path" not in [h.strip() for h in reader.fieldnames or []]:
            return [], [f"videos.csv {path.name}: expected a header row with a 'path' column, got "
                        f"{reader.fieldnames} (fix: first line e.g. path,subject,emotion)"]
        for raw in reader:
            at = f"videos.csv {path.name} line {reader.line_num}"
            if None in raw:
                problems.append(f"{at}: expected {len(reader.fieldnames or [])} cells, got more (fix: quote cells with commas)")
                continue
            row = {k.strip(): (c or "").strip() for k, c in raw.items()}
            if not any(row.values()):
                continue
            p = expand_path(row["path"], root)
            why = "path is empty" if not row["path"] else None
            why = why or (None if p.exists() else f"{p} does not exist") or _kind_problem(m.videos, p)
            if why:
                problems.append(f"{at}: expected a video under {root}, got {row['path']!r}: {why} (fix: correct the path)")
                continue
            rel = p.relative_to(root).as_posix() if p.is_relative_to(root) else row["path"]
            found.append(_Candidate(rel, p, p.is_dir(), row))
    return found, problems


def _named(m: Manifest, root: Path, c: _Candidate) -> Named | str:
    """The naming rule's result, with the CSV row's video_id / subject / label cells on top."""
    named = name_video(m.labels, c.rel, root, c.is_dir)
    if isinstance(named, str) or c.row is None:
        return named
    cells = {k: v for k, v in c.row.items() if v and k not in ("path", "video_id", "subject")}
    labels = {**named.labels, **{k: v.lower() for k, v in cells.items()}}
    video_id = c.row.get("video_id") or named.video_id
    subject = c.row.get("subject") or (video_id if m.labels.subject is None else named.subject)
    return Named(video_id, subject, labels)


def _id_problems(found: list[tuple[VideoEntry, str]]) -> list[str]:
    """Unsafe ids and duplicate ids (also ids that differ only in case: they collide on macOS)."""
    problems, first = [], {}
    for entry, rel in found:
        vid = entry.video_id
        if not VIDEO_ID_RE.match(vid):
            problems.append(f"video id {vid!r} of {rel}: expected letters, digits and _ . + - only, starting "
                            f"with a letter or digit (ids become file names) (fix: set labels.video_id to a "
                            f"template such as '{{subject}}_{{stem}}', or correct the video_id cell)")
        elif vid.lower() in first:
            other_id, other = first[vid.lower()]
            case = "" if other_id == vid else f" (as {other_id!r}; ids may not differ only in case)"
            problems.append(f"video id {vid!r}: produced by both {other}{case} and {rel}, expected unique ids "
                            f"(fix: set labels.video_id to a template that tells them apart, e.g. '{{path}}', "
                            f"or leave one out with videos.exclude)")
        else:
            first[vid.lower()] = (vid, rel)
    return problems


def _root_problem(m: Manifest, root: Path) -> str:
    unset = " (an environment variable in it is not set)" if "$" in str(root) else ""
    return (f"videos.root: expected an existing folder, got {m.videos.root!r} -> {root}{unset} (fix: point "
            f"videos.root at the dataset folder; a relative root is taken against {m.base_dir})")


def _nothing_found(m: Manifest, root: Path, unmatched: list[str]) -> str:
    what = f"the rows of {m.videos.csv}" if m.videos.csv else f"include {m.videos.include}"
    some = f"; {len(unmatched)} paths matched no rule, e.g. {unmatched[0]}" if unmatched else ""
    return (f"videos: expected at least one video under {root} from {what}, got none{some} (fix: check "
            f"videos.root, videos.include (globs are case-sensitive: '*.[mM][pP]4') and labels)")


def discover_videos(m: Manifest) -> Discovery:
    """Find the manifest's videos and name them. Raises :class:`ConfigError` with every problem:
    missing root, zero videos, unsafe or duplicate ids, image folders without ``videos.fps``."""
    root, problems = m.root_dir(), manifest_problems(m)
    if not root.is_dir():
        problems.append(_root_problem(m, root))
    if problems:
        raise ConfigError(m.source, problems)
    found, unmatched = _csv_candidates(m, root) if m.videos.csv else _glob_candidates(m, root)
    problems, unmatched = (unmatched, []) if m.videos.csv else ([], unmatched)
    named: list[tuple[VideoEntry, str]] = []
    for c in found:
        got = _named(m, root, c)
        if isinstance(got, str):
            unmatched.append(f"{c.rel}: {got}")
            continue
        kind = "frames" if c.is_dir else "file"
        entry = VideoEntry(got.video_id, str(c.path), got.subject, got.labels, kind, m.videos.fps,
                           m.videos.frames_glob or "*.png")
        named.append((entry, c.rel))
    problems += _id_problems(named)
    folders = [rel for e, rel in named if e.kind == "frames"]
    if folders and m.videos.fps is None:
        hint = PRESETS[m.labels.preset].fps_hint or "e.g. videos.fps: 30"
        problems.append(f"videos.fps: expected frames per second (a number > 0) for {len(folders)} image "
                        f"folders (e.g. {folders[0]}), got nothing (fix: {hint})")
    if not named and not problems:
        problems.append(_nothing_found(m, root, unmatched))
    if problems:
        raise ConfigError(m.source, problems)
    return Discovery(sorted((e for e, _ in named), key=lambda e: e.video_id), sorted(unmatched))
