"""The control comparisons of the report: verdicts, and their intervals taken from the gains
table (analysis/gains.py), whose seed level is a Student-t interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis.controls import control_table, verdict
from xstilts.analysis.gains import target_tables
from xstilts.analysis.stats import ExampleScores


def test_noise_free_examples_give_the_student_t_seed_interval():
    # every example of a cell scores the cell's value: only the seeds vary (sd 0.1)
    cells = {}
    for s, v in enumerate([0.5, 0.6, 0.7], start=1):
        cells[("m", "mnli", s)] = {"qaa": ExampleScores.mean(np.full(50, v))}
        cells[("m", "none", s)] = {"qaa": ExampleScores.mean(np.zeros(50))}
    rows, _, _ = target_tables("t", "accuracy", cells, ["qaa"], ["qaa"], {"m": 1.0}, n_resamples=40000)
    (r,) = rows
    half = 4.303 * 0.1 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert r["gain"] == pytest.approx(0.6)
    assert r["ci_high"] - 0.6 == pytest.approx(half, rel=0.05)
    assert 0.6 - r["ci_low"] == pytest.approx(half, rel=0.05)


def test_verdicts():
    assert verdict("+", 0.01, 0.2) == "recovered"
    assert verdict("+", -0.01, 0.2) == "not recovered"
    assert verdict("0", -0.05, 0.04) == "recovered (includes 0)"
    assert verdict("0", 0.01, 0.04) == "not recovered (excludes 0)"
    assert verdict("", -0.05, 0.04) == "not distinguishable from noise"
    assert verdict("", 0.02, 0.04) == "distinguishable from noise"
    assert verdict("+", math.nan, math.nan) == "no interval"


def test_control_table_reads_the_gains_and_knows_the_planted_truth():
    rng = np.random.default_rng(0)
    q = rng.uniform(0.2, 0.8, 300)  # example difficulty, shared by every cell
    cells = {}
    for s in (1, 2, 3):
        for inter, shift in (("none", 0.0), ("scratch", -0.15), ("objclass_tags", 0.2), ("polarity_tags", 0.0)):
            cells[("m", inter, s)] = {"qaa": ExampleScores.mean((rng.random(300) < q + shift).astype(float))}
    rows, _, _ = target_tables("objclass", "accuracy", cells, ["qaa"], ["qaa"], {"m": 1.0}, n_resamples=2000)
    gains = pd.DataFrame(rows)
    table = control_table(gains, toy=True).set_index("comparison")
    assert set(table.index) == {"pretraining", "planted", "null"}
    g = gains.set_index(["inter", "comparison"])
    for kind, key in (("planted", ("objclass_tags", "inter_vs_none")), ("null", ("polarity_tags", "inter_vs_none")),
                      ("pretraining", ("none", "none_vs_scratch"))):
        assert table.loc[kind, "gain"] == g.loc[key, "gain"]  # one owner of the numbers
        assert (table.loc[kind, "ci_low"], table.loc[kind, "ci_high"]) == (g.loc[key, "ci_low"], g.loc[key, "ci_high"])
    assert table.loc["planted", "verdict"] == "recovered"
    assert table.loc["null", "verdict"] == "recovered (includes 0)"
    assert table.loc["pretraining", "verdict"] == "distinguishable from noise"
    assert set(table["n_seeds"]) == {3}
    assert control_table(gains, toy=False)["comparison"].tolist().count("pretraining") == 0
