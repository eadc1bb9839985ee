"""Subject-independent split manifests: held-out test subjects plus folds of the rest.

Metadata only (manifest videos, subjects, labels): changing split settings touches no video.
The test part is an explicit subject list or a seeded fraction of the subjects; the folds are
explicit validation-subject lists, leave-one-subject-out, or scikit-learn's StratifiedGroupKFold /
GroupKFold. Every subject's videos land in exactly one part (test, one fold's validation part,
or excluded), and the written file (``splits/<name>.json``, :data:`SPLIT_VERSION`) lists the
subjects, video ids and label counts of every part. Besides ``stages.split`` a preset may bring
ready splits (``bu4dfe``: ``thesis``), planned and written alongside.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoprep.errors import ConfigError
from emoprep.io.atomic import atomic_write_text
from emoprep.pipeline.fingerprint import digest

if TYPE_CHECKING:  # numpy, the stage configs and sklearn are imported where a split is made
    import numpy as np

    from emoprep.io.layout import Layout
    from emoprep.pipeline.config import SplitConfig
    from emoprep.pipeline.manifest import Manifest
    from emoprep.types import VideoEntry

#: 2: parts list subjects and label counts, named folds, excluded subjects
SPLIT_VERSION = 2
_KEY = "stages.split"


def _strata(videos: list[VideoEntry], key: str | None) -> np.ndarray | None:
    if key is None:
        return None
    missing = [v.video_id for v in videos if key not in v.labels]
    if missing:
        raise ConfigError(_KEY, [f"stratify: label {key!r} missing for {len(missing)} videos "
                                 f"(e.g. {missing[0]}); choose a label every video has"])
    import numpy as np

    return np.array([v.labels[key] for v in videos])


def label_counts(videos: list[VideoEntry]) -> dict[str, dict[str, int]]:
    """Label key -> value -> number of videos."""
    out: dict[str, Counter[str]] = {}
    for v in videos:
        for k, x in v.labels.items():
            out.setdefault(k, Counter())[x] += 1
    return {k: dict(sorted(c.items())) for k, c in sorted(out.items())}


def _test_subjects(pool: list[VideoEntry], cfg: SplitConfig) -> set[str]:
    """Explicit test subjects (those present), or a seeded fraction of the subjects."""
    present = {v.subject for v in pool}
    if cfg.test_subjects is not None:
        return set(cfg.test_subjects) & present
    n_test = int(round(cfg.test_fraction * len(present)))
    if n_test == 0:
        return set()
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.array([v.subject for v in pool])
    gss = GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=cfg.seed)
    _, idx = next(gss.split(groups, groups=groups))
    return set(groups[idx].tolist())


def _explicit_folds(rest: list[VideoEntry], cfg: SplitConfig, test: set[str]
                    ) -> list[tuple[str, set[str]]]:
    assert cfg.fold_subjects is not None
    present, problems = {v.subject for v in rest}, []
    owner: dict[str, str] = {}
    for name, subjects in cfg.fold_subjects.items():
        for s in subjects:
            where = "the test part" if s in test else owner.get(s)
            if where:
                problems.append(f"fold_subjects.{name}: subject {s!r} is also in {where} "
                                f"(fix: list each subject in one part)")
            owner[s] = f"fold {name}"
    loose = sorted(present - set(owner))
    if loose:
        problems.append(f"fold_subjects: subjects {loose[:8]} are in no fold (expected every "
                        f"subject outside test in one fold) (fix: add them to a fold or to "
                        f"exclude_subjects)")
    if problems:
        raise ConfigError(_KEY, problems)
    return [(name, set(subjects) & present) for name, subjects in cfg.fold_subjects.items()]


def _fold_subjects(rest: list[VideoEntry], cfg: SplitConfig, test: set[str]
                   ) -> list[tuple[str, set[str]]]:
    """(fold name, its validation subjects) per fold."""
    if cfg.fold_subjects is not None:
        return _explicit_folds(rest, cfg, test)
    from emoprep.pipeline.config import SplitMethod

    subjects = sorted({v.subject for v in rest})
    if cfg.method is SplitMethod.LOSO:
        return [(s, {s}) for s in subjects]
    if len(subjects) < cfg.folds:
        n = len(subjects) + len(test)
        raise ConfigError(_KEY, [f"{n} subject{'s' * (n != 1)}: {len(test)} held out for "
                                 f"test leaves {len(subjects)}, fewer than folds={cfg.folds} "
                                 f"(fix: lower stages.split.folds or stages.split.test_fraction, "
                                 f"or set stages.split.required: false to run without this "
                                 f"split)"])
    import numpy as np
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups, y = np.array([v.subject for v in rest]), _strata(rest, cfg.stratify)
    if y is not None:
        kf = StratifiedGroupKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
        parts = kf.split(groups, y, groups)
    else:
        parts = GroupKFold(n_splits=cfg.folds).split(groups, groups=groups)
    try:
        return [(str(k), set(groups[va].tolist())) for k, (_, va) in enumerate(parts)]
    except ValueError as exc:  # stratification impossible: every class smaller than folds
        raise ConfigError(_KEY, [f"stratify {cfg.stratify!r}: cannot make {cfg.folds} folds "
                                 f"({exc}) (fix: fewer folds, or stratify: null)"]) from None


def _part(videos: list[VideoEntry]) -> dict[str, Any]:
    return {"videos": [v.video_id for v in videos],
            "subjects": sorted({v.subject for v in videos}), "label_counts": label_counts(videos)}


def make_split(videos: list[VideoEntry], cfg: SplitConfig) -> dict[str, Any]:
    """Assign subjects to test, to folds (validation parts) and to no part (excluded).

    Returns the split manifest (a dict; see docs/MANIFEST.md). Raises :class:`ConfigError` when
    the split cannot be made (fewer subjects than folds, an empty part, a subject twice).
    """
    ordered = sorted(videos, key=lambda v: v.video_id)
    excluded = [v for v in ordered if v.subject in set(cfg.exclude_subjects)]
    pool = [v for v in ordered if v.subject not in set(cfg.exclude_subjects)]
    test_subj = _test_subjects(pool, cfg)
    test = [v for v in pool if v.subject in test_subj]
    rest = [v for v in pool if v.subject not in test_subj]
    folds, empty = [], []
    for k, (name, val_subj) in enumerate(_fold_subjects(rest, cfg, test_subj)):
        tr = _part([v for v in rest if v.subject not in val_subj])
        va = _part([v for v in rest if v.subject in val_subj])
        if not tr["videos"] or not va["videos"]:
            empty.append(name)
        folds.append({"fold": k, "name": name, "train": tr["videos"], "val": va["videos"],
                      "train_subjects": tr["subjects"], "val_subjects": va["subjects"],
                      "label_counts": {"train": tr["label_counts"], "val": va["label_counts"]}})
    if empty:
        raise ConfigError(_KEY, [f"split {cfg.name!r}: folds {empty} have an empty training or "
                                 f"validation part (fix: fewer folds, or list their subjects, or "
                                 f"set stages.split.required: false)"])
    listed = set(cfg.test_subjects or ()) | set(cfg.exclude_subjects)
    listed |= {s for subj in (cfg.fold_subjects or {}).values() for s in subj}
    t, x = _part(test), _part(excluded)
    return {"name": cfg.name, "version": SPLIT_VERSION, "config": cfg.model_dump(mode="json"),
            "test": t["videos"], "test_subjects": t["subjects"], "folds": folds,
            "excluded": x["videos"], "excluded_subjects": x["subjects"],
            "absent_subjects": sorted(listed - {v.subject for v in ordered}),
            "n_subjects": len({v.subject for v in ordered}), "n_videos": len(ordered),
            "label_counts": {"test": t["label_counts"], "excluded": x["label_counts"],
                             "all": label_counts(ordered)}}


def split_fingerprint(videos: list[VideoEntry], cfg: SplitConfig) -> str:
    meta = sorted((v.video_id, v.subject, sorted(v.labels.items())) for v in videos)
    return digest({"version": SPLIT_VERSION, "config": cfg.fingerprint_slice(), "videos": meta})


@dataclass
class SplitPlan:
    """The split as planned when the session opens (before any video work).

    state: "up-to-date" (the file matches), "stale" (inputs changed, or forced), "missing", or
    "unavailable" (a preset's ready split that cannot be made from these videos; ``reason`` says
    why); manifest: the computed split when it must be (re)written, else None; extra: the
    further splits (``stages.splits``, the preset's ready splits), written with this one.
    """

    name: str
    path: Path
    fingerprint: str
    state: str
    reason: str = ""
    manifest: dict[str, Any] | None = None
    extra: list[SplitPlan] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "path": str(self.path),
        }
        if self.extra:
            out["extra"] = [p.as_dict() for p in self.extra]
        return out


def _recorded_fingerprint(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def plan_split(videos: list[VideoEntry], cfg: SplitConfig, path: Path, force: bool = False
               ) -> SplitPlan:
    """Decide whether ``path`` must be rewritten; compute (and so validate) it when it must.

    Raises :class:`ConfigError` when the split cannot be made (fewer subjects than folds).
    """
    fp = split_fingerprint(videos, cfg)
    old = _recorded_fingerprint(path) if path.is_file() else None
    if old == fp and not force:
        return SplitPlan(cfg.name, path, fp, "up-to-date")
    reason = ("forced (--force split)" if old == fp else "never written" if not path.is_file()
              else "file unreadable" if old is None else "videos, labels or split settings changed")
    split = make_split(videos, cfg)
    split["fingerprint"] = fp
    return SplitPlan(
        cfg.name, path, fp, "missing" if not path.is_file() else "stale", reason, split
    )


def split_configs(manifest: Manifest) -> tuple[list[SplitConfig], list[SplitConfig]]:
    """(configured splits: ``stages.split`` then ``stages.splits``, the preset's ready splits
    whose names are not configured)."""
    from emoprep.pipeline.config import SplitConfig
    from emoprep.pipeline.manifest.presets import PRESETS

    stages = manifest.stages
    mine = [stages.split] + [c.model_copy(update={"name": n})
                             for n, c in sorted(getattr(stages, "splits", {}).items())]
    names = {c.name for c in mine}
    ready = [SplitConfig.model_validate(raw) for n, raw in
             sorted(PRESETS[manifest.labels.preset].splits.items()) if n not in names]
    return mine, ready


def _plan_or_unavailable(videos: list[VideoEntry], cfg: SplitConfig, layout: Layout,
                         force: bool) -> SplitPlan:
    """:func:`plan_split`; a split that cannot be made raises unless ``cfg.required`` is false."""
    try:
        return plan_split(videos, cfg, layout.split(cfg.name), force)
    except ConfigError as exc:
        if cfg.required:
            raise
        return SplitPlan(cfg.name, layout.split(cfg.name), "", "unavailable",
                         "; ".join(exc.problems) + "; not an error: this split is not required "
                         "(stages.split.required: false, or no stages.split in the manifest)")


def plan_splits(videos: list[VideoEntry], manifest: Manifest, layout: Layout,
                force: bool = False) -> SplitPlan:
    """:func:`plan_split` of ``stages.split``, with every further split in ``extra``.

    A configured split that cannot be made raises :class:`ConfigError`; a preset's ready split
    that cannot be made from these videos is planned as "unavailable" (the reason is kept).
    """
    mine, ready = split_configs(manifest)
    main, *more = [_plan_or_unavailable(videos, c, layout, force) for c in mine]
    for c in ready:
        try:
            more.append(plan_split(videos, c, layout.split(c.name), force))
        except ConfigError as exc:
            more.append(SplitPlan(c.name, layout.split(c.name), "", "unavailable",
                                  "; ".join(exc.problems)))
    main.extra = more
    return main


def write_split(plan: SplitPlan) -> dict[str, Any]:
    """Write the planned split (and its ``extra`` splits) where they must be.
    Returns {name, state, reason, path[, extra]}."""
    extra = [write_split(p) for p in plan.extra]
    out = plan.as_dict()
    if plan.manifest is not None:
        atomic_write_text(plan.path, json.dumps(plan.manifest, indent=1))
        out["state"] = "written"
    if extra:
        out["extra"] = extra
    return out


# --- reading a written split ----------------------------------------------------------------


def available_splits(root: Path) -> list[str]:
    """Names of the split files in an output folder, sorted."""
    return sorted(p.stem for p in (Path(root) / "splits").glob("*.json"))


@dataclass
class SplitFile:
    """A written split manifest: its parts by name (``test``, fold ``train`` / ``val``)."""

    name: str
    path: Path
    data: dict[str, Any]

    @property
    def fold_names(self) -> list[str]:
        return [str(f.get("name", f["fold"])) for f in self.data.get("folds", [])]

    def fold_index(self, fold: int | str | None, part: str) -> int:
        """Position of ``fold`` (its index or its name); a ConfigError listing the folds."""
        names = self.fold_names
        listed = ", ".join(f"{k} ({n})" if n != str(k) else str(k) for k, n in enumerate(names))
        if fold is not None and str(fold) in names:
            return names.index(str(fold))
        if fold is not None and str(fold).lstrip("-").isdigit() and 0 <= int(fold) < len(names):
            return int(fold)
        got = "nothing" if fold is None else repr(fold)
        raise ConfigError(str(self.path), [f"fold: expected one of {listed} for part {part} of "
                                           f"split {self.name!r}, got {got} (fix: pass --fold)"])

    def ids(self, part: str, fold: int | str | None = None) -> list[str]:
        """Video ids of ``part`` (train / val need a fold; all = test and every fold's val)."""
        if part == "test":
            return list(self.data["test"])
        folds = self.data.get("folds", [])
        if part == "all":
            return sorted({*self.data["test"], *(v for f in folds for v in f["val"])})
        return list(folds[self.fold_index(fold, part)][part])


def read_split(root: Path, name: str) -> SplitFile:
    """The split ``name`` of an output folder; a ConfigError listing the splits there."""
    path = Path(root) / "splits" / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        have = ", ".join(available_splits(root)) or "none"
        raise ConfigError(str(path), [f"split: expected one of the splits in {root}/splits "
                                      f"({have}), got {name!r} (fix: pass one of them, or add it "
                                      f"to the manifest's stages.split and run)"]) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), [f"split {name!r}: unreadable ({exc}); run `emoprep run "
                                      f"--force split` to rewrite it"]) from exc
    return SplitFile(name, path, data)
