"""Controls with known ground truth: can the pipeline see an effect, and does it invent one?

* **Pretraining** (toy): a pretrained encoder (``none``) against the same architecture from
  random init (``scratch``), zero-shot average.  Transfer is only claimed where this gain's
  interval excludes 0.
* **Planted intermediate tasks** (toy, ``Task.planted`` in the registry): an intermediate task
  built to teach what a data-limited target needs (expected gain > 0) and one unrelated to it
  (expected gain 0); docs/controls.md states the ground truth.
* **Shortcut targets** (toy retrieval): a random-init encoder matches shared names and words, so
  its score is a floor set by surface overlap, not evidence of alignment.

Intervals are over seeds: the mean of the per-seed paired differences (same model, target and
seed) with a two-sided 95% Student-t interval, so with 3 seeds the half-width is 2.48 standard
deviations of the differences.  A single seed gives no interval.
"""

from __future__ import annotations

import math

import pandas as pd

from xstilts.core.registry import TASKS

#: two-sided 97.5% quantiles of Student's t by degrees of freedom (df > 30: the normal's)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t975(df: int) -> float:
    if df > 30:
        return 1.960
    return _T975[max(k for k in _T975 if k <= df)]


def seed_interval(diffs) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)`` of paired per-seed differences; NaN bounds for fewer than 2."""
    values = [float(v) for v in diffs if v is not None and not math.isnan(float(v))]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan, n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _paired(cells: pd.DataFrame, model: str, target: str, a: str, b: str, column: str) -> list:
    d = cells[(cells["kind"] == "cell") & (cells["model"] == model) & (cells["target"] == target)]
    left = d[d["inter"] == a].set_index("seed")[column]
    right = d[d["inter"] == b].set_index("seed")[column]
    seeds = sorted(set(left.index) & set(right.index))
    return [left[s] - right[s] for s in seeds]


def verdict(expected: str, low: float, high: float) -> str:
    """Whether the interval agrees with the ground truth (``+``: excludes 0 above; ``0``:
    includes 0); without a known truth (``""``), whether it is distinguishable from noise."""
    if math.isnan(low):
        return "no interval (one seed)"
    if not expected:
        return ("distinguishable from noise" if low > 0 or high < 0
                else "not distinguishable from noise")
    if expected == "+":
        return "recovered" if low > 0 else "not recovered"
    return "recovered (includes 0)" if low <= 0 <= high else "not recovered (excludes 0)"


def control_table(cells: pd.DataFrame, column: str = "average_zero_shot") -> pd.DataFrame:
    """One row per control comparison present in ``cells``: ``comparison`` (pretraining /
    planted / null), model, target, inter, baseline inter, gain, ci_low, ci_high, n_seeds,
    expected (``+``, ``0`` or ``""`` when the truth is not known), verdict."""
    rows = []
    real = cells[cells["kind"] == "cell"]
    toy = "toy" in set(real["benchmark"].dropna())
    for (model, target), d in real.groupby(["model", "target"], sort=False):
        inters = set(d["inter"])
        if toy and {"none", "scratch"} <= inters:
            rows.append(("pretraining", model, target, "none", "scratch", ""))
        for inter in sorted(inters):
            task = TASKS.get(inter)
            for planted_target, expected in (task.planted if task else ()):
                if planted_target == target and "none" in inters:
                    kind = "planted" if expected == "+" else "null"
                    rows.append((kind, model, target, inter, "none", expected))
    out = []
    for kind, model, target, inter, base, expected in rows:
        mean, low, high, n = seed_interval(_paired(real, model, target, inter, base, column))
        out.append({"comparison": kind, "model": model, "target": target, "inter": inter,
                    "versus": base, "gain": mean, "ci_low": low, "ci_high": high, "n_seeds": n,
                    "expected": expected, "verdict": verdict(expected, low, high)})
    return pd.DataFrame(out, columns=["comparison", "model", "target", "inter", "versus", "gain",
                                      "ci_low", "ci_high", "n_seeds", "expected", "verdict"])


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
