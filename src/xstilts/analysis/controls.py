"""Controls with known ground truth: can the pipeline see an effect, and does it invent one?

* **Pretraining** (toy): a pretrained encoder (``none``) against the same architecture from
  random init (``scratch``), zero-shot average.  Transfer is only claimed where this gain's
  interval excludes 0.
* **Planted intermediate tasks** (toy, ``Task.planted`` in the registry): an intermediate task
  built to teach what a data-limited target needs (expected gain > 0) and one unrelated to it
  (expected gain 0); docs/controls.md states the ground truth.
* **Shortcut targets** (toy retrieval): a random-init encoder matches shared names and words, so
  its score is a floor set by surface overlap, not evidence of alignment.

Gains and intervals are the rows of the gains table (``analysis/gains.py``, the paired bootstrap
of ``analysis/stats.py``): the zero-shot average, test examples and seeds resampled.  This module
only says which rows are controls and whether each agrees with its known truth.
"""

from __future__ import annotations

import math

import pandas as pd

from xstilts.core.registry import TASKS


def verdict(expected: str, low: float, high: float) -> str:
    """Whether the interval agrees with the ground truth (``+``: excludes 0 above; ``0``:
    includes 0); without a known truth (``""``), whether it is distinguishable from noise."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "no interval"
    if not expected:
        return ("distinguishable from noise" if low > 0 or high < 0
                else "not distinguishable from noise")
    if expected == "+":
        return "recovered" if low > 0 else "not recovered"
    return "recovered (includes 0)" if low <= 0 <= high else "not recovered (excludes 0)"


COLUMNS = ["comparison", "model", "target", "inter", "versus", "gain", "ci_low", "ci_high", "p_value",
           "n_seeds", "seed_level", "expected", "verdict"]


def control_table(gains: pd.DataFrame, toy: bool) -> pd.DataFrame:
    """One row per control comparison in the gains table: ``comparison`` (pretraining: the
    ``none_vs_scratch`` rows, toy only; planted / null: the ``inter_vs_none`` rows of a planted
    intermediate task on its target), model, target, inter, versus, gain, ci_low, ci_high,
    p_value, n_seeds, seed_level, expected (``+``, ``0`` or ``""`` when the truth is not
    known), verdict."""
    out = []
    for r in gains.itertuples(index=False):
        if r.comparison == "none_vs_scratch" and toy:
            kind, expected = "pretraining", ""
        elif r.comparison == "inter_vs_none" and TASKS.get(r.inter) is not None:
            truth = dict(TASKS[r.inter].planted).get(r.target)
            if truth is None:
                continue
            kind, expected = ("planted" if truth == "+" else "null"), truth
        else:
            continue
        out.append({"comparison": kind, "model": r.model, "target": r.target, "inter": r.inter,
                    "versus": r.versus, "gain": r.gain, "ci_low": r.ci_low, "ci_high": r.ci_high,
                    "p_value": r.p_value, "n_seeds": r.n_seeds, "seed_level": r.seed_level,
                    "expected": expected, "verdict": verdict(expected, r.ci_low, r.ci_high)})
    return pd.DataFrame(out, columns=COLUMNS)


def shortcut_note(target: str, benchmark: str) -> str:
    """The caveat of a toy target whose random-init control wins by surface overlap."""
    task = TASKS.get(target)
    if benchmark != "toy" or task is None or task.family != "retrieval":
        return ""
    return ("Shortcut control, not a transfer measurement: toy sentences share names, digits and "
            "(in the closer toy languages) most words with English, so mean-pooled random "
            "embeddings already match them; MLM pretraining makes the space anisotropic and "
            "scores lower. A random-init win here is surface overlap, never evidence of "
            "cross-lingual alignment.")
