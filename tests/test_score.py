"""The XTREME-layout scorer on tiny hand-written folders."""

import json

import pytest

from xstilts.analysis import score as S


def _write(root, task, lang, text, ext="tsv"):
    d = root / task
    d.mkdir(parents=True, exist_ok=True)
    (d / f"test-{lang}.{ext}").write_text(text, encoding="utf-8")


@pytest.fixture
def folders(tmp_path):
    pred, gold = tmp_path / "pred", tmp_path / "gold"
    # xnli: en 3/4 right, de 1/2 right
    _write(gold, "xnli", "en", "entailment\nneutral\ncontradiction\nneutral\n")
    _write(pred, "xnli", "en", "entailment\nneutral\ncontradiction\nentailment\n")
    _write(gold, "xnli", "de", "neutral\nneutral\n")
    _write(pred, "xnli", "de", "neutral\nentailment\n")
    # pawsx: en 2/2, fr 0/1
    _write(gold, "pawsx", "en", "1\n0\n")
    _write(pred, "pawsx", "en", "1\n0\n")
    _write(gold, "pawsx", "fr", "1\n")
    _write(pred, "pawsx", "fr", "0\n")
    # xcopa (jsonl, "label" compared): et 1/2, zh 2/2
    _write(gold, "xcopa", "et", '{"label": 0, "idx": 1}\n{"label": 1, "idx": 2}\n', "jsonl")
    _write(pred, "xcopa", "et", '{"label": 0}\n{"label": 0}\n', "jsonl")
    _write(gold, "xcopa", "zh", '{"label": 1}\n{"label": 1}\n', "jsonl")
    _write(pred, "xcopa", "zh", '{"label": 1}\n{"label": 1}\n', "jsonl")
    return pred, gold


def test_classification_values_and_averages(folders):
    pred, gold = folders
    scores = S.score_predictions(pred, gold)
    assert list(scores) == ["pawsx", "xcopa", "xnli"]
    # languages in the official order (xnli: ... de ... en ...)
    assert [k for k in scores["xnli"] if k != "avg"] == ["de", "en"]
    assert scores["xnli"]["en"] == {"accuracy": 75.0, "n": 4}
    assert scores["xnli"]["de"] == {"accuracy": 50.0, "n": 2}
    # unweighted mean over languages, as evaluate.py
    assert scores["xnli"]["avg"] == {"accuracy": 62.5, "metric": 62.5}
    assert scores["pawsx"]["avg"]["metric"] == 50.0
    assert scores["xcopa"]["et"]["accuracy"] == 50.0
    assert scores["xcopa"]["avg"]["metric"] == 75.0


def test_task_subset_and_groups(folders):
    pred, gold = folders
    scores = S.score_predictions(pred, gold, tasks=["xnli", "pawsx"])
    assert list(scores) == ["xnli", "pawsx"]
    assert S.group_scores(scores, "xtreme") == {"classification": 56.25}
    full = S.score_predictions(pred, gold)
    # XTREME-R classification = xnli + xcopa; multi_choice = xcopa
    assert S.group_scores(full, "xtreme-r") == {"classification": 68.75, "multi_choice": 75.0}


def test_line_count_mismatch_names_both_files(folders):
    pred, gold = folders
    _write(pred, "xnli", "de", "neutral\n")
    with pytest.raises(S.ScoreError) as e:
        S.score_predictions(pred, gold, tasks=["xnli"])
    msg = str(e.value)
    assert str(pred / "xnli" / "test-de.tsv") in msg and "1 lines" in msg
    assert str(gold / "xnli" / "test-de.tsv") in msg and "2 lines" in msg


def test_trailing_blank_line_counts_as_an_example(folders):
    pred, gold = folders
    _write(pred, "pawsx", "fr", "0\n\n")  # official read_label keeps blank lines
    with pytest.raises(S.ScoreError, match="2 lines"):
        S.score_predictions(pred, gold, tasks=["pawsx"])


