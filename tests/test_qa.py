"""Extractive QA family: windows, labels, span decoding, metrics, converters, submission files,
baseline and toy twins (fast; the learning test is tests/test_qa_learning.py)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from xstilts.stages.data import load_examples
from xstilts.tasks.families import ConversionError
from xstilts.tasks.families.qa import FAMILY as QA, answer_em_f1, decode, overlap_answer, windows
from xstilts.core.registry import get_task
from xstilts.analysis.score import score_predictions

ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))])
SQUAD = pa.schema([("id", pa.string()), ("title", pa.string()), ("context", pa.string()),
                   ("question", pa.string()), ("answers", ANSWERS)])


@pytest.fixture(scope="module")
def tok():
    """A word-level fast tokenizer with XLM-R's pair template: <s> q </s></s> c </s>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = "<s> <pad> </s> <unk> a b c d e f g h who what where q".split()
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")


def example(answer: str | None, context="a b c d e f g h", question="q", qid="x"):
    if answer is None:
        return {"id": qid, "context": context, "question": question, "answers": [], "answer_starts": []}
    return {"id": qid, "context": context, "question": question, "answers": [answer],
            "answer_starts": [context.index(answer)]}


# ------------------------------------------------------------------------- windows and labels
def test_windows_step_by_doc_stride_until_the_end():
    assert windows(8, 4, 2) == [(0, 4), (2, 4), (4, 4)]
    assert windows(8, 4, 4) == [(0, 4), (4, 4)]
    assert windows(9, 4, 4) == [(0, 4), (4, 4), (8, 1)]
    assert windows(3, 4, 2) == [(0, 3)]
    assert windows(8, 4, 10) == [(0, 4), (4, 4)]  # stride above the budget: no gap
    with pytest.raises(ValueError):
        windows(8, 0, 2)


def test_encode_question_first_windows_offsets_and_labels(tok):
    # <s> q </s> </s> = 4 tokens before the context, </s> after: max_length 9 -> 4 context tokens
    feats = QA.encode(tok, [example("e f")], 9, doc_stride=2)
    assert [f["id"] for f in feats] == ["x#0", "x#1", "x#2"]
    assert feats[0]["seqs"] == [[0, 15, 2, 2, 4, 5, 6, 7, 2]]  # <s> q </s></s> a b c d </s>
    assert feats[1]["seqs"] == [[0, 15, 2, 2, 6, 7, 8, 9, 2]]  # c d e f
    assert feats[0]["offset_start"] == [-1, -1, -1, -1, 0, 2, 4, 6, -1]
    assert feats[1]["offset_end"] == [-1, -1, -1, -1, 5, 7, 9, 11, -1]
    # answer "e f" = context tokens 4-5: outside window 0, positions 6-7 of window 1, 4-5 of window 2
    assert [(f["start"], f["end"]) for f in feats] == [(0, 0), (6, 7), (4, 5)]
    assert all(f["example_id"] == "x" and f["answers"] == ["e f"] for f in feats)


def test_answer_across_a_window_boundary_is_labelled_nowhere(tok):
    # stride 4: windows a-d and e-h; "d e" is cut by the boundary -> (0, 0) in both windows
    feats = QA.encode(tok, [example("d e")], 9, doc_stride=4)
    assert [(f["start"], f["end"]) for f in feats] == [(0, 0), (0, 0)]
    # with overlap (stride 2) the middle window c-f holds it
    feats = QA.encode(tok, [example("d e")], 9, doc_stride=2)
    assert [(f["start"], f["end"]) for f in feats] == [(0, 0), (5, 6), (0, 0)]


def test_unanswerable_and_long_question_truncation(tok):
    feats = QA.encode(tok, [example(None)], 20)
    assert [(f["start"], f["end"], f["answers"]) for f in feats] == [(0, 0, [])]
    feats = QA.encode(tok, [example("h", question="q q q q q q")], 12, doc_stride=8, max_query_length=2)
    assert feats[0]["seqs"][0][:5] == [0, 15, 15, 2, 2]  # question cut to 2 tokens
    assert len(feats) == 2 and (feats[1]["start"], feats[1]["end"]) == (6, 6)
    # <s> q q q q </s> </s> ... </s>: 8 tokens, more than max_length 7, none left for the context
    with pytest.raises(ConversionError, match=r"example x: its question and special tokens take 8 of "
                                              r"the max_length 7 tokens.*max_query_length, now 4\)"):
        QA.encode(tok, [example("h", question="q q q q q q")], 7, max_query_length=4)


