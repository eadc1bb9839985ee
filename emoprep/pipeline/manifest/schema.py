"""The manifest (``data_manifest.yaml``): schema, loading with ``--set`` overrides, and discovery.

Every problem in a manifest is collected and raised once as :class:`ConfigError`, one line per
problem: ``<key> (line N): expected <what>, got <value> (fix: <how>)``. docs/MANIFEST.md documents
every key, each preset, the CSV list format and the override syntax. The problem lines are built in
:mod:`emoprep.pipeline.manifest.errors`; :func:`discover_videos` lives in
:mod:`emoprep.pipeline.manifest.discovery`
and is re-exported here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import ErrorDetails

from emoprep.errors import ConfigError
from emoprep.io.atomic import expand_path
from emoprep.pipeline.batches import BatchConfig
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.manifest import errors as config_errors
from emoprep.pipeline.manifest.defaults import adapt_family_sections
from emoprep.pipeline.manifest.errors import problem_line, trim_loc, with_where
from emoprep.pipeline.manifest.labels import LabelsSection, rule_problems, with_preset
from emoprep.pipeline.manifest.presets import PRESETS, VideoKind
from emoprep.pipeline.manifest.profiles import Profile, apply_profile, profile_of
from emoprep.pipeline.manifest.train_section import TrainConfig
from emoprep.pipeline.manifest.yaml_lines import Loc, Where, read_yaml


class VideosSection(BaseModel):
    """The ``videos:`` section: where the videos are. Null keys take the labels preset's values
    (filled in by :class:`Manifest`, so a validated manifest has no nulls in
    include/kind/frames_glob)."""

    model_config = ConfigDict(extra="forbid")

    root: str = Field(
        ".", description="dataset folder; relative to the manifest's folder; ~ and $VARS expanded"
    )
    include: list[str] | None = Field(
        None, description="globs relative to root; null: the preset's"
    )
    exclude: list[str] = Field(
        default_factory=list, description="globs relative to root; a match drops the path"
    )
    csv: str | None = Field(
        None, description="CSV list (path[,video_id][,subject][,<label>...]) instead of globs"
    )
    kind: VideoKind | None = Field(None, description="auto | file | frames | images (image files "
                                   "grouped into sequences by video id); null: the preset's "
                                   "(auto, or frames for bu4dfe / ck+)")
    fps: float | None = Field(None, gt=0, le=1000,
                              description="frames per second of image folders and image sequences "
                              "(required for them); single images: 1.0 when unset")
    frames_glob: str | None = Field(
        None, description="images of a frame folder, in name order; null: the preset's"
    )


class Manifest(BaseModel):
    """A validated manifest with preset defaults filled in. Paths resolve against its folder."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    profile: Profile = Field(Profile.EMOPREP, description="method profile (docs/METHODS.md): "
                             "fills every key the manifest does not set")
    videos: VideosSection
    labels: LabelsSection = Field(default_factory=LabelsSection)
    stages: StagesConfig = Field(default_factory=StagesConfig)
    train: TrainConfig = Field(default_factory=TrainConfig, description="emoprep train settings")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="small items (images, "
                               "short clips) run in batches written as packs (docs/STORE.md)")
    output: str = Field("out", description="output folder, relative to the manifest's folder")
    _source: str = PrivateAttr("the manifest given as a dict")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _preset_defaults(self) -> Manifest:
        spec, v = PRESETS[self.labels.preset], self.videos
        update = {"include": [] if v.csv is not None else list(spec.include), "kind": spec.kind,
                  "frames_glob": spec.frames_glob}
        self.videos = v.model_copy(
            update={k: d for k, d in update.items() if getattr(v, k) is None}
        )
        self.labels = with_preset(self.labels)
        return self

    @property
    def source(self) -> str:
        """The manifest file (or what stands for it) problems are reported against."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Folder that relative ``videos.root``, ``videos.csv`` and ``output`` are taken against."""
        return self._base_dir

    def root_dir(self) -> Path:
        return expand_path(self.videos.root, self._base_dir)

    def output_dir(self) -> Path:
        return expand_path(self.output, self._base_dir)


