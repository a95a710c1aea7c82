"""The paired bootstrap (analysis/stats.py, analysis/gains.target_tables): coverage on synthetic
predictions with a known difference, p-values under no difference, the seqeval bootstrap, the
per-example scores of the families against the official metric functions."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.analysis import metrics as M
from xstilts.analysis.gains import target_tables
from xstilts.analysis.stats import ExampleScores, StatsError, p_value, replicate_scores, rng_for
from xstilts.core.registry import get_family, get_task

N_EXAMPLES = 300


def _dataset(rng, delta: float, seeds: int, seed_sd: float) -> dict:
    """One synthetic test set: example difficulty q ~ U(0.2, 0.8) drawn once (the test sample),
    per-seed correctness of ``none`` ~ Bernoulli(q + e_s) and of ``mnli`` ~ Bernoulli(q + delta +
    e'_s), seed effects e ~ N(0, seed_sd): the population gain is exactly ``delta``."""
    q = rng.uniform(0.2, 0.8, N_EXAMPLES)
    cells = {}
    for s in range(1, seeds + 1):
        for inter, shift in (("none", 0.0), ("mnli", delta)):
            p = q + shift + rng.normal(0, seed_sd)
            cells[("m", inter, s)] = {"qaa": ExampleScores.mean((rng.random(N_EXAMPLES) < p).astype(float))}
    return cells


def _gain(cells, seed):
    rows, _, _ = target_tables("t", "accuracy", cells, ["qaa"], ["qaa"], {"m": 1.0},
                               n_resamples=1000, seed=seed)
    (row,) = [r for r in rows if r["comparison"] == "inter_vs_none"]
    return row


@pytest.mark.parametrize("seeds,seed_sd", [(1, 0.0), (3, 0.03)])
def test_interval_covers_a_known_difference(seeds, seed_sd):
    rng = np.random.default_rng(7)
    covered = 0
    for k in range(100):
        row = _gain(_dataset(rng, 0.08, seeds, seed_sd), k)
        covered += row["ci_low"] <= 0.08 <= row["ci_high"]
        assert row["n_seeds"] == seeds and row["n_examples"] == N_EXAMPLES
        assert row["seed_level"] == (seeds > 1)
    assert covered >= 90, covered


def test_no_difference_gives_p_values_that_are_not_systematically_small():
    rng = np.random.default_rng(11)
    ps = np.array([_gain(_dataset(rng, 0.0, 3, 0.02), k)["p_value"] for k in range(100)])
    assert (ps < 0.05).sum() <= 10
    assert ps.mean() > 0.35
    # and a real difference is detected
    assert _gain(_dataset(rng, 0.15, 3, 0.01), 0)["p_value"] < 0.01


def test_p_value_inverts_the_interval():
    reps = np.concatenate([np.full(970, 0.1), np.full(30, -0.1)])
    assert p_value(reps) == pytest.approx(2 * 31 / 1001)
    assert p_value(np.full(1000, 0.0)) == 1.0


def test_seqeval_bootstrap_recomputes_corpus_f1():
    golds = [["B-PER", "I-PER", "O"], ["B-LOC", "O"], ["B-ORG"]]
    preds = [["B-PER", "I-PER", "O"], ["O", "O"], ["B-ORG"]]
    task = get_task("panx")
    scores = get_family(task.family).example_scores(task, preds, golds, "qaa")
    # per sentence: (true-positive, predicted, gold chunks)
    assert scores.stats.tolist() == [[1, 1, 1], [0, 0, 1], [1, 1, 1]]
    assert scores.value == pytest.approx(2 * 2 / (2 + 3))  # corpus F1 0.8
    assert scores.value == pytest.approx(M.seqeval_prf(golds, preds)["f1"])
    # the resample {s2, s2, s3}: corpus F1 = 2 * 1 / (1 + 3) = 0.5 (a mean of per-sentence F1s
    # would give 1/3)
    value = scores.resampled(np.array([[0.0, 2.0, 1.0]]))[0]
    assert value == pytest.approx(0.5)
    assert value == pytest.approx(M.seqeval_prf([golds[1], golds[1], golds[2]],
                                                [preds[1], preds[1], preds[2]])["f1"])


def test_seqeval_counts_sum_to_the_corpus_on_pos_tags():
    rng = np.random.default_rng(3)
    tags = ["NOUN", "VERB", "X", "ADJ", "DET", "O"]
    golds = [list(rng.choice(tags, rng.integers(1, 8))) for _ in range(60)]
    preds = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in g] for g in golds]
    task = get_task("udpos")
    scores = get_family(task.family).example_scores(task, preds, golds, "qaa")
    assert scores.value == pytest.approx(M.seqeval_prf(golds, preds)["f1"])


