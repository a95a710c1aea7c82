"""Converters read local files written in each real dataset's Hub schema."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xstilts.stages.data import DataError, load_examples, local_file, read_rows
from xstilts.tasks.families import ConversionError
from xstilts.core.registry import get_task


def write(root, repo, config, split, rows, fmt="parquet"):
    d = root / repo / (config or "default")
    d.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), d / f"{split}.parquet")
    else:
        (d / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_mnli_glue_schema(tmp_path):
    write(tmp_path, "nyu-mll/glue", "mnli", "train", [
        {"premise": "A man sleeps.", "hypothesis": "A person sleeps.", "label": 0, "idx": 0},
        {"premise": "A man sleeps.", "hypothesis": "A man runs.", "label": 2, "idx": 1},
    ])
    ex = load_examples(get_task("mnli"), "train", str(tmp_path))
    assert ex == [
        {"id": 0, "text_a": "A man sleeps.", "text_b": "A person sleeps.", "label": 0},
        {"id": 1, "text_a": "A man sleeps.", "text_b": "A man runs.", "label": 2},
    ]


def test_xnli_string_labels_and_language_filter(tmp_path):
    rows = [
        {"language": "de", "sentence1": "Er schläft.", "sentence2": "Er ruht.", "gold_label": "entailment"},
        {"language": "en", "sentence1": "He sleeps.", "sentence2": "He rests.", "gold_label": "entailment"},
        {"language": "de", "sentence1": "Er schläft.", "sentence2": "Er rennt.", "gold_label": "contradiction"},
    ]
    write(tmp_path, "google/xtreme", "XNLI", "test", rows)
    ex = load_examples(get_task("xnli"), "test-de", str(tmp_path))
    assert [e["label"] for e in ex] == [0, 2]
    assert [e["text_a"] for e in ex] == ["Er schläft.", "Er schläft."]


def test_pawsx_string_labels_per_language_config(tmp_path):
    write(tmp_path, "google/xtreme", "PAWS-X.fr", "test", [
        {"sentence1": "a b", "sentence2": "b a", "label": "1"},
        {"sentence1": "a c", "sentence2": "c a", "label": "0"},
    ], fmt="jsonl")
    ex = load_examples(get_task("pawsx"), "test-fr", str(tmp_path))
    assert [e["label"] for e in ex] == [1, 0]
    assert local_file(tmp_path, get_task("pawsx").test_source("fr")).suffix == ".jsonl"


def test_copa_and_xcopa(tmp_path):
    row = {"premise": "The glass broke.", "choice1": "I dropped it.", "choice2": "I washed it.",
           "question": "cause", "label": 0, "idx": 3, "changed": False}
    write(tmp_path, "cambridgeltl/xcopa", "it", "test", [row])
    (ex,) = load_examples(get_task("xcopa"), "test-it", str(tmp_path))
    assert ex == {"id": 3, "context": "The glass broke. What was the cause?",
                  "choices": ["I dropped it.", "I washed it."], "label": 0}
    # English is COPA's validation split (XCOPA has no English config)
    write(tmp_path, "aps/super_glue", "copa", "validation", [dict(row, question="effect", label=1)])
    (en,) = load_examples(get_task("xcopa"), "test-en", str(tmp_path))
    assert en["context"].endswith("What happened as a result?") and en["label"] == 1


def test_hellaswag_commonsenseqa_cosmosqa(tmp_path):
    write(tmp_path, "Rowan/hellaswag", None, "train", [{
        "ind": 7, "activity_label": "x", "ctx_a": "He", "ctx_b": "walks", "ctx": "He walks",
        "endings": ["a", "b", "c", "d"], "source_id": "s", "split": "train",
        "split_type": "indomain", "label": "2"}])
    (hs,) = load_examples(get_task("hellaswag"), "train", str(tmp_path))
    assert hs == {"id": 7, "context": "He walks", "choices": ["a", "b", "c", "d"], "label": 2}
    write(tmp_path, "tau/commonsense_qa", None, "train", [{
        "id": "q1", "question": "Where?", "question_concept": "c",
        "choices": {"label": ["A", "B", "C", "D", "E"], "text": ["p", "q", "r", "s", "t"]},
        "answerKey": "D"}])
    (cs,) = load_examples(get_task("commonsenseqa"), "train", str(tmp_path))
    assert cs["label"] == 3 and cs["choices"] == ["p", "q", "r", "s", "t"]
    write(tmp_path, "allenai/cosmos_qa", None, "train", [{
        "id": "c1", "context": "Ctx.", "question": "Why?", "answer0": "0", "answer1": "1",
        "answer2": "2", "answer3": "3", "label": 1}])
    (cq,) = load_examples(get_task("cosmosqa"), "train", str(tmp_path))
    assert cq == {"id": "c1", "context": "Ctx. Why?", "choices": ["0", "1", "2", "3"], "label": 1}


def test_errors_name_the_file_row_and_column(tmp_path):
    write(tmp_path, "nyu-mll/glue", "sst2", "train", [
        {"sentence": "good", "label": 1, "idx": 0}, {"text": "bad", "label": 0, "idx": 1}])
    with pytest.raises(ConversionError, match=r"nyu-mll/glue/sst2/train.parquet row 1: missing or null column\(s\) \['sentence'\]"):
        load_examples(get_task("sst2"), "train", str(tmp_path))
    write(tmp_path, "nyu-mll/glue", "qqp", "validation", [
        {"question1": "a", "question2": "b", "label": -1, "idx": 0}])
    with pytest.raises(ConversionError, match="row 0: label -1 out of range"):
        load_examples(get_task("qqp"), "dev", str(tmp_path))
    with pytest.raises(DataError, match="no local file .*PAWS-X.ja/test.parquet"):
        load_examples(get_task("pawsx"), "test-ja", str(tmp_path))
    bad = tmp_path / "nyu-mll/glue/mnli"
    bad.mkdir(parents=True)
    (bad / "train.jsonl").write_text('{"premise": "a"}\n{broken\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: invalid JSON"):
        read_rows(get_task("mnli").train, str(tmp_path))


def test_dev_subset_is_seeded_and_limited(tmp_path):
    rows = [{"sentence": f"s{i}", "label": i % 2, "idx": i} for i in range(50)]
    write(tmp_path, "nyu-mll/glue", "sst2", "validation", rows)
    a = load_examples(get_task("sst2"), "dev", str(tmp_path), limit=10, seed=0)
    b = load_examples(get_task("sst2"), "dev", str(tmp_path), limit=10, seed=0)
    assert a == b and len(a) == 10 and len({e["id"] for e in a}) == 10


def test_the_hubs_own_layout_is_a_mirror(tmp_path):
    """As `hf download <repo> --repo-type dataset --local-dir <root>/<repo>` writes it: shards
    (read in order, all of them), the repository's one config name for a config-less source
    (plain_text/ in rajpurkar/squad), data/ sub-folders, and the parquet conversion's
    <config>/<split>/0000.parquet."""
    from xstilts.stages.data import local_files

    def shard(folder, name, rows):
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / name)

    row = {"id": "a", "title": "t", "context": "Paris is big.", "question": "What is big?",
           "answers": {"text": ["Paris"], "answer_start": [0]}}
    shard(tmp_path / "rajpurkar/squad/plain_text", "train-00001-of-00002.parquet", [{**row, "id": "b"}])
    shard(tmp_path / "rajpurkar/squad/plain_text", "train-00000-of-00002.parquet", [row])
    squad = get_task("squad_v2").train.__class__("rajpurkar/squad", None, "train", "squad")
    files = local_files(tmp_path, squad)
    assert [f.name for f in files] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert [r["id"] for r in read_rows(squad, str(tmp_path))] == ["a", "b"]
    # a config-less repository with data/ (the Hub's default config), and the parquet conversion
    shard(tmp_path / "tau/commonsense_qa/data", "validation-00000-of-00001.parquet", [{"x": 1}])
    shard(tmp_path / "allenai/cosmos_qa/default/train", "0000.parquet", [{"x": 2}])
    src = squad.__class__("tau/commonsense_qa", None, "validation", "csqa")
    assert read_rows(src, str(tmp_path)) == [{"x": 1}]
    src = squad.__class__("allenai/cosmos_qa", None, "train", "cosmos_qa")
    assert read_rows(src, str(tmp_path)) == [{"x": 2}]
    # a config's files under data/<config>/ (repositories that keep configs there)
    shard(tmp_path / "google/xtreme/data/PAN-X.de", "test-00000-of-00001.parquet", [{"x": 3}])
    assert read_rows(get_task("panx").test_source("de").__class__(
        "google/xtreme", "PAN-X.de", "test", "panx"), str(tmp_path)) == [{"x": 3}]
    # the current layout keeps working, and a missing split names what was looked for
    write(tmp_path, "google/xtreme", "PAN-X.fr", "test", [{"x": 4}])
    assert read_rows(squad.__class__("google/xtreme", "PAN-X.fr", "test", "panx"), str(tmp_path)) == [{"x": 4}]
    with pytest.raises(DataError, match=r"PAN-X.it/test.parquet .*test-00000-of-00001.parquet"):
        read_rows(squad.__class__("google/xtreme", "PAN-X.it", "test", "panx"), str(tmp_path))