def test_collate_loss_and_predict_shapes(tok):
    feats = QA.encode(tok, [example("e f"), example("a", context="a b")], 9, doc_stride=2)
    batch = QA.collate(feats, pad_id=1)
    assert batch["input_ids"].shape == (4, 1, 9) and batch["labels"].tolist()[1] == [6, 7]
    head = QA.make_head(8, None, 0.0)
    hidden = torch.randn(4, 9, 8)
    logits = QA.logits(head, hidden, batch["attention_mask"].view(4, 9), (4, 1))
    assert logits.shape == (4, 9, 2)
    assert logits[3, 7:].max().item() == -1e4  # padding of the short last feature
    assert QA.loss(logits, batch["labels"]).item() > 0
    preds = QA.predict(logits)
    assert len(preds) == 4 and preds[0].shape == (2, 9)
    assert preds[2][0].tolist() == pytest.approx(logits[2, :, 0].tolist())


# ------------------------------------------------------------------------- decoding
def _window(context, offsets, prefix=4):
    n = prefix + len(offsets) + 1
    off_s = [-1] * prefix + [s for s, _ in offsets] + [-1]
    off_e = [-1] * prefix + [e for _, e in offsets] + [-1]
    return {"seqs": [[0] * n], "offset_start": off_s, "offset_end": off_e, "context": context}


def _logits(n, start=None, end=None, null=0.0, **extra):
    s, e = [0.0] * n, [0.0] * n
    s[0] = e[0] = null
    if start is not None:
        s[start] = 5.0
    if end is not None:
        e[end] = 5.0
    for k, v in extra.items():
        (s if k.startswith("s") else e)[int(k[1:])] = v
    return [s, e]


CTX = "a b c d e f g h"
W0 = _window(CTX, [(0, 1), (2, 3), (4, 5), (6, 7)])  # a b c d
W1 = _window(CTX, [(4, 5), (6, 7), (8, 9), (10, 11)])  # c d e f


def test_decode_answer_in_the_second_window():
    wins = [(_logits(9), W0), (_logits(9, start=6, end=7), W1)]  # e f in window 1
    assert decode(wins, 30, 20, False) == "e f"


def test_decode_best_span_over_windows_and_across_the_boundary():
    # window 0 ends with "c d" (positions 6-7), score 10; window 1 offers "d e" at 9 -> "c d"
    wins = [(_logits(9, start=6, end=7), W0), (_logits(9, s5=4.5, e6=4.5), W1)]
    assert decode(wins, 30, 20, False) == "c d"
    wins = [(_logits(9, s6=4.0, e7=4.0), W0), (_logits(9, start=5, end=6), W1)]
    assert decode(wins, 30, 20, False) == "d e"  # the span that crosses window 0's end


def test_decode_rejects_impossible_spans():
    # best start after best end, start on a question token, too long: the valid span wins
    # (7, 5) = 18 ends before it starts, (1, 2) = 40 lies in the question: "a b" = (4, 5) = 12
    lg = _logits(9, s7=9.0, e5=9.0, s1=20.0, e2=20.0, s4=3.0)
    assert decode([(lg, W0)], 30, 20, False) == "a b"
    # (4, 7) = 10 is 4 tokens long: with max_answer_length 2, (4, 5) = 6 wins
    lg = _logits(9, s4=5.0, e7=5.0, e5=1.0)
    assert decode([(lg, W0)], 2, 20, False) == "a b"
    assert decode([(lg, W0)], 4, 20, False) == "a b c d"
    # n_best 1: only the best start and the best end are paired, here invalid -> ""
    assert decode([(_logits(9, s7=9.0, e5=9.0), W0)], 30, 1, False) == ""


def test_decode_null_answer_only_with_null_answers():
    wins = [(_logits(9, start=4, end=4, null=6.0), W0), (_logits(9, null=7.0), W1)]
    # span 10 vs null = min(12, 14) = 12 -> "" for SQuAD v2, the span for v1.1
    assert decode(wins, 30, 20, True) == ""
    assert decode(wins, 30, 20, False) == "a"
    wins = [(_logits(9, start=4, end=4, null=4.0), W0), (_logits(9, null=7.0), W1)]
    assert decode(wins, 30, 20, True) == "a"


