"""`emoprep report` lists the training runs of an output folder: head vs linear probe."""

from __future__ import annotations

from pathlib import Path

from emoprep.report.trainruns import runs_text, training_runs, training_section
from emoprep.train import fit
from tests.train.conftest import fast_config, make_sequences, subject_folds


def test_runs_listed_with_head_and_probe(tmp_path: Path) -> None:
    assert training_runs(tmp_path) == []
    assert runs_text([]).startswith("training runs: none")
    seqs = make_sequences(n=60, per_subject=3)
    folds = subject_folds(seqs, test_subjects=4)
    m = fit(seqs, folds, fast_config(head="cnn1d", optim={"epochs": 3}), tmp_path / "train" / "hog")
    rows = training_runs(tmp_path)
    assert len(rows) == 1
    row = rows[0]
    val, probe = m["summary"]["val"]["emotion/accuracy"], m["probe"]["summary"]["val"][
        "emotion/accuracy"]
    assert row["features"] == "hog" and row["head"] == "cnn1d" and row["folds"] == 2
    assert row["val"] == f"{val['mean']:.3f} +- {val['std']:.3f}"
    assert row["probe_val"] == f"{probe['mean']:.3f} +- {probe['std']:.3f}"
    text = runs_text(rows)
    assert f"hog cnn1d/emotion split synthetic, 2 folds: val emotion/accuracy {row['val']} vs " \
           f"linear probe {row['probe_val']}" in text
    dest = tmp_path / "report"
    page = training_section(tmp_path, dest)
    assert "linear probe" in page and m["run"] in page
    assert f'src="../train/hog/runs/{m["run"]}/curves.png"' in page
