"""Planted controls (docs/controls.md): the toy-only target ``objclass`` (class of the one object
noun, 7 classes, a small English training set), the planted intermediate ``objclass_tags``
(object noun -> class tags) and the null intermediate ``polarity_tags`` (polarity word tags,
the same sentences).  The twins are in schema, balanced, parallel and free of non-noun cues;
the trivial baselines stay near chance; and a tiny randomly initialised encoder recovers the
known effects: the planted intermediate clearly helps the target, the null one does not."""

from __future__ import annotations

import collections
import copy
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xstilts.analysis.baselines import task_baselines
from xstilts.core.registry import TASKS, get_task
from xstilts.stages.data import DataError, load_examples
from xstilts.tasks.catalog.controls import CONTROL_NOTE, CONTROLS_REPO, OBJ_CLASSES
from xstilts.toy import TOY_LANGUAGES, TWIN_SPLITS, build_world, generate
from xstilts.toy.control_twins import STAR_VERBS, objclass_tables
from xstilts.toy.twins import TwinBuilder
from xstilts.toy.world import OBJECTS, VERBS

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en",) + TOY_LANGUAGES
SIZES = dict(n_train=600, n_dev=140, n_test=140, n_corpus=1500)  # n_objclass_train: default 42
REPO_DIR = Path("hub") / CONTROLS_REPO


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("controls")
    manifest = generate(root, seed=0, **SIZES)
    return root, manifest


def objclass(root, lang, split):
    return pq.read_table(Path(root) / REPO_DIR / f"objclass.{lang}" / f"{split}.parquet")


def test_registry_entries():
    t = get_task("objclass")
    assert t.family == "classification" and t.roles == ("target",) and t.labels == tuple(OBJECTS)
    assert t.labels == OBJ_CLASSES and t.eval_languages(list(TOY_LANGUAGES)) == list(LANGS)
    assert t.train.schema == "sentence" and t.test.config == "objclass.{lang}"
    for name, labels in (("objclass_tags", ("O",) + OBJ_CLASSES), ("polarity_tags", ("O", "POS", "NEG"))):
        it = get_task(name)
        assert it.family == "tagging" and it.roles == ("intermediate",) and it.labels == labels
        assert it.train.schema == "tokens_tags" and it.test is None
    for name in ("objclass", "objclass_tags", "polarity_tags"):
        t = TASKS[name]
        for src in (t.train, t.dev) + ((t.test,) if t.test else ()):
            assert src.repo == CONTROLS_REPO and src.local_only == CONTROL_NOTE


def test_files_schema_and_manifest(toy):
    root, m = toy
    assert m["sizes"]["n_objclass_train"] == 42
    for (repo, config), splits in TWIN_SPLITS.items():
        if repo != CONTROLS_REPO:
            continue
        assert m["twins"][f"{repo}/{config}"] == list(splits)
        if "{lang}" in config:
            for lang in LANGS:
                for split in splits if lang == "en" else ("test",):
                    assert f"{REPO_DIR}/{config.format(lang=lang)}/{split}.parquet" in m["files"]
        else:
            for split in splits:
                assert m["files"][f"{REPO_DIR}/{config}/{split}.tsv"]["rows"] == SIZES[
                    "n_train" if split == "train" else "n_dev"]
    sst2 = [("sentence", pa.string()), ("label", pa.int64()), ("idx", pa.int32())]
    for lang in LANGS:
        assert [(f.name, f.type) for f in objclass(root, lang, "test").schema] == sst2
    assert not (Path(root) / REPO_DIR / "objclass.qaa" / "train.parquet").exists()


