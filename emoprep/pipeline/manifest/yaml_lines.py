"""Reading a manifest's YAML once, keeping the line of every key (for problem lines).

:func:`read_yaml` parses with libyaml's safe loader where the wheel has it, refuses alias bombs
before building values and reports duplicate keys; :class:`Where` maps each key to its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Loc = tuple[str, ...]


@dataclass
class Where:
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


def _walk_nodes(
    node: yaml.Node, path: Loc, where: Where, problems: list[str], depth: int = 0
) -> None:
    """Record the line of every key; report duplicate keys (YAML keeps the last one silently)."""
    if depth > 32:
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = path + (str(key_node.value),)
            if key in where.lines and key_node.value != "<<":
                problems.append(
                    f"{'.'.join(key)} (line {key_node.start_mark.line + 1}): duplicate key, "
                    f"first on line {where.lines[key]} (fix: keep one; YAML keeps the last "
                    "silently)"
                )
            where.lines.setdefault(key, key_node.start_mark.line + 1)
            _walk_nodes(value, key, where, problems, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            where.lines.setdefault(path + (str(i),), item.start_mark.line + 1)
            _walk_nodes(item, path + (str(i),), where, problems, depth + 1)


#: most values a manifest may expand to (aliases counted at every use): refuses alias bombs
MAX_YAML_VALUES = 100_000


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Values ``root`` stands for with every alias expanded (counting stops past ``limit``);
    ``limit + 1`` also for a node that contains itself."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node, path: frozenset[int]) -> int:
        if id(node) in memo:
            return memo[id(node)]
        if id(node) in path:
            return limit + 1
        inner = path | {id(node)}
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, inner) + size(v, inner)
                if total > limit:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, inner)
                if total > limit:
                    break
        memo[id(node)] = total
        return total

    return size(root, frozenset())


#: libyaml's parser when the wheel has it (several times faster), else the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _syntax_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    what = " ".join(
        str(x)
        for x in (getattr(exc, "problem", None) or exc, getattr(exc, "context", None) or "")
        if x
    )
    return (f"{at}: expected valid YAML, got a syntax error: {what} (fix: check indentation "
            f"and quoting there; quote values that contain ': ' or start with [ {{ * & %)")


def read_yaml(text: str) -> tuple[Where, list[str]]:
    """Parse a manifest: (the values with their lines, problems). Parsed once; aliases that
    expand past :data:`MAX_YAML_VALUES` values (or into themselves) are refused before any
    value is built."""
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, MAX_YAML_VALUES) > MAX_YAML_VALUES:
            return Where(), [f"manifest: expected at most {MAX_YAML_VALUES} values, got YAML "
                             "aliases (*name) that expand to more, or into themselves (fix: "
                             "write the values out instead of nesting aliases)"]
        where = Where(raw=None if node is None else loader.construct_document(node))
    except yaml.YAMLError as exc:
        return Where(), [_syntax_problem(exc)]
    except RecursionError:
        return Where(), ["manifest: expected at most 500 levels of nesting, got more (fix: "
                         "flatten the YAML)"]
    finally:
        loader.dispose()
    problems: list[str] = []
    if node is not None:
        _walk_nodes(node, (), where, problems)
    return where, problems
