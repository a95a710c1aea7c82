"""The toy benchmark generator: determinism, Hub schemas, languages, balance, graded sharing."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xstilts.toy import TOY_LANGUAGES, Renderer, build_world, detokenize, generate
from xstilts.toy.render import Clause, Name, Obj

LANGS = ("en",) + TOY_LANGUAGES
SMALL = dict(n_train=120, n_dev=60, n_test=60, n_corpus=400)

S, I64, I32, B = pa.string(), pa.int64(), pa.int32(), pa.bool_()
LS = pa.list_(pa.string())
EXPECTED = {  # (repo, config) -> (splits, [(column, type)])
    ("nyu-mll/glue", "mnli"): (("train", "validation_matched"),
                               [("premise", S), ("hypothesis", S), ("label", I64), ("idx", I32)]),
    ("facebook/anli", "default"): (("train_r1", "dev_r1", "test_r1"),
                                   [("uid", S), ("premise", S), ("hypothesis", S), ("label", I64),
                                    ("reason", S)]),
    ("nyu-mll/glue", "qqp"): (("train", "validation"),
                              [("question1", S), ("question2", S), ("label", I64), ("idx", I32)]),
    ("nyu-mll/glue", "sst2"): (("train", "validation"), [("sentence", S), ("label", I64), ("idx", I32)]),
    ("Rowan/hellaswag", "default"): (("train", "validation"), [
        ("ind", I64), ("activity_label", S), ("ctx_a", S), ("ctx_b", S), ("ctx", S), ("endings", LS),
        ("source_id", S), ("split", S), ("split_type", S), ("label", S)]),
    ("tau/commonsense_qa", "default"): (("train", "validation"), [
        ("id", S), ("question", S), ("question_concept", S),
        ("choices", pa.struct([("label", LS), ("text", LS)])), ("answerKey", S)]),
    ("allenai/cosmos_qa", "default"): (("train", "validation"), [
        ("id", S), ("context", S), ("question", S), ("answer0", S), ("answer1", S), ("answer2", S),
        ("answer3", S), ("label", I64)]),
    ("google/xtreme", "XNLI"): (("validation", "test"), [
        ("language", S), ("sentence1", S), ("sentence2", S), ("gold_label", S)]),
    ("aps/super_glue", "copa"): (("train", "validation"), [
        ("premise", S), ("choice1", S), ("choice2", S), ("question", S), ("idx", I32), ("label", I64)]),
}
PAWS_COLS = [("sentence1", S), ("sentence2", S), ("label", S)]
XCOPA_COLS = [("premise", S), ("choice1", S), ("choice2", S), ("question", S), ("label", I64),
              ("idx", I32), ("changed", B)]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    manifest = generate(root / "a", seed=0, **SMALL)
    return root, manifest


def read(root, repo, config, split):
    return pq.read_table(Path(root) / "a" / "hub" / repo / config / f"{split}.parquet")


def all_files(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_manifest(toy):
    root, m = toy
    on_disk = json.loads((root / "a" / "manifest.json").read_text())
    assert on_disk == m
    assert m["benchmark"] == "toy" and m["languages"] == list(LANGS)
    for rel in m["files"]:
        assert (root / "a" / rel).is_file()


def test_determinism(toy, tmp_path):
    root, _ = toy
    generate(tmp_path / "b", seed=0, **SMALL)
    a, b = all_files(root / "a"), all_files(tmp_path / "b")
    assert a.keys() == b.keys() and a == b
    generate(tmp_path / "c", seed=1, **SMALL)
    c = all_files(tmp_path / "c")
    assert c.keys() == a.keys()
    differing = [k for k in a if a[k] != c[k]]
    assert len(differing) >= len(a) - 1  # every data file changes with the seed


def test_schemas(toy):
    root, m = toy
    for (repo, config), (splits, cols) in EXPECTED.items():
        for split in splits:
            t = read(root, repo, config, split)
            assert [(f.name, f.type) for f in t.schema] == cols, (repo, config, split)
            assert t.num_rows > 0
    for lang in LANGS:
        splits = ("train", "validation", "test") if lang == "en" else ("validation", "test")
        for split in splits:
            t = read(root, "google/xtreme", f"PAWS-X.{lang}", split)
            assert [(f.name, f.type) for f in t.schema] == PAWS_COLS
    for lang in TOY_LANGUAGES:
        for split in ("validation", "test"):
            t = read(root, "cambridgeltl/xcopa", lang, split)
            assert [(f.name, f.type) for f in t.schema] == XCOPA_COLS
    assert not (root / "a" / "hub" / "cambridgeltl" / "xcopa" / "en").exists()


def test_value_domains(toy):
    root, _ = toy
    hs = read(root, "Rowan/hellaswag", "default", "train").to_pylist()
    assert all(len(r["endings"]) == 4 and r["label"] in "0123" for r in hs)
    assert all(r["ctx"] == f"{r['ctx_a']} {r['ctx_b']}" for r in hs)
    cs = read(root, "tau/commonsense_qa", "default", "train").to_pylist()
    assert all(r["choices"]["label"] == list("ABCDE") and len(r["choices"]["text"]) == 5 for r in cs)
    assert all(r["answerKey"] in "ABCDE" for r in cs)
    x = read(root, "google/xtreme", "XNLI", "test").to_pylist()
    assert {r["gold_label"] for r in x} == {"entailment", "neutral", "contradiction"}
    copa = read(root, "aps/super_glue", "copa", "train").to_pylist()
    assert {r["question"] for r in copa} == {"cause", "effect"}
    assert [r["idx"] for r in copa] == list(range(len(copa)))


def test_languages_present(toy):
    root, _ = toy
    for split in ("validation", "test"):
        langs = collections.Counter(r["language"] for r in read(root, "google/xtreme", "XNLI", split).to_pylist())
        assert set(langs) == set(LANGS) and len(set(langs.values())) == 1


def test_toy_codes_are_not_real_languages():
    # ISO 639-2 reserves qaa-qtz for local use: no real language has such a code
    for code in TOY_LANGUAGES:
        assert len(code) == 3 and code[0] == "q" and "qaa" <= code <= "qtz"
    with pytest.raises(ValueError):
        generate("/nonexistent-never-written", languages=("en", "de"), **SMALL)


def _balance(labels, k):
    c = collections.Counter(labels)
    assert len(c) == k
    assert max(c.values()) - min(c.values()) <= 1, c


def test_label_balance(toy):
    root, _ = toy
    _balance(read(root, "nyu-mll/glue", "mnli", "train").column("label").to_pylist(), 3)
    _balance(read(root, "facebook/anli", "default", "test_r1").column("label").to_pylist(), 3)
    _balance(read(root, "nyu-mll/glue", "qqp", "train").column("label").to_pylist(), 2)
    _balance(read(root, "nyu-mll/glue", "sst2", "train").column("label").to_pylist(), 2)
    _balance(read(root, "google/xtreme", "PAWS-X.qad", "test").column("label").to_pylist(), 2)
    _balance(read(root, "cambridgeltl/xcopa", "qab", "test").column("label").to_pylist(), 2)
    _balance(read(root, "Rowan/hellaswag", "default", "train").column("label").to_pylist(), 4)
    _balance(read(root, "tau/commonsense_qa", "default", "train").column("answerKey").to_pylist(), 5)
    _balance(read(root, "allenai/cosmos_qa", "default", "train").column("label").to_pylist(), 4)
    x = [r for r in read(root, "google/xtreme", "XNLI", "test").to_pylist() if r["language"] == "qac"]
    _balance([r["gold_label"] for r in x], 3)


def test_shared_vocabulary_is_graded(toy):
    """Fraction of a toy corpus's word types (names and digits excluded) that English also uses."""
    root, _ = toy

    def types(lang):
        words = (root / "a" / "corpus" / f"{lang}.txt").read_text().lower().replace(",", " ").replace(".", " ").split()
        return {t for t in words if not t.isdigit()}

    world = build_world(0)
    names = {p.lower() for n in world.people + world.places + world.orgs for p in n.split()}
    en = types("en") - names
    frac = {}
    for lang in TOY_LANGUAGES:
        ts = types(lang) - names
        frac[lang] = len(ts & en) / len(ts)
    assert frac["qaa"] > frac["qab"] > frac["qac"] > frac["qad"], frac
    assert frac["qaa"] > 0.6 and frac["qad"] < 0.15, frac
    # the lexicon itself follows the configured shares
    assert abs(world.shared_fraction("qaa") - 0.75) < 0.02
    assert abs(world.shared_fraction("qad") - 0.05) < 0.02