def test_missing_prediction_file_named(folders):
    pred, gold = folders
    (pred / "xnli" / "test-de.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"xnli/test-de\.tsv is missing"):
        S.score_predictions(pred, gold, tasks=["xnli"])


def test_prediction_without_label_file_is_an_error(folders):
    pred, gold = folders
    _write(pred, "xnli", "fr", "neutral\n")
    with pytest.raises(S.ScoreError, match=r"test-fr\.tsv has no label file"):
        S.score_predictions(pred, gold, tasks=["xnli"])
    # unless the caller restricts the languages on purpose
    assert list(S.score_predictions(pred, gold, tasks=["xnli"], languages=["en"])["xnli"]) == ["en", "avg"]


def test_wrong_extension_is_an_error(folders):
    pred, gold = folders
    _write(pred, "xcopa", "it", "1\n", "tsv")
    with pytest.raises(S.ScoreError, match=r"test-it\.tsv has extension \.tsv; task xcopa expects"):
        S.score_predictions(pred, gold, tasks=["xcopa"])


def test_task_folder_on_one_side_only_is_left_out_with_a_note(folders, capsys):
    pred, gold = folders
    _write(pred, "udpos", "en", "NOUN\n")
    scores = S.score_predictions(pred, gold)
    assert "udpos" not in scores and set(scores) == {"pawsx", "xcopa", "xnli"}
    assert "udpos left out" in capsys.readouterr().err


def test_readme_command_on_one_cell_of_a_multi_target_grid(tmp_path, capsys):
    """`xstilts score --predictions <cell>/predictions --labels results/labels`: the labels hold
    every target, a cell's predictions one; XCOPA's English (COPA) file is scored but not
    averaged, as in eval.json (averaged_languages)."""
    pred, gold = tmp_path / "cell" / "predictions", tmp_path / "labels"
    _write(gold, "xnli", "de", "entailment\n", "tsv")  # another target: only in the labels
    for lang, labels, guesses in (("en", [0, 1], [0, 1]), ("et", [0, 1], [0, 0]), ("zh", [1, 1, 0], [1, 0, 1])):
        _write(gold, "xcopa", lang, "".join(f'{{"label": {v}}}\n' for v in labels), "jsonl")
        _write(pred, "xcopa", lang, "".join(f'{{"label": {v}}}\n' for v in guesses), "jsonl")
    out = tmp_path / "s.json"
    assert S.main(["--predictions", str(pred), "--labels", str(gold), "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "xnli left out" in captured.err
    xcopa = json.loads(out.read_text())["tasks"]["xcopa"]
    assert xcopa["en"]["accuracy"] == 100.0 and set(xcopa) == {"en", "et", "zh", "avg"}
    # et 1/2, zh 1/3: mean over et and zh only (with en it would be 61.11)
    assert xcopa["avg"]["accuracy"] == pytest.approx((50.0 + 100.0 / 3) / 2)
    from xstilts.core.registry import get_task
    assert get_task("xcopa").averaged_languages(["en", "et", "zh"]) == ["et", "zh"]


def test_unknown_task(folders):
    pred, gold = folders
    with pytest.raises(S.UnknownTaskError, match="unknown task 'xnlii'"):
        S.score_predictions(pred, gold, tasks=["xnlii"])
    assert S.main(["--predictions", str(pred), "--labels", str(gold), "--tasks", "nope"]) == 2


def test_bad_jsonl_line_named(folders):
    pred, gold = folders
    _write(pred, "xcopa", "zh", '{"label": 1}\nnot json\n', "jsonl")
    with pytest.raises(S.ScoreError, match=r"xcopa/test-zh\.jsonl:2: not a JSON object"):
        S.score_predictions(pred, gold, tasks=["xcopa"])


def test_tagging_sentence_mismatch_names_lines(tmp_path):
    pred, gold = tmp_path / "p", tmp_path / "g"
    _write(gold, "panx", "en", "B-PER\nI-PER\nO\n\nB-LOC\nO\n")
    _write(pred, "panx", "en", "B-PER\nI-PER\nO\n\nB-LOC\n")
    with pytest.raises(S.ScoreError, match=r"sentence 2 has 1 tags in .*p/panx/test-en\.tsv \(from line 5\) "
                                           r"but 2 tags in .*g/panx/test-en\.tsv \(from line 5\)"):
        S.score_predictions(pred, gold)
    _write(pred, "panx", "en", "B-PER\nI-PER\nO\n\nB-ORG\nO\n")
    out = S.score_predictions(pred, gold)["panx"]
    # gold PER, LOC; pred PER, ORG -> P = R = F1 = 50
    assert out["en"]["f1"] == pytest.approx(50.0) and out["en"]["n"] == 5
    assert out["avg"]["metric"] == pytest.approx(50.0)


def test_qa_em_f1_and_headline(tmp_path, capsys):
    pred, gold = tmp_path / "p", tmp_path / "g"
    gold_doc = {"version": "1.1", "data": [{"paragraphs": [{"context": "...", "qas": [
        {"id": "a", "answers": [{"text": "the Eiffel Tower", "answer_start": 0}]},
        {"id": "b", "answers": [{"text": "big cat", "answer_start": 0}]},
    ]}]}]}
    _write(gold, "xquad", "en", json.dumps(gold_doc), "json")
    _write(pred, "xquad", "en", json.dumps({"a": "Eiffel tower", "b": "big red cat"}), "json")
    out = S.score_predictions(pred, gold)["xquad"]
    assert out["en"]["exact_match"] == pytest.approx(50.0)
    assert out["en"]["f1"] == pytest.approx(90.0)  # (1 + 0.8) / 2
    assert out["avg"]["metric"] == pytest.approx(70.0)  # (EM + F1) / 2
    # an unanswered question scores 0 and is reported, not hidden
    _write(pred, "xquad", "en", json.dumps({"a": "Eiffel tower"}), "json")
    out = S.score_predictions(pred, gold)["xquad"]
    assert out["en"]["exact_match"] == pytest.approx(50.0) and out["en"]["n_unanswered"] == 1
    assert "1 score 0" in capsys.readouterr().err


def test_mlqa_uses_language_normalisation(tmp_path):
    pred, gold = tmp_path / "p", tmp_path / "g"
    doc = {"data": [{"paragraphs": [{"qas": [{"id": "z", "answers": [{"text": "北京大学"}]}]}]}]}
    _write(gold, "mlqa", "zh", json.dumps(doc, ensure_ascii=False), "json")
    _write(pred, "mlqa", "zh", json.dumps({"z": "北京"}, ensure_ascii=False), "json")
    out = S.score_predictions(pred, gold)["mlqa"]["zh"]
    assert out["f1"] == pytest.approx(200 / 3) and out["exact_match"] == 0.0


def test_bucc_and_mewslix(tmp_path):
    pred, gold = tmp_path / "p", tmp_path / "g"
    _write(gold, "bucc2018", "de", "de-1\ten-1\nde-2\ten-2\n")
    _write(pred, "bucc2018", "de", "de-1\ten-1\nde-3\ten-3\nde-4\ten-4\n")
    b = S.score_predictions(pred, gold, tasks=["bucc2018"])["bucc2018"]["de"]
    assert b["precision"] == pytest.approx(100 / 3) and b["recall"] == pytest.approx(50.0)
    assert b["f1"] == pytest.approx(40.0)
    _write(gold, "mewslix", "en", json.dumps({"m1": ["Q1"], "m2": ["Q2"]}), "json")
    _write(pred, "mewslix", "en", json.dumps({"m1": ["Q5", "Q1"], "m2": ["Q2"]}), "json")
    m = S.score_predictions(pred, gold, tasks=["mewslix"])["mewslix"]
    assert m["en"]["map@20"] == pytest.approx(75.0) and m["avg"]["metric"] == pytest.approx(75.0)


def test_cli_prints_like_evaluate_py_and_writes_json(folders, tmp_path, capsys):
    pred, gold = folders
    out_json = tmp_path / "out" / "scores.json"
    rc = S.main(["--predictions", str(pred), "--labels", str(gold), "--tasks", "xnli,pawsx",
                 "--xtreme-version", "xtreme", "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    assert ("====== xnli ======\n------ accuracy ------\nde, en\n50.00, 75.00\n"
            "accuracy: 62.50\nmetric: 62.50\n") in text
    assert "classification: 56.25" in text
    doc = json.loads(out_json.read_text())
    assert doc["tasks"]["pawsx"]["fr"] == {"accuracy": 0.0, "n": 1}
    assert doc["groups"] == {"classification": 56.25}


def test_register_task_plugs_in_a_twin(folders):
    pred, gold = folders
    from dataclasses import replace

    from xstilts.core.registry import TASKS, register

    register(replace(TASKS["xnli"], name="toyxnli"))  # a twin with xnli's submission format
    try:
        (pred / "xnli").rename(pred / "toyxnli")
        (gold / "xnli").rename(gold / "toyxnli")
        assert S.score_predictions(pred, gold, tasks=["toyxnli"])["toyxnli"]["avg"]["metric"] == 62.5
    finally:
        del TASKS["toyxnli"]
