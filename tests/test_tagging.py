"""Tagging family: word/sub-word alignment, chunking, stitching, scores, converters, label sets."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from xstilts.stages.data import DataError, load_examples, task_with_labels
from xstilts.tasks.families import ConversionError
from xstilts.tasks.families.tagging import FAMILY, IGNORE, chunk_words
from xstilts.core.registry import get_task
from xstilts.analysis.score import score_file

CLS, SEP, UNK = 0, 2, 3


class PieceTokenizer:
    """Splits every word into pieces of two characters; ids in order of first appearance."""

    cls_token_id, sep_token_id, unk_token_id = CLS, SEP, UNK

    def __init__(self):
        self.vocab = {}

    def piece_id(self, piece):
        return self.vocab.setdefault(piece, 10 + len(self.vocab))

    def __call__(self, words, add_special_tokens=False):
        assert not add_special_tokens
        return {"input_ids": [[self.piece_id(w[i:i + 2]) for i in range(0, len(w), 2)] for w in words]}


def example(words, tags, task, id_="s0"):
    return {"id": id_, "words": words, "tags": tags, "tag_ids": [task.labels.index(t) for t in tags]}


UDPOS = get_task("udpos")
PANX = get_task("panx")


def test_first_subtoken_carries_the_tag_and_empty_words_get_unk():
    tok = PieceTokenizer()
    ex = example(["abcde", ",", "", "xy"], ["NOUN", "PUNCT", "X", "VERB"], UDPOS)
    (f,) = FAMILY.encode(tok, [ex], max_length=256)
    ab, cd, e, comma, xy = (tok.vocab[p] for p in ("ab", "cd", "e", ",", "xy"))
    assert f["seqs"] == [[CLS, ab, cd, e, comma, UNK, xy, SEP]]
    noun, punct, x, verb = (UDPOS.labels.index(t) for t in ("NOUN", "PUNCT", "X", "VERB"))
    assert f["labels"] == [IGNORE, noun, IGNORE, IGNORE, punct, x, verb, IGNORE]
    assert f["word_index"] == [-1, 0, -1, -1, 1, 2, 3, -1]
    assert (f["chunk"], f["n_words"], f["tags"]) == (0, 4, ["NOUN", "PUNCT", "X", "VERB"])


def test_chunk_plan_partitions_words_with_left_context():
    assert chunk_words([1] * 7, capacity=4, context=2) == [(0, 0, 4), (2, 4, 6), (4, 6, 7)]
    assert chunk_words([3, 3, 3], capacity=4, context=2) == [(0, 0, 1), (1, 1, 2), (2, 2, 3)]
    assert chunk_words([], capacity=4, context=2) == [(0, 0, 0)]
    assert chunk_words([2, 2, 2], capacity=4, context=0) == [(0, 0, 2), (2, 2, 3)]


def test_long_sentence_is_chunked_and_fully_tagged():
    tok = PieceTokenizer()
    words = [f"w{i}" for i in range(7)]  # one piece each
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-ORG"]
    feats = FAMILY.encode(tok, [example(words, tags, PANX)], max_length=6, chunk_context=2)
    ids = [tok.vocab[w] for w in words]
    lab = [PANX.labels.index(t) for t in tags]
    assert [f["seqs"][0] for f in feats] == [[CLS, *ids[0:4], SEP], [CLS, *ids[2:6], SEP],
                                              [CLS, *ids[4:7], SEP]]
    assert [f["labels"] for f in feats] == [
        [IGNORE, *lab[0:4], IGNORE],
        [IGNORE, IGNORE, IGNORE, lab[4], lab[5], IGNORE],  # words 2-3 are context only
        [IGNORE, IGNORE, IGNORE, lab[6], IGNORE]]
    assert [f["word_index"] for f in feats] == [[-1, 0, 1, 2, 3, -1], [-1, -1, -1, 4, 5, -1],
                                                [-1, -1, -1, 6, -1]]
    assert [f["tags"] for f in feats] == [tags, [], []]
    # predictions equal to the labels (context tokens predict something else) stitch back exactly
    preds = [[lab[w] if w >= 0 else 0 for w in f["word_index"]] for f in feats]
    ids_out, outs = FAMILY.outputs(PANX, preds, feats)
    assert ids_out == ["s0"] and outs == [tags]
    s = FAMILY.score(PANX, ids_out, outs, feats, "en")
    assert (s["f1"], s["n"], s["words"], s["fallback_words"]) == (1.0, 1, 7, 0)


def test_word_longer_than_a_chunk_keeps_its_first_pieces():
    tok = PieceTokenizer()
    ex = example(["aabbccddee", "ff"], ["NOUN", "VERB"], UDPOS)
    feats = FAMILY.encode(tok, [ex], max_length=5)  # 3 pieces per chunk
    assert [f["seqs"][0] for f in feats] == [[CLS, *(tok.vocab[p] for p in ("aa", "bb", "cc")), SEP],
                                              [CLS, tok.vocab["ff"], SEP]]
    assert [f["word_index"] for f in feats] == [[-1, 0, -1, -1, -1], [-1, 1, -1]]


def test_empty_sentence_and_missing_chunk_fallback(tmp_path):
    tok = PieceTokenizer()
    exs = [example([], [], PANX, "e"), example(["a", "b", "c"], ["B-PER", "I-PER", "O"], PANX, "s")]
    feats = FAMILY.encode(tok, exs, max_length=4, chunk_context=0)  # 2 words per chunk
    assert feats[0]["seqs"] == [[CLS, SEP]] and feats[0]["labels"] == [IGNORE, IGNORE]
    assert [f["chunk"] for f in feats] == [0, 0, 1]
    # the last chunk of "s" is lost: its word falls back to "O" and is counted
    kept = feats[:2]
    preds = [[0, 0], [0, PANX.labels.index("B-PER"), PANX.labels.index("I-PER"), 0]]
    ids, outs = FAMILY.outputs(PANX, preds, kept)
    assert (ids, outs) == (["e", "s"], [[], ["B-PER", "I-PER", "O"]])
    s = FAMILY.score(PANX, ids, outs, kept, "qaa")
    assert (s["f1"], s["words"], s["fallback_words"], s["n"]) == (1.0, 3, 1, 2)
    path = FAMILY.write_predictions(PANX, outs, ids, tmp_path, "qaa")
    assert path.name == "test-qaa.tsv" and path.read_text() == "\nB-PER\nI-PER\nO\n\n"


def test_loss_ignores_non_first_subtokens_and_empty_batches():
    logits = torch.zeros(1, 3, 2)
    logits[0, 1, 1] = 5.0
    labels = torch.tensor([[IGNORE, 1, IGNORE]])
    full = FAMILY.loss(logits, labels)
    assert full.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[0, 1:2], labels[0, 1:2]).item())
    assert FAMILY.loss(logits, torch.full((1, 3), IGNORE)).item() == 0.0


def _feats(golds):
    return [{"id": str(i), "tags": g, "chunk": 0, "word_index": list(range(len(g))), "n_words": len(g)}
            for i, g in enumerate(golds)]


def test_seqeval_f1_partial_entity_counts_as_wrong():
    golds = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    preds = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    s = FAMILY.score(PANX, ["0", "1"], preds, _feats(golds), "en")
    # gold chunks PER(0-1) LOC(3) ORG; predicted PER(0) LOC(3) ORG: 2 of 3 right each way
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_udpos_f1_is_seqeval_over_upos_tags_as_xtreme():
    # seqeval reads "NOUN" as chunk type "OUN": consecutive equal tags merge into one chunk
    golds = [["DET", "NOUN", "VERB"]]
    preds = [["DET", "NOUN", "NOUN"]]
    s = FAMILY.score(UDPOS, ["0"], preds, _feats(golds), "en")
    # gold DET NOUN VERB; predicted DET, NOUN(1-2): 1 of 2 predicted right, 1 of 3 gold found
    assert (s["precision"], s["recall"]) == pytest.approx((1 / 2, 1 / 3))
    assert s["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_predictions_and_gold_files_score_like_evaluate_py(tmp_path):
    exs = [example(["A", "b", "C"], ["B-PER", "O", "B-LOC"], PANX, "0"),
           example(["d"], ["B-ORG"], PANX, "1")]
    ids, gold = FAMILY.gold(PANX, exs)
    FAMILY.write_predictions(PANX, gold, ids, tmp_path / "labels", "de")
    preds = [["B-PER", "O", "O"], ["B-ORG"]]
    FAMILY.write_predictions(PANX, preds, ids, tmp_path / "preds", "de")
    out = score_file("panx", tmp_path / "preds/panx/test-de.tsv", tmp_path / "labels/panx/test-de.tsv", "de")
    ours = FAMILY.score(PANX, ids, preds, _feats(gold), "de")
    assert out["f1"] == pytest.approx(100 * ours["f1"]) and ours["f1"] == pytest.approx(0.8)


def _write(root, repo, config, split, rows):
    d = root / repo / (config or "default")
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), d / f"{split}.parquet")


def test_hub_schemas_udpos_and_panx(tmp_path):
    _write(tmp_path, "google/xtreme", "udpos.German", "test",
           [{"tokens": ["Er", "schläft", "."], "pos_tags": [10, 15, 12]}])
    _write(tmp_path, "google/xtreme", "PAN-X.de", "test",
           [{"tokens": ["Anna", "in", "Rom"], "ner_tags": [1, 0, 5], "langs": ["de"] * 3}])
    (u,) = load_examples(UDPOS, "test-de", str(tmp_path))
    assert (u["words"], u["tags"]) == (["Er", "schläft", "."], ["PRON", "VERB", "PUNCT"])
    (p,) = load_examples(PANX, "test-de", str(tmp_path))
    assert (p["tags"], p["tag_ids"]) == (["B-PER", "O", "B-LOC"], [1, 0, 5])
    _write(tmp_path, "google/xtreme", "PAN-X.fr", "test",
           [{"tokens": ["a", "b"], "ner_tags": [0], "langs": ["fr"] * 2}])
    with pytest.raises(ConversionError, match=r"PAN-X.fr/test.parquet row 0: 2 tokens but 1 tags"):
        load_examples(PANX, "test-fr", str(tmp_path))


def test_ccg_tsv_reader_open_tags_and_errors(tmp_path):
    ccg = get_task("ccg")
    with pytest.raises(DataError, match=r"not on the Hugging Face Hub.*data: \{tasks: \{ccg"):
        load_examples(ccg, "train", None)
    d = tmp_path / "ccgbank" / "default"
    d.mkdir(parents=True)
    (d / "train.tsv").write_text("The dog barks .\tNP/N N S\\NP .\n\nDogs bark\tN S\\NP\n")
    (d / "dev.tsv").write_text("Cats purr\tN (S\\NP)/NP\n")
    labelled = FAMILY.with_labels(ccg, lambda: load_examples(ccg, "train", str(tmp_path)))
    assert labelled.labels == (".", "N", "NP/N", "S\\NP")
    (dev,) = load_examples(labelled, "dev", str(tmp_path))
    assert dev["tags"] == ["N", "(S\\NP)/NP"] and dev["tag_ids"] == [1, -1]  # unseen: scored, not trained
    (d / "dev.tsv").write_text("ok\tN\nthree words here\tN N\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: 3 tokens but 2 tags"):
        load_examples(labelled, "dev", str(tmp_path))
    (d / "dev.tsv").write_text("no tab here\n")
    with pytest.raises(DataError, match=r"dev.tsv:1: expected 2 tab-separated columns"):
        load_examples(labelled, "dev", str(tmp_path))


def test_open_label_set_survives_manifest_and_checkpoint(tmp_path):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.stages.models import XstiltsModel, load_task_model

    ccg = get_task("ccg")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"labels": ["N", "NP", "S\\NP"]}))
    task = task_with_labels(ccg, tmp_path / "data")
    assert task.labels == ("N", "NP", "S\\NP")
    with pytest.raises(DataError, match="differ from the registry"):
        task_with_labels(UDPOS, tmp_path / "data")
    (tmp_path / "mc").mkdir()
    (tmp_path / "mc" / "manifest.json").write_text(json.dumps({"labels": []}))
    assert task_with_labels(get_task("xcopa"), tmp_path / "mc") == get_task("xcopa")  # no labels at all
    with pytest.raises(ValueError, match="has no tag set yet: prepare its data first"):
        FAMILY.make_head(8, ccg)
    enc = XLMRobertaModel(XLMRobertaConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=16),
                          add_pooling_layer=False)
    model = XstiltsModel(enc)
    model.add_head(task, FAMILY)
    model.save(str(tmp_path / "ckpt"))
    loaded = load_task_model(str(tmp_path / "ckpt"), [ccg])  # registry entry: no labels
    assert loaded.heads["ccg"].out.out_features == 3
    assert torch.equal(loaded.heads["ccg"].out.weight, model.heads["ccg"].out.weight)


def test_baselines_and_chance():
    train = [example(["Ann", "ran", "home"], ["B-PER", "O", "O"], PANX), example(["Bob", "sat"], ["B-PER", "O"], PANX)]
    evals = {"en": [example(["Ann", "sat"], ["B-PER", "O"], PANX)],
             "qaa": [example(["Cid", "sat"], ["B-PER", "O"], PANX)]}
    out = FAMILY.baselines(PANX, train, evals)
    assert out["majority_tag"] == {"en": 0.0, "qaa": 0.0}  # all "O": no entity found
    assert out["word_majority_tag"] == {"en": 1.0, "qaa": 0.0}  # only seen names are found
    assert FAMILY.chance(PANX, train) == 0.0


def test_toy_twins_hub_schema_unseen_eval_names_and_small_ccg_tagset(tmp_path):
    from xstilts.toy import generate
    from xstilts.toy.tagging_twins import LOC_CUES, ORG_CUES

    generate(tmp_path, seed=0, languages=("en", "qaa", "qad"), n_train=200, n_dev=40, n_test=40,
             n_corpus=50)
    hub = tmp_path / "hub" / "google" / "xtreme"
    ls, li = pa.list_(pa.string()), pa.list_(pa.int64())
    for config, split in (("udpos.English", "train"), ("udpos.qad", "test")):
        t = pq.read_table(hub / config / f"{split}.parquet")
        assert [(f.name, f.type) for f in t.schema] == [("tokens", ls), ("pos_tags", li)]
    for config, split in (("PAN-X.en", "train"), ("PAN-X.qaa", "test")):
        t = pq.read_table(hub / config / f"{split}.parquet")
        assert [(f.name, f.type) for f in t.schema] == [("tokens", ls), ("ner_tags", li), ("langs", ls)]
    assert not (hub / "PAN-X.qaa" / "train.parquet").exists()  # English training data only

    def entity_words(config, split):
        exs = load_examples(PANX, "train" if split == "train" else f"test-{config}", str(tmp_path / "hub"))
        return {w for ex in exs for w, t in zip(ex["words"], ex["tags"]) if t != "O"}, exs

    train_words, _ = entity_words("en", "train")
    test_words, en_test = entity_words("en", "test")
    _, qaa_test = entity_words("qaa", "test")
    cues = {c for pair in LOC_CUES for c in pair if c} | set(ORG_CUES)
    assert test_words and not (test_words & train_words) - cues  # only cue words are shared
    assert all(sum(t.startswith("B-") for t in a["tags"]) == sum(t.startswith("B-") for t in b["tags"])
               for a, b in zip(en_test, qaa_test))  # parallel test sets
    assert {t for ex in en_test for t in ex["tags"]} == set(PANX.labels)  # multi-word names of 3 kinds
    ccg = get_task("ccg")
    labelled = FAMILY.with_labels(ccg, lambda: load_examples(ccg, "train", str(tmp_path / "hub")))
    assert 10 <= len(labelled.labels) <= 40


def test_panx_names_take_the_languages_spelling_by_distance(tmp_path):
    """PAN-X entities keep their English spelling with the language's share of English words and
    are otherwise respelt in its letters (cue words kept); tags and non-entity words do not
    change, and the written test sets are exactly these sentences."""
    from xstilts.toy import generate
    from xstilts.toy.tagging_twins import CUE_WORDS, TaggingTwins
    from xstilts.toy.twins import TwinBuilder
    from xstilts.toy.world import PHONOLOGY, build_world

    langs = ("en", "qaa", "qad")
    generate(tmp_path, seed=0, languages=langs, n_train=40, n_dev=40, n_test=200, n_corpus=50)
    tw = TaggingTwins(TwinBuilder(build_world(0, langs), 0, 40, 40, 200))
    items = tw.items("panx", "test")
    kept = {}
    for lang in ("qaa", "qad"):
        written = load_examples(PANX, f"test-{lang}", str(tmp_path / "hub"))
        names = same = 0
        for it, ex in zip(items, written):
            plain = tw.render(it, lang)
            spelt = tw.spelling.sentence(plain, lang)
            assert ex["words"] == [t.text for t in spelt] and ex["tags"] == [t.ent for t in spelt]
            assert [t.ent for t in spelt] == [t.ent for t in plain]
            for a, b in zip(plain, spelt):
                if a.ent == "O" or a.text in CUE_WORDS:
                    assert a.text == b.text  # only names change
                    continue
                names += 1
                same += a.text == b.text
                if a.text != b.text:  # respelt: only the language's letters
                    assert set(b.text.lower()) <= set(PHONOLOGY[lang][0] + PHONOLOGY[lang][1]), b.text
        kept[lang] = same / names
    assert tw.spelling.sentence(tw.render(items[0], "en"), "en") == tw.render(items[0], "en")
    assert 0.6 < kept["qaa"] < 0.9 and kept["qad"] < 0.15  # .75 and .05 of the names keep English
