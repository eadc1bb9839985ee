"""The experiments' data and table: every number quoted is in the table its row cites (in
../shared/seeds), every emoprep run a row names is one the experiment makes, the mean class
accuracy and the choice of part are exact, and ``--plan`` needs no data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emoprep.errors import ConfigError
from emoprep.experiments import EXPERIMENTS, plan
from emoprep.experiments.results import mean_class_accuracy, scored, table_rows
from emoprep.experiments.sources import Reported
from emoprep.pipeline.manifest.profile_specs import Profile

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
DOCS = {"000": "000_59ba537f195f1db9.txt", "002": "002_d939fea7917aa0bd.txt",
        "003": "003_ec163b428ae25ebf.txt", "004": "004_93a8b7221c56d1e9.txt"}
ROWS = [(p, r) for p, spec in EXPERIMENTS.items() for r in spec.reported]


def table_text(doc: str, table: str) -> str:
    """The 15 lines above the caption ``Table N.M:`` of a document (its tables sit above their
    captions)."""
    lines = (SEEDS / DOCS[doc]).read_text(encoding="utf-8").splitlines()
    at = [i for i, line in enumerate(lines) if line.strip().startswith(f"Table {table}:")]
    assert len(at) == 1, f"{doc}: {len(at)} captions of Table {table}"
    return "\n".join(lines[max(0, at[0] - 15):at[0]])


@pytest.mark.parametrize(("profile", "rep"), ROWS, ids=[f"{p.value}:{r.what}" for p, r in ROWS])
def test_each_number_is_in_the_table_it_cites(profile: Profile, rep: Reported) -> None:
    doc, table = re.fullmatch(r"(\d{3}) Table (\d+\.\d+)", rep.source).groups()
    if not SEEDS.is_dir():
        pytest.skip(f"the source documents are not at {SEEDS}")
    assert re.search(rf"(?<![\d.]){re.escape(f'{rep.value:g}')}(?:0*)%?(?![\d])",
                     table_text(doc, table)), f"{rep.value} not in {doc} Table {table}"


def test_the_issue_s_figures_are_the_experiments_numbers() -> None:
    values = {p: [r.value for r in spec.reported] for p, spec in EXPERIMENTS.items()}
    assert values[Profile.THESIS_BU4DFE][:4] == [62.5, 62.5, 65.0, 67.8]
    assert values[Profile.THESIS_SASE_FE] == [54.609, 53.713, 30.150, 33.217]
    assert values[Profile.THESIS_AFFECTNET] == [57.3, 59.5, 61.4]
    assert values[Profile.THESIS_NVIE] == [71.6, 67.4, 53.8, 22.7, 17.3, 17.2]


@pytest.mark.parametrize("profile", list(EXPERIMENTS))
def test_every_named_run_is_made_and_every_unmatched_row_says_why(profile: Profile) -> None:
    spec = EXPERIMENTS[profile]
    made = {t.name for t in spec.trials} | {f"{t.name}:probe" for t in spec.trials} | \
        {f.name for f in spec.fusions}
    made |= {s.name for s in spec.finetunes} | {s.name for s in spec.svms}
    made |= {spec.pre_finetune.name} if spec.pre_finetune else set()
    made |= {f"{v.name}/{n}" for v in spec.variants for n in made if not v.only or n in v.only}
    for rep in spec.reported:
        assert rep.ours in made if rep.ours else rep.why, rep.what


def test_mean_class_accuracy_is_the_mean_of_the_recalls() -> None:
    # class 0: 3 of 4 right, class 1: 1 of 2, class 2: absent from the truth (not counted)
    assert mean_class_accuracy({"confusion": [[3, 1, 0], [0, 1, 1], [0, 0, 0]]}) == 0.625


def test_the_score_comes_from_the_final_test_then_the_folds_test_then_validation() -> None:
    def s(acc: float) -> dict:
        return {"emotion": {"accuracy": acc, "confusion": [[1]]}}

    folds = [{"val": s(0.5), "test": s(0.25)}, {"val": s(0.7), "test": None}]
    assert scored({"final_test": s(0.8), "folds": folds}, "emotion/accuracy") == (
        80.0, "test part, final model")
    assert scored({"final_test": None, "folds": folds}, "emotion/accuracy") == (
        25.0, "test part, mean of 1 folds (std 0.0)")
    val = scored({"final_test": None, "folds": [{**f, "test": None} for f in folds]},
                 "emotion/accuracy")
    assert val is not None and val[0] == pytest.approx(60.0)
    assert val[1] == "validation, mean of 2 folds (std 10.0)"
    cv = {"method": "mean_curve", "best_epoch": 7,
          "values": {"emotion/accuracy": {"mean": 0.55, "std": 0.05, "n": 2}}}
    curve = scored({"final_test": None, "folds": [{**f, "test": None} for f in folds], "cv": cv},
                   "emotion/accuracy")
    assert curve is not None and curve[0] == pytest.approx(55.0)
    assert curve[1] == "validation, epoch 7 of the mean curve of 2 folds (std 5.0)"
    per_fold = {"method": "per_fold_best", "values": {"emotion/accuracy": {"mean": 0.9}}}
    assert scored({"final_test": None, "folds": [{**f, "test": None} for f in folds],
                   "cv": per_fold}, "emotion/accuracy") == val


def test_plan_needs_no_data_and_lists_the_differences() -> None:
    res = plan("thesis-affectnet")
    assert [r["emoprep"] for r in res["rows"]] == [None, None, None] and res["files"] == []
    assert [r["run"] for r in res["rows"]] == ["no-alignment/densenet121-plain",
                                               "densenet121-plain", "densenet121"]
    assert any("train.finetune.augment off" in d for d in res["differences"])
    with pytest.raises(ConfigError, match="expected one of thesis-bu4dfe"):
        plan("emoprep")


def test_plan_from_the_command_line() -> None:
    out = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "experiment", "thesis-bu4dfe",
                          "--plan"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "VGGFace + 1D-CNN, test accuracy" in out.stdout and "003 Table 3.7" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "experiment", "thesis-x",
                          "--plan"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "expected one of" in bad.stderr


def test_a_skipped_step_says_why_in_its_row() -> None:
    spec = EXPERIMENTS[Profile.THESIS_BU4DFE]
    assert spec.pre_finetune is not None
    rows = {r["run"]: r for r in table_rows(spec, {spec.pre_finetune.name: {
        "skipped": "skipped: no expression image set given"}})}
    row = rows[spec.pre_finetune.name]
    assert row["emoprep"] is None and row["measured_on"] == "skipped: no expression image set given"