def test_xnli_parallel(toy):
    root, _ = toy
    rows = read(root, "google/xtreme", "XNLI", "test").to_pylist()
    by = {lang: [r for r in rows if r["language"] == lang] for lang in LANGS}
    n = len(by["en"])
    for lang in TOY_LANGUAGES:
        assert [r["gold_label"] for r in by[lang]] == [r["gold_label"] for r in by["en"]]
        # names are shared: each translated premise carries the English premise's person
        for en_r, r in zip(by["en"], by[lang]):
            assert en_r["sentence1"].split()[0] in r["sentence1"].split()
        assert sum(a["sentence1"] != b["sentence1"] for a, b in zip(by["en"], by[lang])) == n
    for lang in TOY_LANGUAGES:  # PAWS-X and XCOPA too
        p_en = read(root, "google/xtreme", "PAWS-X.en", "test").column("label").to_pylist()
        assert read(root, "google/xtreme", f"PAWS-X.{lang}", "test").column("label").to_pylist() == p_en
    x = [read(root, "cambridgeltl/xcopa", lang, "test").to_pylist() for lang in TOY_LANGUAGES]
    assert all([r["label"] for r in t] == [r["label"] for r in x[0]] for t in x)


def test_no_length_cue_in_nli(toy):
    """Hypotheses have the same length distribution for every label (no negation-length cue)."""
    root, _ = toy
    rows = read(root, "nyu-mll/glue", "mnli", "train").to_pylist()
    by = collections.defaultdict(list)
    for r in rows:
        by[r["label"]].append(len(r["hypothesis"].split()) - len(r["premise"].split()))
    assert all(set(v) == {0} for v in by.values())