def test_bucc_and_ranking_scores_match_the_official_functions():
    gold = ["a-1\tb-1", "a-2\tb-2", "a-3\tb-3"]
    pred = ["a-1\tb-1", "a-2\tb-9", "a-4\tb-4"]
    bucc = get_task("bucc2018")
    s = get_family(bucc.family).example_scores(bucc, pred, gold, "qaa")
    assert s.value == pytest.approx(M.bucc_prf(pred, gold)["f1"]) and set(s.ids) == {"a-1", "a-2", "a-3", "a-4"}
    lareqa = get_task("lareqa")
    golds, preds = {"q1": ["c1"], "q2": ["c2", "c3"]}, {"q1": ["c9", "c1"], "q2": ["c3"]}
    s = get_family(lareqa.family).example_scores(lareqa, preds, golds, "qaa")
    assert s.value == pytest.approx(M.mean_average_precision_at_k(golds, preds, 20))


def test_qa_scores_are_per_question_em_f1():
    task = get_task("xquad")
    golds = [("q1", ["the red house"]), ("q2", ["blue"]), ("q3", ["green tree"])]
    preds = {"q1": "red house", "q2": "a blue one"}  # q3 unanswered: 0
    s = get_family(task.family).example_scores(task, preds, golds, "qaa")
    em_f1 = [(1.0, 1.0), M.squad_em_f1("a blue one", ["blue"]), (0.0, 0.0)]
    assert s.stats[:, 0].tolist() == pytest.approx([(e + f) / 2 for e, f in em_f1])


def test_cells_must_share_the_test_set():
    cells = {"a": {"qaa": ExampleScores.mean([1, 0, 1])}, "b": {"qaa": ExampleScores.mean([1, 0])}}
    with pytest.raises(StatsError, match="different numbers of test examples"):
        replicate_scores(cells, 100, rng_for(0, "t"))


def test_size_interaction_and_scratch_rows():
    rng = np.random.default_rng(5)
    cells = {}
    for model, gain in (("small", 0.2), ("large", 0.0)):
        for s in (1, 2, 3):
            for inter, p in (("none", 0.5), ("mnli", 0.5 + gain), ("scratch", 0.3)):
                cells[(model, inter, s)] = {"qaa": ExampleScores.mean((rng.random(400) < p).astype(float)),
                                            "en": ExampleScores.mean(np.ones(400))}
    rows, scores, _ = target_tables("t", "accuracy", cells, ["qaa"], ["en", "qaa"],
                                    {"small": 1e5, "large": 8e5}, n_resamples=1000)
    by = {(r["model"], r["comparison"]): r for r in rows}
    assert set(by) == {(m, c) for m in ("small", "large") for c in ("inter_vs_none", "none_vs_scratch")} | {
        ("large", "interaction_vs_smallest")}
    inter = by[("large", "interaction_vs_smallest")]
    assert inter["gain"] == pytest.approx(by[("large", "inter_vs_none")]["gain"] - by[("small", "inter_vs_none")]["gain"])
    assert inter["ci_high"] < 0 and inter["versus"] == "small"
    assert by[("small", "none_vs_scratch")]["inter"] == "none" and by[("small", "none_vs_scratch")]["ci_low"] > 0
    assert {r["language"] for r in scores} == {"qaa", "en", "average", "zero-shot"}
