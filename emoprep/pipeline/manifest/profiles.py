"""Method profiles: ``profile:`` selects a documented, versioned set of manifest settings that
reproduces one source method (docs/METHODS.md has one table per profile, checked by a test).

A profile is a list of :class:`Rule` s, each a manifest key (dotted path from the manifest's root),
its value and where the source says so. :func:`apply_profile` fills the profile's values into a
raw (parsed, overridden, not yet validated) manifest wherever the user did not set the key: every
key the user wrote wins. Three refinements keep the result valid:

- a mapping value (``stages.split``) is one setting: it is filled only when the user wrote no
  such key at all, never merged key by key;
- a backend family section (``stages.detect`` on ``backend``, ``stages.au`` on ``source``) whose
  backend the user set to another one than the profile's gets none of the profile's keys;
- embedder rules (:attr:`Rule.embed_type`) apply to every embedder under ``stages.embed`` of that
  ``type`` the user declared (model weights are the user's to bring; a profile names none).

What a manifest cannot express (the export's padding rule, the weights to use) is in
:attr:`ProfileSpec.notes`. The sources (paths of the quote locations): *V* the video-FER thesis
(BU-4DFE), *V code* its code, *S* the multi-task real/fake emotion thesis (SASE-FE), *A* the
categorical/continuous FER thesis (AffectNet).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.profile_specs import (
    EMBED,
    NAMED_VALUES,
    PROFILES,
    Profile,
    ProfileSpec,
    Rule,
)

__all__ = ["NAMED_VALUES", "PROFILES", "Profile", "ProfileSpec", "Rule", "Setting",
           "apply_profile", "describe", "profile_of", "profile_settings", "render_table",
           "rule_value"]

#: manifest sections that are backend families: section path -> its tag key
FAMILIES: dict[str, str] = {"stages.detect": "backend", "stages.au": "source"}


_MISSING = object()


@dataclass(frozen=True)
class Setting:
    """One rule of the active profile as it ended up: the full key, the value in effect (None when
    the rule does not apply) and why (``profile``, ``your manifest``, or why it does not apply)."""

    key: str
    value: Any
    origin: str
    rule: Rule


def profile_of(raw: Mapping[str, Any], source: str = "manifest") -> Profile:
    """The ``profile:`` of a raw manifest (default ``emoprep``); ConfigError naming the choices."""
    value = raw.get("profile", Profile.EMOPREP.value)
    try:
        return Profile(value)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise ConfigError(source, [f"profile: expected one of {names}, got {value!r} (fix: e.g. "
                                   "profile: thesis-bu4dfe; docs/METHODS.md lists them)"]) from None


def rule_value(rule: Rule) -> Any:
    """The manifest value of ``rule`` (a named value such as ``bu4dfe_thesis_split()`` expanded)."""
    if isinstance(rule.value, str) and rule.value in NAMED_VALUES:
        return NAMED_VALUES[rule.value]()
    return copy.deepcopy(rule.value)


def apply_profile(raw_manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw manifest with its profile's values filled in where the user set nothing.

    ``raw_manifest`` is the parsed YAML after ``--set`` overrides, before validation; its
    ``profile`` key (kept in the result) names the profile. See the module docstring for mapping
    values, backend families and embedder rules. Raises ConfigError for an unknown profile.
    """
    out = copy.deepcopy(raw_manifest)
    spec = PROFILES[profile_of(out)]
    for rule in spec.rules:
        paths, _ = _targets(out, rule, spec)
        for path in paths:
            _fill(out, path, rule_value(rule))
    return out


def profile_settings(raw_manifest: Mapping[str, Any]) -> tuple[Profile, list[Setting]]:
    """The profile of a raw manifest and, per rule, the value in effect and where it comes from
    (for ``emoprep config show``)."""
    profile = profile_of(raw_manifest)
    spec, out = PROFILES[profile], []
    for rule in spec.rules:
        paths, why_not = _targets(raw_manifest, rule, spec)
        if not paths:
            out.append(Setting(rule.label, None, why_not, rule))
        for path in paths:
            mine = _get(raw_manifest, path)
            key = ".".join(path)
            if mine is _MISSING:
                out.append(Setting(key, rule_value(rule), "profile", rule))
            else:
                out.append(Setting(key, mine, "your manifest", rule))
    return profile, out


def describe(raw_manifest: Mapping[str, Any]) -> list[str]:
    """Text lines for ``emoprep config show``: the profile, its version, each setting and where
    it comes from, then the notes."""
    profile, settings = profile_settings(raw_manifest)
    spec = PROFILES[profile]
    lines = [f"profile {profile.value} (version {spec.version}): {spec.summary}"]
    for s in settings:
        value = "-" if s.value is None and s.origin not in ("profile", "your manifest") else \
            json.dumps(s.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        lines.append(f"  {s.key} = {value}  [{s.origin}; {s.rule.source}]")
    lines += [f"  note: {n}" for n in spec.notes]
    return lines


def render_table(profile: Profile) -> list[str]:
    """The METHODS.md table of a profile: rule | source | key | value (JSON, or a named value)."""
    lines = ["| rule | source | key | value |", "|---|---|---|---|"]
    for r in PROFILES[profile].rules:
        value = (
            r.value if isinstance(r.value, str) and r.value in NAMED_VALUES else json.dumps(r.value)
        )
        lines.append(f"| {r.rule} | {r.source} | `{r.label}` | `{value}` |")
    return lines


def _targets(
    raw: Mapping[str, Any], rule: Rule, spec: ProfileSpec
) -> tuple[list[tuple[str, ...]], str]:
    """The full paths ``rule`` fills in ``raw`` (none when it does not apply) and, if none, why."""
    if rule.embed_type is not None:
        embed = _get(raw, tuple(EMBED.split(".")))
        names = [n for n, c in embed.items() if isinstance(c, Mapping)
                 and c.get("type") == rule.embed_type] if isinstance(embed, Mapping) else []
        why = f"no embedder of type {rule.embed_type} under {EMBED}"
        return [(*EMBED.split("."), n, *rule.key.split(".")) for n in names], why
    for section, tag in FAMILIES.items():
        if rule.key.startswith(section + "."):
            mine = next((r.value for r in spec.rules if r.key == f"{section}.{tag}"), None)
            user = _get(raw, (*section.split("."), tag))
            if mine is not None and user is not _MISSING and user != mine:
                return [], f"not applied: your {section}.{tag} is {user!r}"
    return [tuple(rule.key.split("."))], ""


def _get(raw: Any, path: tuple[str, ...]) -> Any:
    node = raw
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _fill(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``path`` to ``value`` unless the user set it; empty (null) sections count as unset."""
    node = raw
    for part in path[:-1]:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            return  # the user wrote something else there: validation names it
        node = node[part]
    node.setdefault(path[-1], value)
