"""Option types and error handling shared by the command modules.

Exit codes: 0 ok; 1 some videos or units failed; 2 a usage or configuration error (bad option,
invalid manifest, missing model file); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from emoprep.cli.render import Verbosity
from emoprep.errors import ConfigError, EmoprepError, ModelFileError
from emoprep.pipeline.manifest.profiles import Profile

if TYPE_CHECKING:
    from emoprep.pipeline.manifest import Manifest

EXIT_FAILED, EXIT_USAGE = 1, 2


def _flag(option: Any) -> Any:
    """``--help`` is a flag: typer (0.29) gives its help option no metavar, so the help shows
    ``<bool>`` after it; an empty metavar, as the other flags have, leaves the type column blank."""
    if option is not None:
        option.metavar = ""
    return option


class Command(TyperCommand):
    """The class of every emoprep command (``@app.command(cls=Command)``)."""

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))


class Group(TyperGroup):
    """The class of every emoprep command group (``typer.Typer(cls=Group)``)."""

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))


class ExportFormat(str, Enum):
    """What ``emoprep export`` writes."""

    H5 = "h5"  #: padded sequences of one store, one HDF5 file per part (docs/STORE.md)
    CSV = "csv"  #: one OpenFace-like CSV per video, one row per frame (emoprep.export.frame_csv)


ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="data manifest (YAML)")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="output folder (default: the manifest's output)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="override a manifest value for this command only (not "
    "saved: a later run without it uses the manifest's value); repeatable")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="machine-readable output")]
ProfileOpt = Annotated[Profile | None, typer.Option(
    metavar="PROFILE", help="method profile, one of " + ", ".join(p.value for p in Profile)
    + " (docs/METHODS.md); wins over the manifest's profile:")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", metavar="",
                                        help="print the summary only")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", metavar="",
                                          help="also list every finished unit")]


def check_sets(sets: list[str] | None) -> None:
    """``--set`` values must be KEY=VALUE: ``--set k 80`` would take ``80`` for a video path."""
    bad = [s for s in sets or () if "=" not in s]
    if bad:
        raise typer.BadParameter(f"expected KEY=VALUE, got {bad[0]!r} (fix: write --set "
                                 f"{bad[0]}=VALUE, with '=' and no space)", param_hint="--set")


def with_profile(sets: list[str] | None, profile: Profile | None) -> list[str]:
    """``--set`` values with ``--profile`` as the last one (so it wins over the manifest's)."""
    return [*(sets or ()), *([f"profile={profile.value}"] if profile else [])]


def verbosity(quiet: bool, verbose: bool) -> Verbosity:
    return Verbosity.QUIET if quiet else Verbosity.VERBOSE if verbose else Verbosity.NORMAL


def terminal_width() -> int | None:
    """The terminal's width when stdout is one (long reasons are cut to it), else None."""
    import shutil
    import sys

    return shutil.get_terminal_size().columns - 60 if sys.stdout.isatty() else None


#: values a user may give a flag by mistake (``--dry-run true``)
_FLAG_WORDS = {"true", "false", "yes", "no", "1", "0", "on", "off"}


def quick_manifest(videos: list[Path], out: Path | None) -> Manifest:
    """The manifest of the quick start: video files and folders of videos given on the command
    line, every default except that the window keeps every frame (``stages.window.mode: all``, as
    OpenFace and py-feat do), each file its own subject (ids from the relative paths), output
    ``out`` (default ./out), a 2-fold split when there are videos enough for one (reported as
    unavailable otherwise). Folders are searched for the generic preset's video suffixes, in any
    case."""
    import glob

    from emoprep.pipeline.manifest import manifest_from_dict
    from emoprep.pipeline.manifest.presets import PRESETS, Preset

    paths = [p.expanduser().absolute() for p in videos]
    missing = [p for p in paths if not p.exists()]
    if missing:
        flag = next((p.name for p in missing if p.name.lower() in _FLAG_WORDS), None)
        hint = (f" (fix: flags such as --dry-run take no value: leave out {flag!r})" if flag
                else " (fix: pass existing video files or folders of videos)")
        raise typer.BadParameter(f"no such file or folder: {', '.join(map(str, missing))}{hint}",
                                 param_hint="VIDEOS")
    root = Path(os.path.commonpath([str(p if p.is_dir() else p.parent) for p in paths]))
    include: list[str] = []
    for p in paths:
        rel = glob.escape(p.relative_to(root).as_posix())
        if p.is_dir():
            include += [g if rel == "." else f"{rel}/{g}" for g in PRESETS[Preset.GENERIC].include]
        else:
            include.append(rel)
    split = {"folds": 2, "test_fraction": 0.0, "required": False}
    raw = {"videos": {"root": str(root), "include": include},
           "stages": {"split": split, "window": {"mode": "all"}},
           "output": str((out or Path("out")).absolute())}
    shown = " ".join(str(v) for v in videos)
    return manifest_from_dict(raw, f"the quick start's settings (emoprep run {shown})")


def manifest_or_saved(manifest: Path, out: Path | None) -> Path | Manifest:
    """``manifest`` when it exists; else, with ``--out``, the manifest the last run of that
    folder saved (a quick start has no manifest file); else ``manifest`` (its error says so)."""
    if out is None or manifest.expanduser().is_file():
        return manifest
    import json

    from emoprep.pipeline.manifest import manifest_from_dict
    from emoprep.pipeline.outcome import SAVED_BY, USED_MANIFEST

    saved = out.expanduser() / ".emoprep" / USED_MANIFEST
    try:
        data = json.loads(saved.read_text(encoding="utf-8"))
        raw, source = data["manifest"], str(data["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return manifest
    return manifest_from_dict(raw, f"{source}{SAVED_BY}{saved}",
                              saved.parent.parent.absolute(), resolved=True)


def colour() -> bool:
    """Colours only on a terminal and when NO_COLOR is not set (https://no-color.org)."""
    return "NO_COLOR" not in os.environ


def fail(exc: EmoprepError) -> NoReturn:
    """Print a domain error without a traceback and exit: the error's ``exit_code`` when it has
    one (an unreachable dask scheduler: 2), 2 for configuration, 1 otherwise."""
    code = EXIT_USAGE if isinstance(exc, ConfigError | ModelFileError) else EXIT_FAILED
    code = int(getattr(exc, "exit_code", code))
    typer.secho(f"error: {exc}", fg=typer.colors.RED if colour() else None, err=True)
    raise typer.Exit(code)
