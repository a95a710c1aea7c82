"""The control comparisons of the report: seed intervals and verdicts (analysis/controls.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from xstilts.analysis.controls import control_table, seed_interval, verdict


def test_seed_interval_is_a_student_t_interval():
    mean, low, high, n = seed_interval([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2) = 4.303
    assert (mean, n) == (2.0, 3)
    assert high - mean == pytest.approx(4.303 / math.sqrt(3))
    assert mean - low == pytest.approx(4.303 / math.sqrt(3))
    mean, low, high, n = seed_interval([0.5])
    assert mean == 0.5 and n == 1 and math.isnan(low) and math.isnan(high)


def test_verdicts():
    assert verdict("+", 0.01, 0.2) == "recovered"
    assert verdict("+", -0.01, 0.2) == "not recovered"
    assert verdict("0", -0.05, 0.04) == "recovered (includes 0)"
    assert verdict("0", 0.01, 0.04) == "not recovered (excludes 0)"
    assert verdict("", -0.05, 0.04) == "not distinguishable from noise"
    assert verdict("", 0.02, 0.04) == "distinguishable from noise"
    assert verdict("+", math.nan, math.nan) == "no interval (one seed)"


def test_control_table_pairs_seeds_and_knows_the_planted_truth():
    rows = []
    for seed, (none, scratch, planted, null) in enumerate(
            [(0.20, 0.10, 0.50, 0.21), (0.22, 0.11, 0.55, 0.20), (0.21, 0.12, 0.52, 0.22)], start=1):
        for inter, v in (("none", none), ("scratch", scratch), ("objclass_tags", planted),
                         ("polarity_tags", null)):
            rows.append({"kind": "cell", "benchmark": "toy", "model": "m", "target": "objclass",
                         "inter": inter, "seed": seed, "average_zero_shot": v})
    table = control_table(pd.DataFrame(rows)).set_index("comparison")
    assert table.loc["pretraining", "gain"] == pytest.approx(0.10)
    assert table.loc["planted", "gain"] == pytest.approx(0.313333, abs=1e-5)
    assert table.loc["planted", "verdict"] == "recovered"
    assert table.loc["null", "gain"] == pytest.approx(0.0)
    assert table.loc["null", "verdict"] == "recovered (includes 0)"
    assert set(table["n_seeds"]) == {3}
