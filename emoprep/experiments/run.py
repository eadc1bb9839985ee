"""``run_experiment``: one source experiment end to end: preprocessing with the thesis profile,
each training the document reports (:mod:`emoprep.experiments.sources`), its late fusions, and
the result table beside the document's numbers, written as JSON and markdown.

Files (``out`` is the run's output folder, as for ``emoprep run``): the stores and
``train/<features>/`` as usual, and ``experiment-<profile>.json`` / ``.md`` (the table, the
differences of protocol, where each training run and fusion was saved).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emoprep.errors import ConfigError
from emoprep.experiments.results import markdown, table_rows, text
from emoprep.experiments.sources import EXPERIMENTS, ExperimentSpec, Trial
from emoprep.pipeline.manifest.profile_specs import PROFILES, Profile
from emoprep.pipeline.manifest.schema import Manifest
from emoprep.pipeline.manifest.train_section import TrainConfig
from emoprep.pipeline.scheduler import RunOptions

#: what a result of a trial, its probe or a fusion holds (see results.scored)
Result = dict[str, Any]


def spec_of(profile: Profile | str) -> tuple[Profile, ExperimentSpec]:
    """The profile and its experiment; a ConfigError listing the experiments otherwise."""
    names = ", ".join(p.value for p in EXPERIMENTS)
    try:
        p = Profile(profile)
    except ValueError:
        p = None
    if p not in EXPERIMENTS:
        raise ConfigError("experiment", [f"experiment: expected one of {names}, got "
                                         f"{str(getattr(profile, 'value', profile))!r} (fix: "
                                         "name a thesis profile; `emoprep experiment --help`)"])
    assert p is not None
    return p, EXPERIMENTS[p]


def differences(profile: Profile, spec: ExperimentSpec, sets: tuple[str, ...] = (),
                notes: tuple[str, ...] = ()) -> list[str]:
    """Every remaining difference of protocol: the experiment's, the profile's notes, what this
    run changed (``--set``) and what it found (``notes``)."""
    mine = [f"--set {s}: yours, not the profile's" for s in sets]
    return [*spec.differences, *PROFILES[profile].notes, *mine, *notes]


def plan(profile: Profile | str) -> dict[str, Any]:
    """The table with the document's numbers only, and the differences: what an experiment
    would compare, without a manifest."""
    p, spec = spec_of(profile)
    rows = table_rows(spec, {})
    return _finish(p, spec, rows, differences(p, spec), {}, None)


def pick_features(m: Manifest, features: str | None, spec: ExperimentSpec) -> tuple[str, list[str]]:
    """The embedder to train on and a note when its type is not the document's."""
    names = sorted(m.stages.embed)
    if not names:
        raise ConfigError("stages.embed", ["stages.embed: expected an embedder, got none (fix: "
                                           "declare one, docs/EMBEDDERS.md)"])
    if features is None and len(names) != 1:
        raise ConfigError("--features", [f"--features: expected one of {', '.join(names)}, got "
                                         "nothing (fix: name the stages.embed key to train on)"])
    name = features or names[0]
    if name not in m.stages.embed:
        raise ConfigError("--features", [f"--features: expected one of {', '.join(names)}, got "
                                         f"{name!r} (fix: a stages.embed key)"])
    kind = str(getattr(m.stages.embed[name].type, "value", m.stages.embed[name].type))
    notes = [] if not spec.embedder or kind == spec.embedder else [
        f"features {name!r} are {kind}; the document's are {spec.embedder}"]
    return name, notes


def preprocessing_notes(failed: list[dict[str, Any]], split: dict[str, Any], n_videos: int,
                        root: Path) -> list[str]:
    """A note on the videos that failed; a ConfigError when the split could not be made (nothing
    to train on), with the first failure's error."""
    first = f" (first: {failed[0]['video_id']}: {failed[0].get('error', '')})" if failed else ""
    if split.get("state") == "unavailable":
        raise ConfigError(str(root / "summary.json"), [
            f"experiment: expected the split {split.get('name')!r} after preprocessing, got none: "
            f"{split.get('reason', '')}; {len(failed)} of {n_videos} videos failed{first} (fix: "
            "the errors of `emoprep run`, or --set the stage that failed)"])
    return [f"{len(failed)} of {n_videos} videos failed preprocessing and are left out{first}"
            ] if failed else []


