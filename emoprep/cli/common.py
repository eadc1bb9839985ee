"""Option types and error handling shared by the command modules.

Exit codes: 0 ok; 1 some videos or units failed; 2 a usage or configuration error (bad option,
invalid manifest, missing model file); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from emoprep.errors import ConfigError, EmoprepError, ModelFileError

EXIT_FAILED, EXIT_USAGE = 1, 2

ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="data manifest (YAML)")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="output folder (default: the manifest's output)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a manifest value: KEY=VALUE (repeatable)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def colour() -> bool:
    """Colours only on a terminal and when NO_COLOR is not set (https://no-color.org)."""
    return "NO_COLOR" not in os.environ


def fail(exc: EmoprepError) -> NoReturn:
    """Print a domain error without a traceback and exit: 2 for configuration, 1 otherwise."""
    code = EXIT_USAGE if isinstance(exc, ConfigError | ModelFileError) else EXIT_FAILED
    typer.secho(f"error: {exc}", fg=typer.colors.RED if colour() else None, err=True)
    raise typer.Exit(code)
