"""Metric values computed by hand, one official behaviour per test."""

import pytest

from xstilts.analysis import metrics as M


def test_accuracy_exact_equality():
    assert M.accuracy(["1", "0", "1", "1"], ["1", "1", "1", "0"]) == 0.5
    # values compared as read: "1" is not 1 (official evaluate.accuracy uses ==)
    assert M.accuracy([1, "1"], [1, 1]) == 0.5


def test_accuracy_rejects_mismatch_and_empty():
    with pytest.raises(ValueError, match="3 predictions but 2 gold"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError):
        M.accuracy([], [])


def test_squad_normalize_and_em_f1():
    assert M.squad_normalize("The  Cat, a dog!") == "cat dog"
    # articles only as whole words; ASCII punctuation only
    assert M.squad_normalize("Theater «an»") == "theater « »"
    em, f1 = M.squad_em_f1("the big cat", ["Big cat.", "a dog"])
    assert (em, f1) == (1.0, 1.0)
    # pred "big red cat" vs gold "big cat": same=2, P=2/3, R=1 -> F1=0.8
    em, f1 = M.squad_em_f1("big red cat", ["big cat", "dog"])
    assert em == 0.0 and f1 == pytest.approx(0.8)
    # both sides normalise to empty: EM 1 but F1 0, as in the official script
    assert M.squad_em_f1("the", ["a"]) == (1.0, 0.0)


def test_squad_evaluate_counts_unanswered_as_zero():
    data = {"data": [{"paragraphs": [{"qas": [
        {"id": "q1", "answers": [{"text": "Paris"}]},
        {"id": "q2", "answers": [{"text": "big cat"}]},
        {"id": "q3", "answers": [{"text": "x"}]},
    ]}]}]}
    out = M.squad_evaluate(data, {"q1": "paris", "q2": "big red cat", "zz": "ignored"})
    assert out["exact_match"] == pytest.approx(1 / 3)
    assert out["f1"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert out["n"] == 3 and out["n_unanswered"] == 1


def test_mlqa_normalisation_per_language():
    assert M.mlqa_normalize("Der Hund, die Katze", "de") == "hund katze"
    assert M.mlqa_normalize("Los perros", "es") == "perros"
    # Unicode punctuation is removed (not only ASCII)
    assert M.mlqa_normalize("«Hola»—¡sí!", "es") == "holasí"
    # Vietnamese articles
    assert M.mlqa_normalize("những con mèo", "vi") == "con mèo"
    # Arabic: every 'ال' becomes a space, also mid-word (official regex behaviour)
    assert M.mlqa_normalize("الكتاب", "ar") == "كتاب"
    assert M.mlqa_normalize("مالك", "ar") == "م ك"
    # Chinese: ideographs split into characters, Latin runs stay whole
    assert M.mlqa_normalize("北京大学 ABC", "zh") == "北 京 大 学 abc"
    # English articles kept for German
    assert M.mlqa_normalize("the dog", "de") == "the dog"
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        M.mlqa_normalize("x", "fr")


def test_mlqa_em_f1_chinese_is_character_level():
    # gold 北京大学 (4 chars) vs pred 北京 (2 chars): P=1, R=0.5 -> F1=2/3
    em, f1 = M.mlqa_em_f1("北京", ["北京大学"], "zh")
    assert em == 0.0 and f1 == pytest.approx(2 / 3)
    # the same strings with SQuAD normalisation are one token each: F1 0
    assert M.squad_em_f1("北京", ["北京大学"]) == (0.0, 0.0)


def test_seqeval_entities_iob2_and_sentence_flattening():
    assert M.seqeval_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    # I- after O starts a chunk; a type change ends one (conlleval-like default mode)
    assert M.seqeval_entities(["O", "I-PER", "I-LOC"]) == [("PER", 1, 1), ("LOC", 2, 2)]
    # sentences are joined with an 'O' between them
    assert M.seqeval_entities([["B-PER"], ["I-PER"]]) == [("PER", 0, 0), ("PER", 2, 2)]
    # POS tags: runs of the same tag form one chunk (type = tag minus its first char)
    assert M.seqeval_entities(["NOUN", "NOUN", "VERB"]) == [("OUN", 0, 1), ("ERB", 2, 2)]


def test_seqeval_prf_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-LOC"]]
    # gold chunks: PER(0,1) LOC(3,3) ORG(5,5); pred: PER(0,1) ORG(3,3) ORG(5,5) LOC(6,6)
    out = M.seqeval_prf(gold, pred)
    assert out["precision"] == pytest.approx(2 / 4)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert M.seqeval_prf([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="sentence 2 has 2 gold tags but 1 predicted"):
        M.seqeval_prf(gold, [gold[0], ["B-ORG"]])


def test_bucc_prf_sets_of_pairs():
    gold = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3", "de-4\ten-4"]
    pred = ["de-1\ten-1", "de-2\ten-9", "de-1\ten-1"]  # duplicate counts once
    out = M.bucc_prf(pred, gold)
    assert out["precision"] == pytest.approx(1 / 2)
    assert out["recall"] == pytest.approx(1 / 4)
    assert out["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert M.bucc_prf(["x\ty"], gold)["f1"] == 0.0


def test_average_precision_at_k():
    # relevant {a, c}; ranking a b c: (1/1 + 2/3) / 2
    assert M.average_precision_at_k({"a", "c"}, ["a", "b", "c"], k=20) == pytest.approx((1 + 2 / 3) / 2)
    # cut at k=2 and divisor min(|targets|, k)=2
    assert M.average_precision_at_k({"a", "c"}, ["a", "b", "c"], k=2) == pytest.approx(0.5)
    # a repeated candidate is credited once
    assert M.average_precision_at_k({"a"}, ["a", "a"], k=20) == 1.0
    m = M.mean_average_precision_at_k({"q1": ["a"], "q2": ["b"]}, {"q1": ["x", "a"]}, k=20)
    assert m == pytest.approx((0.5 + 0.0) / 2)


def test_mewslix_map_is_mrr_at_k():
    golds = {"m1": ["Q1 "], "m2": ["Q2"], "m3": ["Q3"]}
    preds = {"m1": ["Q9", "Q1"], "m2": ["Q2"]}
    assert M.mewslix_map_at_k(golds, preds) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    # beyond k does not count
    assert M.mewslix_map_at_k({"m": ["Q"]}, {"m": ["x"] * 20 + ["Q"]}, k=20) == 0.0