def trial_config(m: Manifest, trial: Trial) -> TrainConfig:
    """The manifest's ``train:`` (profile applied) with the trial's head and task."""
    data = m.train.model_dump(mode="json")
    data["task"] = trial.task.value
    if trial.head is not None:
        data["head"] = trial.head.value
    return TrainConfig.model_validate(data)


def _result(metrics: dict[str, Any]) -> tuple[Result, Result]:
    """(the trial's result, its linear probe's result) from ``fit``'s metrics."""
    final = metrics.get("final")
    trial = {"final_test": final["test"] if final else None, "run_dir": metrics["run_dir"],
             "folds": [{"val": f["val"], "test": f["test"]} for f in metrics["folds"]],
             "cv": metrics.get("cv")}
    probe = metrics.get("probe") or {"folds": [], "final": None}
    pfinal = probe.get("final")
    return trial, {"final_test": pfinal["test"] if pfinal else None,
                   "folds": [{"val": f["val"], "test": f["test"]} for f in probe["folds"]]}


def train_trials(m: Manifest, out: Path, features: str, spec: ExperimentSpec,
                 allow_degenerate: bool, only: tuple[str, ...] = ()) -> dict[str, Result]:
    """Each trial (of ``only`` when given) trained (cached per fold as ``emoprep train``), its
    probe and the fusions of the trials run."""
    from emoprep.train import fit, fuse
    from emoprep.train.cache import features_fingerprint, train_root
    from emoprep.train.inputs import augmentations_used, load_inputs

    results: dict[str, Result] = {}
    for trial in (t for t in spec.trials if not only or t.name in only):
        cfg = trial_config(m, trial)
        augs = augmentations_used([a.value for a in m.stages.augment.names], cfg)
        seqs, folds, counts = load_inputs(out, features, m.stages.split.name, cfg, augs)
        metrics = fit(seqs, folds, cfg, train_root(out, features), features_fingerprint(
            out, features), plots=False, allow_degenerate=allow_degenerate, part_counts=counts)
        results[trial.name], results[f"{trial.name}:probe"] = _result(metrics)
    for f in (f for f in spec.fusions if all(t in results for t in f.trials)):
        fused = fuse([results[t]["run_dir"] for t in f.trials], f.method,
                     out_dir=train_root(out, features) / "fusions" / "+".join(f.trials))
        results[f.name] = {"final_test": fused["final_test"],
                           "folds": [{"val": x["val"], "test": x["test"]} for x in fused["folds"]]}
    return results


def finetune_steps(m: Manifest, out: Path, spec: ExperimentSpec,
                   only: tuple[str, ...] = ()) -> dict[str, Result]:
    """The experiment's fine-tuning steps and SVM baselines (of ``only`` when given) on the
    frames of ``out``."""
    from emoprep.experiments.finetuning import missing_weights, run_step, run_svm

    got: dict[str, Result] = {}
    for s in (s for s in spec.finetunes if not only or s.name in only):
        why = missing_weights(m, s) if s.optional else None
        got[s.name] = {"skipped": why} if why else run_step(m, out, s)
    got.update({s.name: run_svm(m, out, s) for s in spec.svms if not only or s.name in only})
    return got


