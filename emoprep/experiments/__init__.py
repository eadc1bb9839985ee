"""Source experiments rerun with one call: preprocessing (a thesis profile), training, fusion,
and the result table beside the document's numbers (docs/EXPERIMENTS.md)."""

from emoprep.experiments.run import plan, run_experiment
from emoprep.experiments.sources import EXPERIMENTS

__all__ = ["EXPERIMENTS", "plan", "run_experiment"]
