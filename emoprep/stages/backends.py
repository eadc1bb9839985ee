"""Backend families: a discriminated union of config classes, one per backend.

Each family (detectors, AU sources, embedders) has a *tag* key (``backend``, ``source``,
``type``) whose value picks the config class. A config class carries its backend's facts
(version, libraries, model files, a lazily imported factory), so no module branches on the tag.
:func:`family` builds the pydantic type: a missing tag takes the family default, and a key that
belongs to another backend of the family is an error naming that backend.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, model_validator


class BackendConfig(BaseModel):
    """Base of every backend config: unknown keys are errors; siblings are named in the message."""

    model_config = ConfigDict(extra="forbid")

    #: the other config classes of the same family (set by :func:`family`)
    _siblings: ClassVar[tuple[type[BackendConfig], ...]] = ()
    #: the tag key of the family ("backend", "source", "type"), set by each family's base class
    _tag_key: ClassVar[str] = ""

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