def _pre_finetune(spec: ExperimentSpec, expression_set: str | Path | None, root: Path,
                  m: Manifest, features: str | None,
                  workers: int) -> tuple[dict[str, Result], tuple[str, ...], list[str]]:
    """The BU-4DFE path's first step (:func:`~emoprep.experiments.finetuning.expression_set_step`)
    or nothing; a ConfigError for ``--expression-set`` with an experiment without that step."""
    from emoprep.experiments.finetuning import expression_set_step

    step = spec.pre_finetune
    if step is None:
        if expression_set is not None:
            takers = ", ".join(p.value for p, s in EXPERIMENTS.items() if s.pre_finetune)
            raise ConfigError("--expression-set", [
                f"--expression-set: only an experiment that fine-tunes on an expression image "
                f"set takes one ({takers}), got {expression_set} (fix: drop it)"])
        return {}, (), []
    res, sets, notes = expression_set_step(expression_set, root, m, step, features or "",
                                           workers)
    skipped = {"skipped": notes[0]} if res is None else res
    return {step.name: skipped}, sets, notes


def run_experiment(profile: Profile | str, manifest: str | Path, out: str | Path | None = None,
                   sets: tuple[str, ...] = (), features: str | None = None, workers: int = 0,
                   allow_degenerate: bool = False,
                   expression_set: str | Path | None = None) -> dict[str, Any]:
    """Preprocess ``manifest`` with ``profile`` (plus ``sets``), run the experiment's fine-tuning
    steps (BU-4DFE: first on ``expression_set``, a manifest of an expression image set), train
    its heads, fuse where the document does, and write ``experiment-<profile>.{json,md}`` into
    the output folder. Returns the table (``rows``), ``differences``, ``text`` and the files."""
    from emoprep.experiments.finetuning import check_weights
    from emoprep.pipeline.runner import run
    from emoprep.pipeline.session import resolve_manifest

    p, spec = spec_of(profile)
    overrides = (*sets, f"profile={p.value}")
    m = resolve_manifest(manifest, overrides)
    root = Path(out) if out is not None else m.output_dir()
    name, notes = pick_features(m, features, spec) if spec.trials else (None, [])
    pre = [spec.pre_finetune] if spec.pre_finetune and expression_set is not None else []
    check_weights(m, [*pre, *spec.finetunes])
    results, extra, more = _pre_finetune(spec, expression_set, root, m, name, workers)
    notes += more
    overrides = (*overrides, *extra)
    for prefix, vsets, where, only in [("", (), root, ()), *[
            (f"{v.name}/", v.sets, root / "variants" / v.name, v.only) for v in spec.variants]]:
        report = run(manifest, where, (*overrides, *vsets), RunOptions(workers=workers))
        notes += preprocessing_notes(report.failed_videos, report.split, len(report.videos),
                                     where)
        mv = resolve_manifest(manifest, (*overrides, *vsets))
        got = train_trials(mv, where, name, spec, allow_degenerate, only) if name else {}
        got.update(finetune_steps(mv, where, spec, only))
        notes += [v["skipped"] for v in got.values() if "skipped" in v]
        results.update({prefix + k: v for k, v in got.items()})
    rows = table_rows(spec, results)
    runs = {k: v["run_dir"] for k, v in results.items() if "run_dir" in v}
    cv = {k: v["cv"] for k, v in results.items() if v.get("cv")}
    return _finish(p, spec, rows, differences(p, spec, tuple(sets), tuple(notes)), runs, root, cv)


def _finish(p: Profile, spec: ExperimentSpec, rows: list[dict[str, Any]], diffs: list[str],
            runs: dict[str, str], root: Path | None,
            cv: dict[str, Any] | None = None) -> dict[str, Any]:
    title = f"experiment {p.value}: {spec.summary}"
    out = {"experiment": p.value, "summary": spec.summary, "rows": rows, "differences": diffs,
           "runs": runs, "cv": cv or {}, "text": text(title, rows, diffs), "files": []}
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        stem = root / f"experiment-{p.value}"
        files = [stem.with_suffix(".json"), stem.with_suffix(".md")]
        out["files"] = [str(f) for f in files]
        files[0].write_text(json.dumps({k: v for k, v in out.items() if k != "text"}, indent=1),
                            encoding="utf-8")
        files[1].write_text(markdown(title, rows, diffs), encoding="utf-8")
    return out