def test_outputs_group_windows_by_example_in_first_appearance_order(tok):
    feats = QA.encode(tok, [example("e f", qid="x"), example("b", context="a b", qid="y")], 9,
                      doc_stride=2)
    preds = [_logits(9)] * 3 + [_logits(7, start=5, end=5)]
    preds[1] = _logits(9, start=6, end=7)
    ids, outs = QA.outputs(None, preds, feats, max_answer_length=30, n_best=20)
    assert ids == ["x", "y"] and outs == ["e f", "b"]


# ------------------------------------------------------------------------- metrics
class T:
    def __init__(self, name, metric):
        from xstilts.core.registry import TASKS

        self.name, self.metric = name, metric
        self.submission = TASKS[name].submission  # the submission format lives on the task


XQUAD, MLQA = T("xquad", "squad_em_f1"), T("mlqa", "mlqa_em_f1")


def test_squad_and_mlqa_answer_scores_are_hand_computed():
    # SQuAD: articles and ASCII punctuation dropped, max over golds
    assert answer_em_f1(XQUAD, "The Eiffel tower!", ["Eiffel Tower", "tower"], "en") == (1.0, 1.0)
    em, f1 = answer_em_f1(XQUAD, "big red car", ["red car in Paris", "a car"], "en")
    assert em == 0.0 and f1 == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    # SQuAD normalisation keeps Spanish articles and Unicode punctuation
    assert answer_em_f1(XQUAD, "el perro", ["perro"], "es") == (0.0, pytest.approx(2 / 3))
    # MLQA: Spanish, German, English articles per language
    assert answer_em_f1(MLQA, "el perro", ["perro"], "es") == (1.0, 1.0)
    assert answer_em_f1(MLQA, "der Hund", ["Hund"], "de") == (1.0, 1.0)
    assert answer_em_f1(MLQA, "der Hund", ["Hund"], "en") == (0.0, pytest.approx(2 / 3))
    assert answer_em_f1(MLQA, "the dog", ["dog"], "en") == (1.0, 1.0)
    # Unicode punctuation: «» and ¡! dropped by MLQA, kept by SQuAD
    assert answer_em_f1(MLQA, "«Hola»", ["¡Hola!"], "es") == (1.0, 1.0)
    assert answer_em_f1(XQUAD, "«Hola»", ["Hola"], "es") == (0.0, 0.0)
    # Chinese: character level; 北京 vs 北京大学: P = 1, R = 2/4 -> F1 2/3
    assert answer_em_f1(MLQA, "北京", ["北京大学"], "zh") == (0.0, pytest.approx(2 / 3))
    assert answer_em_f1(XQUAD, "北京", ["北京大学"], "zh") == (0.0, 0.0)  # one token each
    # toy languages: MLQA whitespace tokenisation without articles
    assert answer_em_f1(MLQA, "the dog", ["dog"], "qaa") == (0.0, pytest.approx(2 / 3))
    # unanswerable (SQuAD v2): only "" is right
    assert answer_em_f1(XQUAD, "", [], "en") == (1.0, 1.0)
    assert answer_em_f1(XQUAD, "dog", [], "en") == (0.0, 0.0)


