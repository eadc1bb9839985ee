"""Engine defaults of manifest keys, and the rule "a value equal to the default is not a choice".

A manifest may spell out every key at its default (the repository's ``data_manifest.yaml`` does, as
the reference; ``emoprep init`` writes a commented one). Such a value says nothing the engine
would not do anyway, so two places treat it as unwritten:

- a profile's rule (:mod:`emoprep.pipeline.manifest.profiles`) is overridden only by a manifest
  value that differs from the engine default, or by a ``--set`` (which always wins);
- when ``--set`` or a profile switches the backend of a family section (``stages.detect``,
  ``stages.landmarks``, ``stages.au``, each ``stages.embed.<name>``), the section's keys that
  hold the defaults of the backend the file names are dropped (``--set
  stages.detect.backend=blazeface`` on a manifest that spells out Haar's ``cascade`` and
  ``min_size: 60``: BlazeFace gets its own ``min_size``); a key set to anything else stays, and
  one the new backend does not have is an error naming its backend.

Defaults are those of the config classes, with each family section's class picked by the tag
the raw manifest holds there (the family default when it holds none).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.manifest.train_section import TrainConfig
from emoprep.stages.backends import BackendConfig
from emoprep.stages.embed import EMBEDDERS

#: the value of a key that has no default (or no such key)
MISSING: Any = object()

#: the manifest's sections that have engine defaults (the others are the dataset's description)
ROOTS: dict[str, type[BaseModel]] = {"stages": StagesConfig, "train": TrainConfig}

#: the embedder section: a mapping of names to configs of the ``type`` family
_EMBED = ("stages", "embed")


def lookup(raw: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` of nested mappings, or :data:`MISSING`."""
    node = raw
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def _members(cls: type[BaseModel]) -> tuple[type[BackendConfig], ...]:
    """The config classes of ``cls``'s backend family (empty when it is not a family member)."""
    if isinstance(cls, type) and issubclass(cls, BackendConfig) and cls._siblings:
        return (cls, *cls._siblings)
    return ()


def _chosen(cls: type[BaseModel], raw: Any, section: tuple[str, ...]) -> type[BaseModel]:
    """The family member the raw manifest's tag at ``section`` picks (``cls`` when none)."""
    members = _members(cls)
    if not members:
        return cls
    tag = lookup(raw, (*section, members[0]._tag_key))
    return next((m for m in members if m.tag_value() == tag), cls)


def _embedder_class(raw: Any, name: str) -> type[BaseModel] | None:
    tag = lookup(raw, (*_EMBED, name, "type"))
    return next((c for c in EMBEDDERS if c.tag_value() == tag), None)


def section_class(raw: Any, path: tuple[str, ...]) -> type[BaseModel] | None:
    """The config class of the section at ``path`` (None for a value or an unknown path)."""
    if not path or path[0] not in ROOTS:
        return None
    cls: type[BaseModel] | None = ROOTS[path[0]]
    for i, part in enumerate(path[1:], 1):
        if cls is None:
            return None
        if path[:i] == _EMBED:
            cls = _embedder_class(raw, part)
            continue
        field = cls.model_fields.get(part)
        if field is None or field.is_required():
            return None
        value = field.get_default(call_default_factory=True)
        cls = _chosen(type(value), raw, path[: i + 1]) if isinstance(value, BaseModel) else None
    return cls


def default_at(raw: Any, path: tuple[str, ...]) -> Any:
    """The engine default at ``path`` as JSON data (a section: all its defaults), or MISSING."""
    if not path:
        return MISSING
    cls = section_class(raw, path)
    if cls is not None:
        fields = cls.model_fields.items()
        return {k: to_jsonable_python(f.get_default(call_default_factory=True))
                for k, f in fields if not f.is_required()}
    parent = section_class(raw, path[:-1])
    if parent is not None and _members(parent) and path[-1] == _tag(parent):
        family_default = section_class({}, path[:-1])  # the tag's default is the family's
        return cast(Any, family_default).tag_value() if family_default is not None else MISSING
    field = parent.model_fields.get(path[-1]) if parent is not None else None
    if field is None or field.is_required():
        return MISSING
    return to_jsonable_python(field.get_default(call_default_factory=True))


def is_default(value: Any, default: Any) -> bool:
    """Whether ``value`` (raw YAML data) says nothing beyond ``default``: equal as JSON data; a
    mapping when each key it writes is at its default."""
    if default is MISSING:
        return False
    if isinstance(value, Mapping) and isinstance(default, Mapping):
        return all(k in default and is_default(v, default[k]) for k, v in value.items())
    try:
        return bool(to_jsonable_python(value) == default)
    except Exception:  # a value JSON cannot hold is not a default
        return False


def tuned(raw: Any, path: tuple[str, ...]) -> bool:
    """Whether the section at ``path`` writes a key other than its tag at a non-default value
    (the backend it names is then a choice, even when the tag itself is the default)."""
    section, cls = lookup(raw, path), section_class(raw, path)
    if not isinstance(section, Mapping) or cls is None:
        return False
    tag = _tag(cls) if _members(cls) else None
    return any(k != tag and not is_default(v, default_at(raw, (*path, k)))
               for k, v in section.items())


def family_sections(raw: Any) -> list[tuple[str, ...]]:
    """Paths of the backend family sections the raw manifest writes."""
    paths: list[tuple[str, ...]] = [("stages", s) for s in ("detect", "landmarks", "au")]
    embed = lookup(raw, _EMBED)
    if isinstance(embed, Mapping):
        paths += [(*_EMBED, str(n)) for n, c in embed.items() if isinstance(c, Mapping)]
    return [p for p in paths if isinstance(lookup(raw, p), Mapping)]


def adapt_family_sections(raw: dict[str, Any], written: Any) -> dict[str, Any]:
    """A copy of ``raw`` whose family sections, where ``--set`` or a profile switched the backend
    (``written``: the manifest as the file has it), are rid of the keys that hold the file
    backend's defaults: they were not chosen for the new backend."""
    raw = copy.deepcopy(raw)
    for path in family_sections(raw):
        cls, was = section_class(raw, path), section_class(written, path)
        if cls is None or was is None or cls is was or not _members(cls):
            continue
        section = lookup(raw, path)
        for key in [k for k in section if k != _tag(cls) and k in was.model_fields]:
            if _is_member_default(was, key, section[key]):
                del section[key]
    return raw


def _tag(cls: type[BaseModel]) -> str:
    """The key naming a family section's backend (``backend``, ``source``, ``type``)."""
    return str(cast(Any, cls)._tag_key)


def _is_member_default(cls: type[BaseModel], key: str, value: Any) -> bool:
    field = cls.model_fields[key]
    if field.is_required():
        return False
    return is_default(value, to_jsonable_python(field.get_default(call_default_factory=True)))
