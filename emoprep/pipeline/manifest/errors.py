"""Manifest problem lines: ``--set`` overrides and pydantic errors in words (lines: yaml_lines).

Each problem is one line, ``<key> (line N): expected <what>, got <value> (fix: <how>)``; the schema
(the root model, e.g. :class:`~emoprep.pipeline.manifest.Manifest`) is passed in, so this module
does not import the manifest.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from emoprep.pipeline.manifest.yaml_lines import Where

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


def _keys(tp: Any) -> list[str]:
    """The keys a model (or a family of backend models, first member first) accepts."""
    tp = _unwrap(tp)
    if _is_model(tp):
        return list(tp.model_fields)
    keys: dict[str, None] = {}
    if get_origin(tp) in (Union, types.UnionType):
        for member in map(_unwrap, get_args(tp)):
            keys.update(dict.fromkeys(_keys(member)))
    return list(keys)


def _child(tp: Any, part: str) -> tuple[Any, FieldInfo | None] | None:
    """(type, field info) one key below ``tp``; None when ``tp`` is a model without that key."""
    tp = _unwrap(tp)
    if _is_model(tp):
        info = tp.model_fields.get(part)
        return None if info is None else (info.annotation, info)
    if get_origin(tp) is dict:
        return get_args(tp)[1], None
    if get_origin(tp) in (Union, types.UnionType):  # a backend family: the member with that key
        for member in map(_unwrap, get_args(tp)):
            if _is_model(member) and part in member.model_fields:
                info = member.model_fields[part]
                return info.annotation, info
        if all(_is_model(_unwrap(m)) for m in get_args(tp)):
            return None
    return Any, None


def _field_at(schema: type[BaseModel], loc: Sequence[Any]) -> tuple[Any, FieldInfo | None]:
    tp: Any = schema
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
             "dict_type": "a mapping", "model_type": "a mapping",
             "list_type": "a list"}  # fmt: skip


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


def _tags(tp: Any) -> tuple[str, list[str]]:
    """(tag key, tag values) of a backend family (``type`` of embedders, ``backend`` of
    detectors)."""
    members = [m for m in map(_unwrap, get_args(_unwrap(tp))) if _is_model(m)]
    key = next((getattr(m, "_tag_key", "") for m in members if getattr(m, "_tag_key", "")), "type")
    return key, [str(m.tag_value()) for m in members if hasattr(m, "tag_value")]


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


def _override_target(
    schema: type[BaseModel], parts: list[str], text: str
) -> tuple[Any, str | None]:
    """(type hint of the key, problem): unknown keys get a difflib "did you mean"."""
    tp: Any = schema
    for i, part in enumerate(parts):
        got = _child(tp, part)
        if got is None:
            options = _keys(tp)
            close = difflib.get_close_matches(part, options, n=1)
            hint = (
                f"did you mean {'.'.join([*parts[:i], close[0]])!r}?"
                if close
                else "check the spelling;"
            )
            return Any, (
                f"--set {text!r}: unknown key {part!r} in {'.'.join(parts[:i]) or 'the manifest'}, "
                f"expected one of {', '.join(options)} (fix: {hint} see docs/MANIFEST.md)"
            )
        tp = got[0]
    return tp, None


def _parse_value(value: str, tp: Any) -> tuple[Any, str | None]:
    """YAML-parse an override value; string keys keep the text as written when YAML would not."""
    try:
        parsed: Any = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        if _unwrap(tp) is str:
            return value, None
        return (
            None,
            f"expected a YAML value, got {value!r} ({getattr(exc, 'problem', exc)}) (fix: quote "
            "it)",
        )
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
            return (f"{'.'.join(parts[: i + 1])} is {nxt!r}, not a mapping (fix: fix it in the "
                    "file first)")
        cur = nxt
    cur[parts[-1]] = value
    return None


def apply_override(schema: type[BaseModel], raw: dict[str, Any], text: str) -> str | None:
    """Apply one ``a.b.c=VALUE`` to ``raw`` in place, its key checked against ``schema``; the
    problem, or None (:func:`emoprep.pipeline.manifest.schema.apply_overrides` applies a list)."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        return (
            f"--set {text!r}: expected KEY=VALUE with a dotted key, got no '=' or an empty key "
            "part "
            f"(fix: e.g. --set stages.detect.min_size=80)"
        )
    tp, problem = _override_target(schema, parts, text)
    if problem:
        return problem
    parsed, problem = _parse_value(value, tp)
    problem = problem or _put(raw, parts, parsed)
    return f"--set {text!r}: {problem}" if problem else None


def trim_loc(err: Mapping[str, Any], raw: Any) -> tuple[Any, ...]:
    """The part of an error's location that exists in the input (drops union tags like 'str')."""
    loc = err["loc"][:-1] if err["type"] == "missing" else err["loc"]
    kept, cur = [], raw
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        elif isinstance(cur, dict) and i + 1 < len(loc) and loc[i + 1] in cur:
            continue  # a union tag ("haar") between a key and its value
        else:
            break
        kept.append(part)
    return (*kept, err["loc"][-1]) if err["type"] == "missing" else tuple(kept)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem_line(
    schema: type[BaseModel], loc: tuple[Any, ...], errs: Sequence[Mapping[str, Any]], where: Where
) -> str:
    """One line for every pydantic error at one key of ``schema`` (the root model)."""
    key = ".".join(str(p) for p in loc) or "manifest"
    head, err, last = f"{key}{where.of(loc)}", errs[0], str(loc[-1]) if loc else ""
    tp, info = _field_at(schema, loc)
    if err["type"] == "missing":
        parent = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return (f"{head}: expected {_type_words(tp) or 'a value'}, got nothing (fix: add {last}: "
                f"under {parent})")
    if err["type"] == "extra_forbidden":
        options = _keys(_field_at(schema, loc[:-1])[0])
        close = difflib.get_close_matches(last, options, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it;"
        return (f"{head}: unknown key, expected one of {', '.join(options)} (fix: {hint} see "
                "docs/MANIFEST.md)")
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        key, values = _tags(tp)
        tags = ", ".join(values) or "see docs"
        found = (
            f"{key} {err['ctx']['tag']!r}"
            if err["type"] == "union_tag_invalid"
            else f"no {key} key"
        )
        return (f"{head}: expected a mapping with {key}: one of {tags}, got {found} "
                f"(fix: set {key}: to one of those)")
    if err["type"] in ("value_error", "assertion_error"):
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{head}: {msg} (fix: {_unknown_key_hint(msg) or 'change the values named here'})"
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


_UNKNOWN_KEY = re.compile(r"unknown key '([^']+)'.*valid keys: ([\w, ]+)")


def _unknown_key_hint(msg: str) -> str:
    """A backend family's "unknown key 'x' ...; valid keys: a, b" message: did you mean?"""
    m = _UNKNOWN_KEY.search(msg)
    if not m:
        return ""
    close = difflib.get_close_matches(m.group(1), [k.strip() for k in m.group(2).split(",")], n=1)
    return f"did you mean {close[0]!r}? see docs/MANIFEST.md" if close else ""


def with_where(line: str, where: Where) -> str:
    """Add ``(line N)`` to a problem that starts with a known dotted key."""
    key, sep, rest = line.partition(": ")
    if sep and " " not in key and "(" not in key:
        return f"{key}{where.of(key.split('.'))}: {rest}"
    return line
