"""Method profiles: ``profile:`` selects a documented, versioned set of manifest settings that
reproduces one source method (docs/METHODS.md has one table per profile, checked by a test).

A profile is a list of :class:`Rule` s, each a manifest key (dotted path from the manifest's root),
its value and where the source says so. :func:`apply_profile` fills the profile's values into a
raw (parsed, overridden, not yet validated) manifest wherever the user chose no value: a key given
with ``--set`` always wins; a key written in the manifest wins when its value differs from the
engine default (a manifest that spells out every default, like the repository's reference
``data_manifest.yaml``, cancels no profile; :mod:`~emoprep.pipeline.manifest.defaults`). To keep a
default against a profile, give it with ``--set`` or leave ``profile:`` out. Three refinements:

- a mapping value (``stages.split``) is one setting: it is filled only when the user chose no
  such key (each key written at its default, none set), never merged key by key;
- a backend family section (``stages.detect`` on ``backend``, ``stages.au`` on ``source``) whose
  backend the user chose to be another one than the profile's gets none of the profile's keys;
  a backend written at the default counts as chosen when the section also sets one of its keys
  to a non-default value (``au: {source: landmarks, neutral_fraction: 0.2}``);
- embedder rules (:attr:`Rule.embed_type`) apply to every embedder under ``stages.embed`` of that
  ``type`` the user declared (model weights are the user's to bring; a profile names none).

What a manifest cannot express (fine-tuning, the weights to use, what the trainer cannot do) is in
:attr:`ProfileSpec.notes`. Sources: the documents of ../shared/seeds by number (000 SASE-FE, 003
BU-4DFE, 004 AffectNet) with their section, table, figure or equation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.defaults import MISSING, default_at, is_default, lookup, tuned
from emoprep.pipeline.manifest.profile_specs import (
    EMBED,
    NAMED_VALUES,
    PROFILES,
    Profile,
    ProfileSpec,
    Rule,
)

__all__ = ["NAMED_VALUES", "PROFILES", "Profile", "ProfileSpec", "Rule", "Setting",
           "SILENT", "UNCLEAR", "apply_profile", "describe", "profile_of", "profile_settings",
           "render_table", "rule_value"]

#: manifest sections that are backend families: section path -> its tag key
FAMILIES: dict[str, str] = {"stages.detect": "backend", "stages.au": "source"}


@dataclass(frozen=True)
class Setting:
    """One rule of the active profile as it ended up: the full key, the value in effect (None when
    the rule does not apply) and why: ``profile``, ``profile; your manifest's X is the default``,
    ``your manifest``, ``--set``, or why it does not apply."""

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


#: paths given on the command line (``--set a.b=V`` -> ``("a", "b")``)
SetKeys = frozenset[tuple[str, ...]] | set[tuple[str, ...]]


def apply_profile(raw_manifest: dict[str, Any], set_keys: SetKeys = frozenset()) -> dict[str, Any]:
    """A copy of the raw manifest with its profile's values filled in where the user chose none.

    ``raw_manifest`` is the parsed YAML after ``--set`` overrides, before validation; its
    ``profile`` key (kept in the result) names the profile; ``set_keys`` are the ``--set`` paths
    (they always win). A manifest value equal to the engine default is no choice (module
    :mod:`~emoprep.pipeline.manifest.defaults`): the profile's value replaces it. See the module
    docstring for mapping values, backend families and embedder rules. Raises ConfigError for an
    unknown profile.
    """
    out = copy.deepcopy(raw_manifest)
    spec = PROFILES[profile_of(out)]
    for rule in spec.rules:
        paths, _ = _targets(raw_manifest, rule, spec, set_keys)
        for path in paths:
            if _origin(raw_manifest, path, set_keys)[0].startswith(PROFILE):
                _fill(out, path, rule_value(rule))
    return out


def profile_settings(
    raw_manifest: Mapping[str, Any], set_keys: SetKeys = frozenset()
) -> tuple[Profile, list[Setting]]:
    """The profile of a raw manifest and, per rule, the value in effect and where it comes from
    (for ``emoprep config show``): ``profile``, ``profile; your manifest's X is the default``,
    ``your manifest``, ``--set``, or why the rule does not apply."""
    profile = profile_of(raw_manifest)
    spec, out = PROFILES[profile], []
    for rule in spec.rules:
        paths, why_not = _targets(raw_manifest, rule, spec, set_keys)
        if not paths:
            out.append(Setting(rule.label, None, why_not, rule))
        for path in paths:
            origin, mine = _origin(raw_manifest, path, set_keys)
            value = rule_value(rule) if origin.startswith(PROFILE) else mine
            out.append(Setting(".".join(path), value, origin, rule))
    return profile, out


#: the origin of a value the profile filled in
PROFILE = "profile"


def _is_set(path: tuple[str, ...], set_keys: SetKeys) -> bool:
    """Whether a ``--set`` path is ``path``, inside it or above it."""
    return any(k[: len(path)] == path or path[: len(k)] == k for k in set_keys)


def _origin(raw: Mapping[str, Any], path: tuple[str, ...], set_keys: SetKeys) -> tuple[str, Any]:
    """(where the value at ``path`` comes from, the user's value or MISSING)."""
    mine = lookup(raw, path)
    if _is_set(path, set_keys):
        return "--set", mine
    if mine is MISSING:
        return PROFILE, mine
    if is_default(mine, default_at(raw, path)):
        return f"{PROFILE}; your manifest's {_short(mine)} is the default", mine
    return "your manifest", mine


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 24 else text[:21] + "..."


def describe(raw_manifest: Mapping[str, Any], set_keys: SetKeys = frozenset()) -> list[str]:
    """Text lines for ``emoprep config show``: the profile, its version, each setting and where
    it comes from, then the notes."""
    profile, settings = profile_settings(raw_manifest, set_keys)
    spec = PROFILES[profile]
    lines = [f"profile {profile.value} (version {spec.version}): {spec.summary}"]
    for s in settings:
        value = "-" if s.value is None and s.origin.startswith(("not ", "no ")) else \
            json.dumps(s.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        where = s.rule.source + (" (not given there: chosen)" if s.rule.chosen else "")
        lines.append(f"  {s.key} = {value}  [{s.origin}; {where}]")
    lines += [f"  note: {n}" for n in spec.notes]
    return lines


#: the METHODS.md column of a rule whose value the document does not give / gives unclearly
SILENT = "the document gives no value; chosen: "
UNCLEAR = "the document is not clear; chosen: "


def render_table(profile: Profile) -> list[str]:
    """The METHODS.md table of a profile: rule | source | key | value (JSON, or a named value) |
    chosen (``the document gives no value; chosen: ...``, empty where the document gives it)."""
    lines = ["| rule | source | key | value | where the document is silent |",
             "|---|---|---|---|---|"]
    for r in PROFILES[profile].rules:
        value = (
            r.value if isinstance(r.value, str) and r.value in NAMED_VALUES else json.dumps(r.value)
        )
        chosen = (UNCLEAR if r.unclear else SILENT) + r.chosen if r.chosen else ""
        lines.append(f"| {r.rule} | {r.source} | `{r.label}` | `{value}` | {chosen} |")
    return lines


def _targets(
    raw: Mapping[str, Any], rule: Rule, spec: ProfileSpec, set_keys: SetKeys
) -> tuple[list[tuple[str, ...]], str]:
    """The full paths ``rule`` fills in ``raw`` (none when it does not apply) and, if none, why."""
    if rule.embed_type is not None:
        embed = lookup(raw, tuple(EMBED.split(".")))
        names = [n for n, c in embed.items() if isinstance(c, Mapping)
                 and c.get("type") == rule.embed_type] if isinstance(embed, Mapping) else []
        why = f"no embedder of type {rule.embed_type} under {EMBED}"
        return [(*EMBED.split("."), n, *rule.key.split(".")) for n in names], why
    for section, tag in FAMILIES.items():
        if rule.key.startswith(section + "."):
            mine = next((r.value for r in spec.rules if r.key == f"{section}.{tag}"), None)
            path = (*section.split("."), tag)
            user = lookup(raw, path)
            chosen = _origin(raw, path, set_keys)[0] in ("--set", "your manifest") or (
                user is not MISSING and tuned(raw, path[:-1]))
            if mine is not None and chosen and user != mine:
                return [], f"not applied: your {section}.{tag} is {user!r}"
    return [tuple(rule.key.split("."))], ""


def _fill(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``path`` to ``value`` (the caller checked the user chose none there); empty (null)
    sections count as unset."""
    node = raw
    for part in path[:-1]:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            return  # the user wrote something else there: validation names it
        node = node[part]
    node[path[-1]] = value
