"""The linear skip ("wide & deep"): a head with it adds a linear map of the masked mean of its
standardised input to its logits, so it holds the probe's function class. On by default for the
1D-CNN only; ``train.linear_skip`` switches it on or off for any head but ``linear``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.train import TrainConfig, fit
from emoprep.train.config import Head, Task
from emoprep.train.heads import SequenceModel, masked_mean
from tests.train.conftest import fast_config, make_sequences, subject_folds

SKIPPED = [h for h in Head if h is not Head.LINEAR]


def _batch(dim: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    lengths = torch.tensor([1, 4, 9, 2])
    x = torch.randn(4, 9, dim) * 3 + 1
    x[torch.arange(9)[None, :] >= lengths[:, None]] = 0.0
    return x, lengths


def _standardised(model: SequenceModel, dim: int) -> None:
    g = np.random.default_rng(0)
    model.norm.set(g.normal(1, 0.5, dim), g.uniform(0.5, 3, dim))


@pytest.mark.parametrize("head", list(Head))
def test_skip_by_default_for_the_cnn_only_and_on_request_for_all_but_linear(head: Head) -> None:
    default = SequenceModel(7, fast_config(head=head.value), {"emotion": 3})
    on = SequenceModel(7, fast_config(head=head.value, linear_skip=True), {"emotion": 3})
    off = SequenceModel(7, fast_config(head=head.value, linear_skip=False), {"emotion": 3})
    assert off.skip is None
    assert (default.skip is not None) == (head is Head.CNN1D)
    if head is Head.LINEAR:  # the linear head is the skip already
        assert on.skip is None
    else:
        assert on.skip is not None and on.skip["emotion"].in_features == 7
        assert on.skip["emotion"].out_features == 3


def test_the_skip_leaves_the_rest_of_the_model_as_it_was() -> None:
    """Same seed with and without the skip: the same trunk and front weights (the skip is built
    last), the head's output layer zero with it and the usual initialisation without it."""
    torch.manual_seed(0)
    off = SequenceModel(7, fast_config(head="cnn1d", linear_skip=False), {"emotion": 3})
    torch.manual_seed(0)
    on = SequenceModel(7, fast_config(head="cnn1d"), {"emotion": 3})
    a, b = off.state_dict(), on.state_dict()
    assert sorted(set(b) - set(a)) == ["skip.emotion.bias", "skip.emotion.weight"]
    for k in a:
        if not k.startswith("heads."):
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert float(b["heads.emotion.weight"].abs().sum()) == 0.0
    assert float(a["heads.emotion.weight"].abs().sum()) > 0.0


@pytest.mark.parametrize("head", SKIPPED)
@pytest.mark.parametrize("task", [Task.EMOTION, Task.MULTITASK])
def test_a_fresh_head_is_the_linear_model_on_the_mean(head: Head, task: Task) -> None:
    """The deep part's output layer starts at zero: the untrained head's logits are exactly
    W mean(standardised x) + b, the function class of the probe (and of ``--head linear``)."""
    cfg = fast_config(head=head.value, task=task.value, linear_skip=True)
    model = SequenceModel(7, cfg, {t: 3 for t in cfg.targets}).eval()
    _standardised(model, 7)
    x, lengths = _batch()
    mask = (torch.arange(9)[None, :] < lengths[:, None])
    pooled = masked_mean((x - model.norm.mean) / model.norm.std * mask[..., None], lengths)
    with torch.no_grad():
        out = model(x, lengths)
        for t in cfg.targets:
            expect = pooled @ model.skip[t].weight.T + model.skip[t].bias
            torch.testing.assert_close(out[t], expect)
            assert not torch.allclose(out[t], torch.zeros_like(out[t]))


@pytest.mark.parametrize("head", SKIPPED)
def test_skip_holds_the_linear_head(head: Head) -> None:
    """Copy a trained-looking ``linear`` head into the skip, zero the deep part: same logits."""
    torch.manual_seed(5)
    lin = SequenceModel(7, fast_config(head="linear"), {"emotion": 3}).eval()
    _standardised(lin, 7)
    model = SequenceModel(7, fast_config(head=head.value, linear_skip=True), {"emotion": 3}).eval()
    model.norm.load_state_dict(lin.norm.state_dict())
    model.skip["emotion"].load_state_dict(lin.heads["emotion"].state_dict())
    for p in model.trunk.parameters():  # a deep part that is anything but zero before the head
        torch.nn.init.normal_(p)
    x, lengths = _batch()
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths)["emotion"], lin(x, lengths)["emotion"])
        torch.nn.init.normal_(model.heads["emotion"].weight)  # the deep part switched on
        assert not torch.allclose(model(x, lengths)["emotion"], lin(x, lengths)["emotion"])


