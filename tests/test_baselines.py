"""Trivial baselines: exact values on hand-made examples; near chance on every toy twin."""

from __future__ import annotations

import pytest

from xstilts.analysis.baselines import overlap_rule_baseline, overlap_stats, run_baselines, task_baselines
from xstilts.stages.evaluate import evaluate_baselines
from xstilts.core.registry import get_task
from xstilts.toy import TOY_LANGUAGES, generate

LANGS = ("en",) + TOY_LANGUAGES


def test_overlap_stats_by_hand():
    # tokens: [alice, saw, bob] / [bob, saw, carl, 12]; shared {saw, bob}; union 5 types
    assert overlap_stats("Alice saw Bob.", "Bob saw Carl, 12") == (3, 4, 2, 2 / 5)
    assert overlap_stats("", "") == (0, 0, 0, 0.0)


def test_mc_overlap_rule_by_hand():
    exs = [
        {"context": "a b c", "choices": ["a x", "a b", "y z"], "label": 1},  # 1,2,0 -> right
        {"context": "a b", "choices": ["a x", "b y"], "label": 0},  # tie of 2 -> 1/2
        {"context": "p q", "choices": ["p q", "q"], "label": 1},  # 2,1 -> wrong
        {"context": "p", "choices": ["x", "y", "z"], "label": 2},  # tie of 3 -> 1/3
    ]
    res = overlap_rule_baseline([], {"t": exs}, "mc")
    assert res["t"] == pytest.approx((1 + 0.5 + 0 + 1 / 3) / 4)


def test_pair_overlap_rule_by_hand():
    same = {"text_a": "a b", "text_b": "a b", "label": 1}  # jaccard 1
    diff = {"text_a": "a b", "text_b": "c d", "label": 0}  # jaccard 0
    half = {"text_a": "a b", "text_b": "a c", "label": 0}  # jaccard 1/3
    # 2 bins cut at the training median (0.5): <= 0.5 -> 0, > 0.5 -> 1
    res = overlap_rule_baseline([same, same, diff, diff], {"x": [same, diff, half], "y": [half]}, "pair",
                                n_bins=2)
    assert res == {"x": 1.0, "y": 1.0}
    res = overlap_rule_baseline([same, diff], {"x": [dict(same, label=0)]}, "pair", n_bins=2)
    assert res == {"x": 0.0}


def test_single_majority_by_hand():
    train = [{"text_a": "x", "label": 1}] * 3 + [{"text_a": "y", "label": 0}]
    ev = [{"text_a": "z", "label": 1}, {"text_a": "z", "label": 0}, {"text_a": "z", "label": 0}]
    assert run_baselines({"train": train, "en": ev}, "single")["overlap"] == {"en": pytest.approx(1 / 3)}


def test_length_shared_learns_a_length_rule():
    # label = 1 iff the second text is shorter: separable by the length-difference feature
    train = []
    for n in range(1, 9):
        a = " ".join(f"w{i}" for i in range(8))
        train.append({"text_a": a, "text_b": " ".join(f"w{i}" for i in range(n)), "label": int(n < 5)})
    ev = [{"text_a": "a b c d e f g h", "text_b": "a b", "label": 1},
          {"text_a": "a b c d e f g h", "text_b": "a b c d e f g", "label": 0}]
    assert run_baselines({"train": train * 5, "en": ev}, "pair")["length_shared"] == {"en": 1.0}
    # multiple choice: the right choice is always the longest one
    mc = [{"context": "c", "choices": ["x y z w", "x", "x y"][k:] + ["x y z w", "x", "x y"][:k],
           "label": (3 - k) % 3} for k in range(3)]
    assert run_baselines({"train": mc * 10, "en": mc}, "mc")["length_shared"] == {"en": 1.0}


def test_invalid_kind():
    with pytest.raises(ValueError):
        run_baselines({"train": []}, "regression")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    generate(root, seed=0, n_train=600, n_dev=300, n_test=300, n_corpus=10)
    return root / "hub"


TASK_LANGS = {"mnli": ("en",), "anli": ("en",), "qqp": ("en",), "sst2": ("en",),
              "hellaswag": ("en",), "commonsenseqa": ("en",), "cosmosqa": ("en",),
              "xnli": LANGS, "pawsx": LANGS, "xcopa": LANGS}


@pytest.mark.parametrize("task", sorted(TASK_LANGS))
def test_twins_defeat_trivial_baselines(hub, task):
    res = task_baselines(get_task(task), str(hub), TASK_LANGS[task])
    guess = 1 / {"mnli": 3, "anli": 3, "xnli": 3, "qqp": 2, "sst2": 2, "pawsx": 2, "xcopa": 2,
                 "hellaswag": 4, "commonsenseqa": 5, "cosmosqa": 4}[task]
    for name, per_lang in res.items():
        assert set(per_lang) == set(TASK_LANGS[task])
        for lang, acc in per_lang.items():
            assert acc <= guess + 0.10, (task, name, lang, acc)


def test_baseline_eval_json(hub):
    ev = evaluate_baselines(get_task("xnli"), str(hub), list(LANGS), {"benchmark": "toy"})
    assert ev["benchmark"] == "toy" and set(ev["languages"]) == set(LANGS)
    assert ev["languages"]["qad"]["n"] == 300 and ev["chance"] == pytest.approx(1 / 3)
    assert set(ev["baselines"]) == {"length_shared", "overlap"}
    for b in ev["baselines"].values():
        accs = [v["accuracy"] for v in b["languages"].values()]
        assert b["average"] == pytest.approx(sum(accs) / 5)
    assert ev["average"] == max(b["average"] for b in ev["baselines"].values())
