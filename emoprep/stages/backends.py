"""Backend families: a discriminated union of config classes, one per backend.

Four families share one convention: detectors (``stages.detect``), landmarks
(``stages.landmarks``), AU sources (``stages.au``) and embedders (``stages.embed``). Each has a
*tag* key (``backend``, ``backend``, ``source``, ``type``) whose value picks the config class. A
backend is one module of its family's package holding its config class and its implementation
(``make()`` / ``compute()`` are methods of the config; heavy libraries are imported inside them);
the family's ``__init__`` lists the config classes in one tuple, its registry, from which
:func:`family` builds the pydantic type: a missing tag takes the family default, and a key that
belongs to another backend of the family is an error naming that backend. A config class carries
its backend's facts (libraries, model files, the keys naming model paths), so no module branches
on the tag. See docs/ARCHITECTURE.md, "Backend families".
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, model_validator
from typing_extensions import Self

from emoprep.io.atomic import expand_path


class BackendConfig(BaseModel):
    """Base of every backend config: unknown keys are errors; siblings are named in the message."""

    model_config = ConfigDict(extra="forbid")

    #: the other config classes of the same family (set by :func:`family`)
    _siblings: ClassVar[tuple[type[BackendConfig], ...]] = ()
    #: the tag key of the family ("backend", "source", "type"), set by each family's base class
    _tag_key: ClassVar[str] = ""
    #: fingerprint key -> distribution whose version goes into the stage's fingerprint
    libraries: ClassVar[dict[str, str]] = {}
    #: keys naming model files or folders; a relative value is taken against the manifest's
    #: folder (:meth:`resolve_paths`), the same way in every family
    path_keys: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _foreign_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls._siblings:
            return data
        own = set(cls.model_fields)
        tag = getattr(cls.model_fields[cls._tag_key].default, "value",
                      cls.model_fields[cls._tag_key].default)
        problems = []
        for key in data:
            if key in own:
                continue
            owners = [s.tag_value() for s in cls._siblings if key in s.model_fields]
            if owners:
                problems.append(f"key {key!r} belongs to {cls._tag_key} {' / '.join(owners)}, "
                                f"not {tag!r}; valid keys: {', '.join(sorted(own))}")
            else:
                problems.append(f"unknown key {key!r} for {cls._tag_key} {tag!r}; "
                                f"valid keys: {', '.join(sorted(own))}")
        if problems:
            raise ValueError("; ".join(problems))
        return data

    @classmethod
    def tag_value(cls) -> str:
        default = cls.model_fields[cls._tag_key].default
        return str(getattr(default, "value", default))

    def model_files(self) -> list[Path]:
        """Model files whose content the backend's output depends on (their sha256 goes in the
        fingerprint); ModelFileError naming the file and the fix when one is missing."""
        return []

    def resolve_paths(self, base_dir: Path) -> Self:
        """A copy whose :attr:`path_keys` values are absolute: ``~`` and ``$VARS`` expanded, a
        relative path taken against ``base_dir`` (the manifest's folder); a str stays a str."""
        update = {}
        for key in self.path_keys:
            value = getattr(self, key)
            if value is None:
                continue
            path = self.resolve_path(key, value, base_dir)
            if str(path) != str(value):
                update[key] = str(path) if isinstance(value, str) else Path(path)
        return self.model_copy(update=update) if update else self

    def resolve_path(self, key: str, value: str | Path, base_dir: Path) -> str | Path:
        """Where the value of path key ``key`` points (overridden where a key also takes a name,
        like ``detect.cascade``)."""
        return expand_path(value, base_dir)


def tag_enum(name: str, classes: tuple[type[BackendConfig], ...], doc: str) -> Any:
    """A str Enum of the tags of ``classes`` (``HAAR = "haar"``, ...) with docstring ``doc``."""
    names = Enum(name, {c.tag_value().upper(): c.tag_value() for c in classes}, type=str)
    names.__doc__ = doc
    return names


def family(tag_key: str, default: str | None, *classes: type[BackendConfig]) -> Any:
    """``Annotated[A | B | ..., Discriminator]`` over ``classes`` keyed by ``tag_key``.

    ``default``: the tag a mapping without ``tag_key`` takes; None makes the key required.
    """
    for cls in classes:
        if cls._tag_key != tag_key:
            raise TypeError(f"{cls.__name__}: tag key {cls._tag_key!r}, family uses {tag_key!r}")
        cls._siblings = tuple(c for c in classes if c is not cls)

    def pick(value: Any) -> str | None:
        raw = (
            value.get(tag_key, default)
            if isinstance(value, dict)
            else getattr(value, tag_key, default)
        )
        raw = getattr(raw, "value", raw)
        return None if raw is None else str(raw)

    members = tuple(Annotated[c, Tag(c.tag_value())] for c in classes)
    return Annotated[Union[members], Discriminator(pick)]  # noqa: UP007 - a runtime tuple