def test_renderer_annotations():
    w = build_world(0)
    r = Renderer(w)
    c = Clause("act", Name("Alice", "PER"), "neg", ("verb", "buy", 0), Obj("car", 0, (("size", 0, 0),)),
               (("in", Name("Port Alda", "LOC")),))
    toks = r.sentence(c, "en")
    text, spans = detokenize(toks)
    bought = w.lex[("verb", "buy", 0)]["en"]  # spelt like an object noun (homographs)
    assert text == f"Alice never {bought} the big car in Port Alda."
    assert [t.ent for t in toks] == ["B-PER", "O", "O", "O", "O", "O", "O", "B-LOC", "I-LOC", "O"]
    assert [t.pos for t in toks][:6] == ["PROPN", "ADV", "VERB", "DET", "ADJ", "NOUN"]
    assert all(text[a:b] == t.text for t, (a, b) in zip(toks, spans))
    assert r.text(c, "en") == text
    # SOV + object suffix, no determiner; names keep their form
    qad = r.sentence(c, "qad")
    assert [t.slot for t in qad if t.slot in ("subj", "verb", "obj")][-1] == "verb"
    assert not any(t.pos == "DET" for t in qad)
    assert qad[0].text == "Alice" and "Port" in [t.text for t in qad]
    # question rendering uses the base form in English
    assert r.text(c.with_(question=True), "en").startswith("Did Alice never buy the big car")


def test_toy_tokenizer_keeps_words_whole(toy, tmp_path):
    """BPE on the toy corpus plus its lexicon: at most 1.3 tokens per word of running text, and
    every English word form of the toy lexicon is one token (the unigram trainer used before
    split frequent words into characters: 2.3 tokens per word)."""
    import re

    from xstilts.stages.models import train_tokenizer

    root, _ = toy
    corpus = [root / "a" / "corpus" / f"{lang}.txt" for lang in LANGS]
    tok = train_tokenizer(corpus + [root / "a" / "corpus" / "lexicon.txt"], 4000, str(tmp_path / "tok"))
    for path in corpus:
        lines = path.read_text(encoding="utf-8").splitlines()
        words = sum(len(re.findall(r"\w+|[^\w\s]", line)) for line in lines)
        pieces = sum(map(len, tok(lines, add_special_tokens=False)["input_ids"]))
        assert pieces / words <= 1.3, (path.name, pieces / words)
    world = build_world(0)
    english = {forms["en"] for forms in world.lex.values()} | set(world.en_base.values())
    split = sorted(w for w in english if len(tok(w, add_special_tokens=False)["input_ids"]) != 1)
    assert not split, split
    bought = world.lex[("verb", "buy", 0)]["en"]
    assert tok.convert_ids_to_tokens(tok(f"Alice {bought} the car.")["input_ids"]) == [
        "<s>", "▁Alice", f"▁{bought}", "▁the", "▁car", ".", "</s>"]


def test_homographs_make_part_of_speech_depend_on_context(toy):
    """A word-form lookup cannot solve toy UD-POS: every verb form is spelt like an object noun."""
    from xstilts.tasks.catalog.tagging import UPOS

    root, _ = toy
    rows = read(root, "google/xtreme", "udpos.English", "train").to_pylist()
    tags = collections.defaultdict(set)
    for row in rows:
        for word, tag in zip(row["tokens"], row["pos_tags"], strict=True):
            tags[word.lower()].add(UPOS[tag])
    ambiguous = [w for w, t in tags.items() if {"NOUN", "VERB"} <= t]
    assert len(ambiguous) >= 30, ambiguous