def test_skip_is_in_the_fingerprint_and_runs_stay_deterministic(tmp_path: Path) -> None:
    seqs = make_sequences(n=60, per_subject=3)
    folds = subject_folds(seqs, test_subjects=4)
    quick = {"optim": {"epochs": 3}}
    a = fit(seqs, folds, fast_config(head="cnn1d", **quick), tmp_path / "a", plots=False)
    b = fit(seqs, folds, fast_config(head="cnn1d", **quick), tmp_path / "b", plots=False)
    off = fit(seqs, folds, fast_config(head="cnn1d", linear_skip=False, **quick), tmp_path / "a",
              plots=False)
    assert [f["val"] for f in a["folds"]] == [f["val"] for f in b["folds"]]
    assert off["trained"] and off["run"] != a["run"]  # a new unit, not the skip's one reused


def test_path_dropout_gives_some_training_items_the_skip_alone() -> None:
    """Training mode: each item's CNN logits are either dropped (the skip's logits alone) or
    kept times 1 / (1 - p); evaluation mode: never dropped."""
    torch.manual_seed(1)
    cfg = fast_config(head="cnn1d", cnn1d={"path_dropout": 0.5})
    model = SequenceModel(7, cfg, {"emotion": 3})
    _standardised(model, 7)
    torch.nn.init.normal_(model.heads["emotion"].weight)  # the deep part switched on
    model.trunk.drop.p = 0.0  # only the path dropout is random
    x, lengths = _batch()
    mask = (torch.arange(9)[None, :] < lengths[:, None])
    with torch.no_grad():
        pooled = masked_mean((x - model.norm.mean) / model.norm.std * mask[..., None], lengths)
        skip = model.skip["emotion"](pooled)
        deep = model.eval()(x, lengths)["emotion"] - skip
        assert not torch.allclose(deep, torch.zeros_like(deep))
        torch.testing.assert_close(model(x, lengths)["emotion"], deep + skip)  # eval: all kept
        model.train()
        seen = set()
        for _ in range(20):
            out = model(x, lengths)["emotion"]
            for i in range(4):
                if torch.allclose(out[i], skip[i]):
                    seen.add("dropped")
                else:
                    torch.testing.assert_close(out[i], 2 * deep[i] + skip[i])
                    seen.add("kept")
    assert seen == {"dropped", "kept"}


def test_path_dropout_is_inert_and_out_of_the_fingerprint_without_the_skip() -> None:
    """The thesis profiles' CNN (no skip) is built and trained as before: no path dropout, the
    model slice (so the unit fingerprint) without the key; with the skip (the default) the key
    is in it, and ``status`` names it as the change."""
    from emoprep.train.units import changed_keys, make_unit

    off = TrainConfig(head="cnn1d", linear_skip=False)
    assert SequenceModel(7, off, {"emotion": 3}).path_dropout == 0.0
    assert "path_dropout" not in off.model_slice()["cnn1d"]
    assert "path_dropout" not in TrainConfig(head="lstm", linear_skip=True).model_slice()
    on = TrainConfig(head="cnn1d")
    assert SequenceModel(7, on, {"emotion": 3}).path_dropout == 0.25
    assert on.model_slice()["cnn1d"]["path_dropout"] == 0.25
    new = make_unit(on, "s", "d", "f", 0).components
    old = {**new, "model": {**new["model"], "cnn1d": {
        k: v for k, v in new["model"]["cnn1d"].items() if k != "path_dropout"}}}
    assert changed_keys(old, new) == "model.cnn1d.path_dropout changed None -> 0.25"


def test_units_of_the_earlier_default_cnn_are_stale_with_the_reason(tmp_path: Path) -> None:
    """Three acts: default 1D-CNN units trained (fresh); the same units as emoprep wrote them
    before path dropout (no such key in their components) are stale, and the reason names the
    new key; training again makes them fresh."""
    import json

    from emoprep.pipeline.fingerprint import digest
    from emoprep.train import unit_states

    seqs = make_sequences(n=60, per_subject=3)
    folds = subject_folds(seqs, test_subjects=4)
    cfg = fast_config(head="cnn1d", optim={"epochs": 2})

    def states() -> list[tuple[str, str]]:
        rows = unit_states(tmp_path, cfg, folds.name, folds.digest, len(folds.folds), "feat")
        return [(r["state"], r["reason"]) for r in rows]

    first = fit(seqs, folds, cfg, tmp_path, "feat", plots=False)
    assert len(first["trained"]) == 2 and states() == [("up-to-date", "")] * 2
    for path in list((tmp_path / "units").glob("*/record.json")):  # as the earlier emoprep
        rec = json.loads(path.read_text())
        del rec["components"]["model"]["cnn1d"]["path_dropout"]
        rec["fingerprint"] = digest(rec["components"])
        path.write_text(json.dumps(rec))
        path.parent.rename(path.parent.with_name(rec["fingerprint"][:20]))
    assert states() == [("stale", "model.cnn1d.path_dropout changed None -> 0.25")] * 2
    again = fit(seqs, folds, cfg, tmp_path, "feat", plots=False)
    assert len(again["trained"]) == 2 and states() == [("up-to-date", "")] * 2
