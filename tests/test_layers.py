"""The layers of docs/ARCHITECTURE.md hold: no module imports a layer its row does not allow.

The table under "## Layers" is read here and is the only statement of the rule: its rows run
from the top layer down; a row's modules are the backticked paths of its second column (a folder
ends in ``/``); its third column lists the layers it may import (or ``nothing``). Every import is
counted, lazy ones inside functions and ``if TYPE_CHECKING:`` ones included, so an inversion
cannot hide in a function body.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).parents[1]


@dataclass(frozen=True)
class Layer:
    name: str
    paths: tuple[str, ...]  #: repository-relative files, or folders ending in "/"
    may_import: frozenset[str]


def read_layers(doc: Path) -> list[Layer]:
    """The rows of the table under "## Layers" in ``doc``, top layer first."""
    text = doc.read_text(encoding="utf-8").split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]  # header, rule
    layers = []
    for row in rows:
        name, modules, allowed = (c.strip() for c in row.strip("|").split("|"))
        names = [] if allowed == "nothing" else [a.strip() for a in allowed.split(",")]
        layers.append(Layer(name, tuple(re.findall(r"`([^`]+)`", modules)), frozenset(names)))
    return layers


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported_modules(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``path`` (module ``module``) imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def layer_of(path: Path, root: Path, layers: list[Layer]) -> list[Layer]:
    """The layers whose paths hold ``path`` (the longest matching path wins)."""
    rel = path.relative_to(root).as_posix()
    best = max((len(p) for lay in layers for p in lay.paths
                if rel == p or (p.endswith("/") and rel.startswith(p))), default=0)
    return [lay for lay in layers for p in lay.paths if len(p) == best and
            (rel == p or (p.endswith("/") and rel.startswith(p)))]


def layer_violations(root: Path, package: str, layers: list[Layer]) -> list[str]:
    """Every import that crosses into a layer its importer's row does not allow, and every module
    that is in no layer or in two."""
    modules = module_files(root, package)
    owner, problems = {}, []
    for name, path in modules.items():
        found = layer_of(path, root, layers)
        if len(found) != 1:
            problems.append(f"{path.relative_to(root)}: in {len(found)} layers "
                            f"({', '.join(x.name for x in found) or 'none'}); expected one row "
                            "of the table to list it")
        else:
            owner[name] = found[0]
    for name, path in modules.items():
        src = owner.get(name)
        for target in sorted(imported_modules(path, name, modules)):
            dst = owner.get(target)
            if src and dst and dst is not src and dst.name not in src.may_import:
                problems.append(f"{path.relative_to(root)} ({src.name}) imports {target} "
                                f"({dst.name}); {src.name} may import: "
                                f"{', '.join(sorted(src.may_import)) or 'nothing'}")
    return problems


def test_table_runs_downwards() -> None:
    """A layer may import only layers listed below it, so the table itself has no cycle."""
    layers = read_layers(REPO / "docs" / "ARCHITECTURE.md")
    names = [lay.name for lay in layers]
    assert len(layers) >= 5 and len(set(names)) == len(names), names
    for i, lay in enumerate(layers):
        assert lay.may_import <= set(names[i + 1:]), (lay.name, sorted(lay.may_import))


def test_no_layer_inversion() -> None:
    layers = read_layers(REPO / "docs" / "ARCHITECTURE.md")
    problems = layer_violations(REPO, "emoprep", layers)
    assert problems == [], "\n".join(problems)


def test_checker_finds_lazy_and_type_checking_inversions(tmp_path: Path) -> None:
    """The checker itself: an upward import inside a function, one under TYPE_CHECKING, a
    relative one, and a module no row lists are each reported; downward imports are not."""
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "high.py").write_text("from pkg.low import base\n")
    (pkg / "low" / "base.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import X\n")
    (pkg / "low" / "lazy.py").write_text("def f():\n    from .. import high\n    return high\n")
    (pkg / "stray.py").write_text("")
    layers = [Layer("top", ("pkg/high.py", "pkg/__init__.py"), frozenset({"bottom"})),
              Layer("bottom", ("pkg/low/",), frozenset())]
    assert layer_violations(tmp_path, "pkg", layers) == [
        "pkg/stray.py: in 0 layers (none); expected one row of the table to list it",
        "pkg/low/base.py (bottom) imports pkg.high (top); bottom may import: nothing",
        "pkg/low/lazy.py (bottom) imports pkg.high (top); bottom may import: nothing",
    ]