def apply_overrides(
    raw: dict[str, Any], overrides: Sequence[str], schema: type[BaseModel] | None = None
) -> tuple[dict[str, Any], set[Loc], list[str]]:
    """Apply ``--set a.b.c=VALUE`` overrides to a copy of ``raw``: (new raw, keys changed,
    problems); ``raw`` is left alone. The one override parser: the manifest's ``--set`` and the
    ``train`` command's ``--head`` / ``--task`` (as ``train.head=...``) go through it.

    Keys are checked against ``schema`` (default: the :class:`Manifest`). VALUE is parsed with
    ``yaml.safe_load`` (``80`` -> int, ``[a, b]`` -> list, ``null`` -> None); for string keys
    (patterns, paths) the text is kept as written when YAML would make it something else.
    """
    out: dict[str, Any] = copy.deepcopy(raw)
    changed: set[Loc] = set()
    problems: list[str] = []
    for text in overrides:
        problem = config_errors.apply_override(schema or Manifest, out, text)
        if problem:
            problems.append(problem)
        else:
            changed.add(tuple(text.partition("=")[0].strip().split(".")))
    return out, changed, problems


#: the embedders a manifest gets when it names none under ``stages.embed`` (issue 25: a newcomer
#: gets per-frame features; cheap, no model file). A manifest that writes ``embed: {}`` gets none.
DEFAULT_EMBED: dict[str, dict[str, str]] = {"hog": {"type": "hog"},
                                            "geometry": {"type": "landmarks"}}