def test_objclass_is_balanced_and_its_training_set_has_the_configured_size(toy):
    root, _ = toy
    for split, n in (("train", 42), ("validation", 140), ("test", 140)):
        labels = objclass(root, "en", split).column("label").to_pylist()
        assert len(labels) == n and collections.Counter(labels) == {k: n // 7 for k in range(7)}
    b = TwinBuilder(build_world(0, ("en", "qaa")), 0, 30, 20, 20)
    tabs = objclass_tables(b, 14)
    assert tabs["objclass.en"]["train"].num_rows == 14
    assert tabs["objclass.en"]["validation"].num_rows == 14  # rounded down to a multiple of 7
    with pytest.raises(ValueError, match="multiple of 7"):
        objclass_tables(b, 40)


def test_objclass_test_sets_are_parallel(toy):
    root, _ = toy
    en = objclass(root, "en", "test").to_pylist()
    w = build_world(0, ("en",))
    name_words = {part for n in w.people + w.places for part in n.split()}

    def names(rows):  # names are shared by every language: the same items carry the same ones
        return [sorted(x.strip(",.") for x in r["sentence"].split() if x.strip(",.") in name_words)
                for r in rows]
    assert all(names(en))
    for lang in TOY_LANGUAGES:
        rows = objclass(root, lang, "test").to_pylist()
        assert [r["label"] for r in rows] == [r["label"] for r in en]
        assert [r["idx"] for r in rows] == list(range(len(en)))
        assert names(rows) == names(en)
        assert [r["sentence"] for r in rows] != [r["sentence"] for r in en]


def _en_lexicon():
    w = build_world(0, ("en",))
    forms = collections.defaultdict(set)
    for key, by_lang in w.lex.items():
        forms[by_lang["en"].lower()].add(key)
    return w, forms


def test_only_the_noun_reveals_the_class(toy):
    root, _ = toy
    w, forms = _en_lexicon()
    verbs_seen, adj_dims = set(), collections.defaultdict(set)
    for split in ("train", "validation", "test"):
        for row in objclass(root, "en", split).to_pylist():
            words = row["sentence"].rstrip(".").replace(",", "").lower().split()
            keys = [k for word in words for k in forms.get(word, ())]
            nouns = [k for k in keys if k[0] == "obj"]
            assert len(nouns) == 1 and w.obj_class[nouns[0][1]] == OBJ_CLASSES[row["label"]], row
            assert not [k for k in keys if k[0] == "cls"], row  # never the hypernym word
            verbs = {k[1] for k in keys if k[0] == "verb"}
            assert len(verbs) == 1, row
            verbs_seen |= verbs
            adj_dims[row["label"]] |= {k[1] for k in keys if k[0] == "adj"}
    assert verbs_seen <= set(STAR_VERBS) and all(VERBS[v][1] == "*" for v in verbs_seen)
    assert len(verbs_seen) >= 10
    assert all(len(d) >= 8 for d in adj_dims.values())  # every class sees most dimensions


def test_intermediate_tags(toy):
    root, _ = toy
    w, forms = _en_lexicon()
    for split in ("train", "dev"):
        obj = load_examples(get_task("objclass_tags"), split, str(Path(root) / "hub"))
        pol = load_examples(get_task("polarity_tags"), split, str(Path(root) / "hub"))
        assert [e["words"] for e in obj] == [e["words"] for e in pol]  # the same sentences
        n_obj = 0
        for o, p in zip(obj, pol):
            for word, t_obj, t_pol in zip(o["words"], o["tags"], p["tags"]):
                nouns = [k for k in forms.get(word.lower(), ()) if k[0] == "obj"]
                assert t_obj == (w.obj_class[nouns[0][1]] if nouns else "O")
                assert t_pol == {"indeed": "POS", "never": "NEG"}.get(word.lower(), "O")
                n_obj += t_obj != "O"
            assert all(i >= 0 for i in o["tag_ids"] + p["tag_ids"])
        assert n_obj > len(obj) // 2
        assert {t for e in obj for t in e["tags"]} == {"O", *OBJ_CLASSES}
        assert {t for e in pol for t in e["tags"]} == {"O", "POS", "NEG"}


def test_trivial_baselines_stay_near_chance(toy):
    root, _ = toy
    res = task_baselines(get_task("objclass"), str(Path(root) / "hub"), LANGS)
    for name, per_lang in res.items():
        assert set(per_lang) == set(LANGS)
        for lang, acc in per_lang.items():
            assert acc <= 1 / 7 + 0.10, (name, lang, acc)


def test_real_mode_stops_and_prefetch_does_not_fetch(tmp_path):
    from xstilts.core.config import load, validate
    from xstilts.stages import prefetch

    with pytest.raises(DataError, match="toy-only planted control"):
        load_examples(get_task("objclass"), "train", None)
    raw = copy.deepcopy(load(ROOT / "config/paper.yaml").raw)
    raw.update(intermediate=["none", "objclass_tags", "polarity_tags"], targets=["objclass"])
    raw.pop("multitask", None)
    raw.pop("pairing", None)
    plan = prefetch.plan(validate(raw))
    assert plan.needs_local == dict.fromkeys(("objclass", "objclass_tags", "polarity_tags"), CONTROL_NOTE)
    assert not any(d.repo == CONTROLS_REPO for d in plan.datasets)


# ---------------------------------------------------------------------------- learning