def test_score_is_em_f1_mean_and_submission_files_round_trip(tmp_path):
    feats = [{"example_id": "q1", "answers": ["Eiffel Tower"]},
             {"example_id": "q1", "answers": ["Eiffel Tower"]},
             {"example_id": "q2", "answers": ["der Hund", "Hund"]}]
    out = QA.score(MLQA, ["q1", "q2"], ["tower", "Hund"], feats, "de")
    # q1: EM 0, F1 2*(1)(1/2)/(1.5) = 2/3 ; q2: EM 1, F1 1
    assert out["exact_match"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["mlqa_em_f1"] == pytest.approx((0.5 + 5 / 6) / 2) and out["n"] == 2
    QA.write_predictions(MLQA, ["tower", "Hund"], ["q1", "q2"], tmp_path / "pred", "de")
    ids, gold = QA.gold(MLQA, [{"id": "q1", "answers": ["Eiffel Tower"]},
                               {"id": "q2", "answers": ["der Hund", "Hund"]}])
    QA.write_predictions(MLQA, gold, ids, tmp_path / "gold", "de")
    assert json.loads((tmp_path / "pred/mlqa/test-de.json").read_text()) == {"q1": "tower", "q2": "Hund"}
    scored = score_predictions(tmp_path / "pred", tmp_path / "gold", tasks=["mlqa"])
    assert scored["mlqa"]["de"]["exact_match"] == pytest.approx(100 * out["exact_match"])
    assert scored["mlqa"]["de"]["f1"] == pytest.approx(100 * out["f1"])
    assert scored["mlqa"]["avg"]["metric"] == pytest.approx(100 * out["mlqa_em_f1"])


def test_toy_languages_use_mlqa_whitespace_rules_in_eval_and_score(tmp_path):
    from xstilts.analysis.metrics import mlqa_language

    assert [mlqa_language(x) for x in ("qaa", "qtz", "de", "zh", "fr", "qza")] == \
        ["hi", "hi", "de", "zh", "fr", "qza"]
    feats = [{"example_id": "q1", "answers": ["the dog", "dog"]}]
    out = QA.score(MLQA, ["q1"], ["the dog!"], feats, "qad")
    assert (out["exact_match"], out["f1"]) == (1.0, 1.0)  # punctuation dropped, "the" kept
    QA.write_predictions(MLQA, ["dog"], ["q1"], tmp_path / "pred", "qad")
    QA.write_predictions(MLQA, [["the dog"]], ["q1"], tmp_path / "gold", "qad")
    scored = score_predictions(tmp_path / "pred", tmp_path / "gold", tasks=["mlqa"])
    assert scored["mlqa"]["qad"]["f1"] == pytest.approx(100 * 2 / 3)


# ------------------------------------------------------------------------- converters
def _rows(n=2):
    ctx = "Alice bought the car in Ashford. Bruno sold the cup in Redwater."
    return [{"id": "a1", "title": "T", "context": ctx, "question": "Who bought the car?",
             "answers": {"text": ["Alice", "Alice"], "answer_start": [0, 0]}},
            {"id": "a2", "title": "T", "context": ctx, "question": "What did Bruno sell?",
             "answers": {"text": ["the cup", "cup"], "answer_start": [44, 48]}}][:n]


def test_squad_schema_with_several_gold_answers(tmp_path):
    d = tmp_path / "rajpurkar/squad/default"
    d.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(_rows(), schema=SQUAD), d / "validation.parquet")
    exs = load_examples(get_task("squad"), "dev", str(tmp_path))
    assert exs[1] == {"id": "a2", "context": _rows()[1]["context"], "question": "What did Bruno sell?",
                      "answers": ["the cup", "cup"], "answer_starts": [44, 48]}
    # XQuAD (no title column) and MLQA configs per language, jsonl accepted too
    x = tmp_path / "google/xtreme/XQuAD.de"
    x.mkdir(parents=True)
    (x / "validation.jsonl").write_text("".join(
        json.dumps({k: v for k, v in r.items() if k != "title"}) + "\n" for r in _rows()))
    assert [e["answers"] for e in load_examples(get_task("xquad"), "test-de", str(tmp_path))] == \
        [["Alice", "Alice"], ["the cup", "cup"]]


def test_tydiqa_language_from_the_id_prefix(tmp_path):
    d = tmp_path / "google/xtreme/tydiqa"
    d.mkdir(parents=True)
    rows = _rows()
    rows = [{**rows[0], "id": "arabic-123-0"}, {**rows[1], "id": "english-9-0"},
            {**rows[0], "id": "arabic-77-1"}]
    pq.write_table(pa.Table.from_pylist(rows, schema=SQUAD), d / "validation.parquet")
    task = get_task("tydiqa")
    assert [e["id"] for e in load_examples(task, "test-ar", str(tmp_path))] == ["arabic-123-0", "arabic-77-1"]
    assert [e["id"] for e in load_examples(task, "test-en", str(tmp_path))] == ["english-9-0"]