def with_defaults(raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(``raw`` with :data:`DEFAULT_EMBED` where ``stages.embed`` is not written, whether
    ``stages.split`` is written). Called after the profile is applied: a profile's split counts
    as asked for. A split nobody asked for is not required (it is reported, not an error)."""
    stages = raw.get("stages")
    if stages is None:
        stages = {}
    if not isinstance(stages, dict):
        return raw, True  # validation names it
    asked = "split" in stages
    if "embed" not in stages:
        raw = {**raw, "stages": {**stages, "embed": copy.deepcopy(DEFAULT_EMBED)}}
    return raw, asked


def manifest_problems(m: Manifest) -> list[str]:
    """Checks that span keys (pydantic checks each key alone): globs, fps, the naming rule."""
    v, problems = m.videos, []
    if (
        v.csv is not None and v.include
    ):  # include was set by hand: the preset's is only filled without csv
        problems.append("videos: expected either include (globs) or csv (a list), got both "
                        "(fix: remove one of videos.include / videos.csv)")
    if v.csv is None and not v.include:
        problems.append(
            "videos.include: expected at least one glob, got [] (fix: e.g. include: ['**/*.mp4'], "
            "or list the videos in videos.csv)"
        )
    for key in ("include", "exclude", "frames_glob"):
        value = getattr(v, key)
        for g in [value] if isinstance(value, str) else value or []:
            if not g or g.startswith(("/", "~")) or ".." in PurePosixPath(g).parts:
                problems.append(f"videos.{key}: expected globs relative to videos.root, got {g!r} "
                                f"(fix: move the folder part into videos.root)")
    if v.kind is VideoKind.FRAMES and v.fps is None:
        hint = PRESETS[m.labels.preset].fps_hint or "e.g. videos.fps: 30"
        problems.append(
            f"videos.fps: expected frames per second (a number > 0) for image-sequence folders, "
            f"got nothing (fix: {hint})"
        )
    return problems + rule_problems(m.labels)


def _drop(raw: Any, loc: tuple[Any, ...]) -> bool:
    """Remove the value at ``loc`` (as far as it exists) from ``raw``; False when nothing was."""
    cur = raw
    for part in loc[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            return False
    if isinstance(cur, dict) and loc and loc[-1] in cur:
        del cur[loc[-1]]
        return True
    return False


def _partial(raw: dict[str, Any], errors: list[ErrorDetails]) -> Manifest | None:
    """The manifest without the keys that failed, for the cross-key checks (the naming rule is
    checked even when other keys of ``videos:`` or ``labels:`` are wrong)."""
    raw = copy.deepcopy(raw)
    for _ in range(4):  # dropping a key can uncover another error below it
        for err in errors:
            loc = tuple(err["loc"])
            if not _drop(raw, trim_loc(err, raw)) and len(loc) > 1:
                _drop(raw, loc[:1])
        if not isinstance(raw.get("videos"), dict):
            raw["videos"] = {}
        try:
            return Manifest.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
    return None


def _keys_of(problems: list[str]) -> set[str]:
    """The dotted keys the problem lines start with (``videos.fps (line 3): ...``)."""
    return {p.split(" ", 1)[0].split(":", 1)[0] for p in problems}


def _validate(where: Where, source: str, base_dir: Path, problems: list[str],
              written: Any = None, resolved: bool = False) -> Manifest:
    """Validate ``where.raw`` (the manifest after ``--set``; ``written``: as the file has it,
    default the same) with the profile applied and switched backend sections adapted. A
    ``resolved`` one (a validated manifest dumped) had its profile applied when it was made: it
    is applied again only when ``--set`` names another profile."""
    raw = where.raw
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        problems.append(
            f"manifest: expected a mapping with videos:, labels:, stages:, output:, got {got} "
            f"(fix: `emoprep init FOLDER` writes one for a folder of videos)"
        )
        raise ConfigError(source, problems)
    try:
        if not resolved or ("profile",) in where.overridden:
            raw = apply_profile(raw, where.overridden)
        else:
            profile_of(raw)  # an unknown name is still an error
    except ConfigError as exc:
        problems += exc.problems
        raw = {k: v for k, v in raw.items() if k != "profile"}
    raw = adapt_family_sections(raw, where.raw if written is None else written)
    raw, split_asked = with_defaults(raw)
    m: Manifest | None
    try:
        m = Manifest.model_validate(raw)
    except ValidationError as exc:
        grouped: dict[tuple[Any, ...], list[ErrorDetails]] = {}
        for err in exc.errors():
            grouped.setdefault(trim_loc(err, raw), []).append(err)
        problems += [problem_line(Manifest, loc, errs, where) for loc, errs in grouped.items()]
        m = _partial(raw, exc.errors())
    if m is not None:
        bad = _keys_of(problems)
        problems += [
            with_where(p, where) for p in manifest_problems(m) if p.split(":", 1)[0] not in bad
        ]
    if problems:
        raise ConfigError(source, problems)
    assert m is not None
    if not split_asked:
        m.stages.split = m.stages.split.model_copy(update={"required": False})
    m._source, m._base_dir = source, base_dir
    return m


def manifest_from_dict(
    raw: dict[str, Any], source: str = "the manifest given as a dict",
    base_dir: Path | None = None, resolved: bool = False,
    overridden: set[Loc] | None = None, written: dict[str, Any] | None = None,
) -> Manifest:
    """Validate a parsed manifest; relative paths in it resolve against ``base_dir`` (default:
    cwd). ``resolved``: ``raw`` is a validated manifest dumped (its profile is not applied again
    unless ``overridden``, the ``--set`` keys, holds ``profile``); ``written``: ``raw`` before
    those overrides (default ``raw``)."""
    where = Where(raw=raw, overridden=set(overridden or ()))
    return _validate(where, source, Path(base_dir or Path.cwd()).absolute(), [], written,
                     resolved=resolved)


def read_utf8(path: Path, what: str) -> str:
    """The text of ``path``; a :class:`ConfigError` naming the file, the byte offset and the line
    when it is not UTF-8 (a UTF-8 byte-order mark is allowed)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 4]
        raise ConfigError(str(path), [
            f"{what} {path}: expected UTF-8 text, got byte {bad[:1].hex()} at byte offset "
            f"{exc.start} (line {line}: {bad!r}...) (fix: save the file as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > fixed_{path.name})"]) from None


def load_manifest(path: Path, overrides: Sequence[str] = ()) -> Manifest:
    """Read, override (``"stages.detect.min_size=80"``) and validate a manifest file.

    Raises :class:`ConfigError` once with every problem: YAML syntax (line, column), duplicate
    keys, unknown keys, bad values, bad overrides, cross-key problems of the naming rule.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(
            str(path),
            [
                f"manifest: expected a YAML file at {path.absolute()}, got nothing there "
                f"(fix: pass the right path with -m; `emoprep init FOLDER` writes one for a folder "
                f"of videos; `emoprep run FOLDER -o out` runs one without a manifest)"
            ],
        )
    where, problems = read_yaml(read_utf8(path, "manifest"))
    written = copy.deepcopy(where.raw)
    if isinstance(where.raw, dict) and overrides:
        where.raw, where.overridden, more = apply_overrides(where.raw, overrides)
        problems += more
    if problems and not isinstance(where.raw, dict):
        raise ConfigError(str(path), problems)
    return _validate(where, str(path), path.absolute().parent, problems, written)