def test_a_question_that_fills_max_length_stops_prepare_naming_task_split_and_keys(tmp_path, tok):
    """Settings that leave no room for the context are one error naming the task, the split, its
    source and the two keys, not a traceback from the window loop."""
    from xstilts.stages.data import DataError, prepare

    d = tmp_path / "rajpurkar/squad/default"
    d.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(_rows(), schema=SQUAD), d / "train.parquet")
    with pytest.raises(DataError, match=r"^squad train \(rajpurkar/squad:train.*\): example a1: its question "
                                        r"and special tokens take \d+ of the max_length 8 tokens, leaving none "
                                        r"for the context \(raise max_length or lower max_query_length, now 64\)$"):
        prepare(get_task("squad"), tok, str(tmp_path / "out"), ["train"], str(tmp_path), 8, None)
    manifest = prepare(get_task("squad"), tok, str(tmp_path / "out"), ["train"], str(tmp_path), 8, None,
                       options={"max_query_length": 2})
    assert manifest["parts"]["train"]["examples"] == 2


def test_bad_answer_offsets_name_file_and_row(tmp_path):
    d = tmp_path / "rajpurkar/squad/default"
    d.mkdir(parents=True)
    rows = _rows()
    rows[1]["answers"] = {"text": ["the cup"], "answer_start": [45]}
    pq.write_table(pa.Table.from_pylist(rows, schema=SQUAD), d / "train.parquet")
    with pytest.raises(ConversionError, match=r"train.parquet row 1 .*'the cup' is not at character 45"):
        load_examples(get_task("squad"), "train", str(tmp_path))
    rows[1]["answers"] = {"text": ["the cup", "cup"], "answer_start": [44]}
    pq.write_table(pa.Table.from_pylist(rows, schema=SQUAD), d / "train.parquet")
    with pytest.raises(ConversionError, match="row 1: 2 answer texts but 1 answer_start"):
        load_examples(get_task("squad"), "train", str(tmp_path))


# ------------------------------------------------------------------------- baseline
def test_overlap_baseline_picks_the_novel_span_of_the_best_sentence():
    ex = {"context": "Bruno sold the cup in Redwater. Alice bought the car in Ashford.",
          "question": "Who bought the car in Ashford?", "answers": ["Alice"]}
    assert overlap_answer(ex, 1) == "Alice"
    assert overlap_answer({**ex, "question": "Alice bought the car where?"}, 1) == "in"
    scores = QA.baselines(XQUAD, [{"answers": ["Alice"]}, {"answers": ["the car"]}, {"answers": ["x"]}],
                          {"en": [ex]})
    assert scores == {"overlap_span": {"en": 1.0}}


# ------------------------------------------------------------------------- toy twins
def test_toy_twins_are_in_the_hub_schema_with_correct_offsets():
    from xstilts.toy.qa_twins import QATwins, SQUAD_SCHEMA, XQUAD_SCHEMA
    from xstilts.toy.world import build_world

    twins = QATwins(build_world(0, ("en", "qaa", "qad")), 0, 40, 12, 12).all()
    assert twins[("rajpurkar/squad", "default")]["train"].schema == SQUAD_SCHEMA
    assert SQUAD_SCHEMA.equals(SQUAD)
    for lang in ("en", "qaa", "qad"):
        assert twins[("google/xtreme", f"XQuAD.{lang}")]["validation"].schema == XQUAD_SCHEMA
        assert ("google/xtreme", f"MLQA.{lang}.{lang}") in twins
    n_empty = 0
    for splits in twins.values():
        for tab in splits.values():
            for r in tab.to_pylist():
                a = r["answers"]
                n_empty += not a["text"]
                for t, s in zip(a["text"], a["answer_start"]):
                    assert r["context"][s:s + len(t)] == t and t
    v2 = twins[("rajpurkar/squad_v2", "default")]["train"].to_pylist()
    assert 0 < n_empty == sum(not r["answers"]["text"] for s in twins[("rajpurkar/squad_v2", "default")].values()
                              for r in s.to_pylist())
    assert all(len(r["answers"]["text"]) <= 1 for r in v2)
    dev = twins[("rajpurkar/squad", "default")]["validation"].to_pylist()
    assert all(len(r["answers"]["text"]) == 2 for r in dev)  # several gold answers
    ty = twins[("google/xtreme", "tydiqa")]["validation"].to_pylist()
    assert {r["id"].split("-")[0] for r in ty} == {"english", "qaa", "qad"}
    # the same question in every language of XQuAD (parallel ids)
    ids = [[r["id"] for r in twins[("google/xtreme", f"XQuAD.{lang}")]["validation"].to_pylist()]
           for lang in ("en", "qad")]
    assert ids[0] == ids[1]
