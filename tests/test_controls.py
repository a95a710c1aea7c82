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


def test_every_target_has_a_scorer():
    """The gains stage resamples per-example scores read through the task's Submission: a
    target without one (objclass, once) fails at the end of a whole run."""
    from xstilts.analysis.score import known_tasks

    targets = {n for n, t in TASKS.items() if "target" in t.roles}
    assert targets and targets <= set(known_tasks())
    assert TASKS["objclass"].submission.ext == "tsv"


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


POLARITY = {"indeed": "POS", "never": "NEG"}


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
            # verbs are spelt like nouns (homographs): the verb is the word after the polarity word
            at_verb = {i + 1 for i, word in enumerate(words) if word in POLARITY}
            keys = [k for i, word in enumerate(words) for k in forms.get(word, ())
                    if (k[0] == "verb") == (i in at_verb)]
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
            words = [word.lower() for word in o["words"]]
            at_verb = {i + 1 for i, word in enumerate(words) if word in POLARITY}
            for i, (word, t_obj, t_pol) in enumerate(zip(words, o["tags"], p["tags"])):
                nouns = [] if i in at_verb else [k for k in forms.get(word, ()) if k[0] == "obj"]
                assert t_obj == (w.obj_class[nouns[0][1]] if nouns else "O")
                assert t_pol == POLARITY.get(word, "O")
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


def test_config_size_key():
    from xstilts.core.config import ConfigError, load, validate

    raw = copy.deepcopy(load(ROOT / "config/config.yaml").raw)
    raw["toy"]["sizes"]["n_objclass_train"] = 70
    validate(raw)
    raw["toy"]["sizes"]["n_objclass_train"] = 40
    with pytest.raises(ConfigError, match="n_objclass_train"):
        validate(raw)


# ---------------------------------------------------------------------------- learning
# The recipe (measured, see docs/controls.md): a 2x64 encoder from random init (the same
# initial weights for every cell of a seed), the intermediate phase INTER_STEPS steps, then the
# target phase on the 42 English objclass examples, best English dev checkpoint.
SPEC = {"layers": 2, "hidden": 64, "heads": 2}
PRETRAIN_STEPS = 0  # MLM steps of the shared base (0: random init)
INTER_HP = {"lr": 1e-3, "batch_size": 32, "epochs": 100, "max_steps": 300, "warmup": 0.1,
            "eval_every": 300, "patience": 100, "weight_decay": 0.01, "grad_clip": 1.0}
TARGET_HP = {"lr": 1e-3, "batch_size": 16, "epochs": 1000, "max_steps": 150, "warmup": 0.1,
             "eval_every": 25, "patience": 100, "weight_decay": 0.01, "grad_clip": 1.0}
MARGIN = 0.15  # "a clear margin" of English test accuracy (7 classes, 140 test items)


def _prepared(root: Path, work: Path):
    from xstilts.stages.data import prepare, read_features
    from xstilts.stages.models import train_tokenizer

    tok = train_tokenizer([Path(root) / f"corpus/{lang}.txt" for lang in LANGS], 1000, str(work / "tok"))
    data = {}
    for name in ("objclass", "objclass_tags", "polarity_tags"):
        parts = ["train", "dev"] + ([f"test-{lang}" for lang in LANGS] if name == "objclass" else [])
        d = work / "data" / name
        prepare(get_task(name), tok, str(d), parts, str(Path(root) / "hub"), 64, 140)
        data[name] = {p: read_features(d / f"{p}.parquet") for p in parts}
    return tok, data


def _cell(tok, data, inter: str | None, seed: int, base: Path | None) -> dict:
    """English + toy-language test accuracy of objclass after ``inter`` (None: no
    intermediate phase)."""
    import torch
    from transformers import AutoModel

    from xstilts.core.registry import get_family
    from xstilts.stages.models import XstiltsModel, load_encoder, toy_config
    from xstilts.stages.train import TaskData, predict, set_seed, train_phase

    cpu = torch.device("cpu")
    set_seed(seed)
    enc = (load_encoder(str(base)) if base else
           AutoModel.from_config(toy_config(SPEC, tok), add_pooling_layer=False))
    model = XstiltsModel(enc)
    quiet = lambda *a, **k: None  # noqa: E731
    for name, hp, phase in ((inter, INTER_HP, "intermediate"), ("objclass", TARGET_HP, "target")):
        if name is None:
            continue
        task = get_task(name)
        fam = get_family(task.family)
        model.add_head(task, fam)
        dev = data[name]["dev"] if phase == "target" else data[name]["dev"][:100]
        train_phase(model, [TaskData(task, fam, data[name]["train"], dev)], hp, phase=phase,
                    seed=seed, device=cpu, pad_id=tok.pad_token_id, log=quiet)
    task = get_task("objclass")
    fam = get_family(task.family)
    out = {}
    for lang in LANGS:
        feats = data["objclass"][f"test-{lang}"]
        ids, preds = fam.outputs(task, predict(model, task, fam, feats, 64, cpu, pad_id=tok.pad_token_id), feats)
        out[lang] = fam.score(task, ids, preds, feats, lang)["accuracy"]
    return out


@pytest.mark.slow
def test_planted_intermediate_helps_and_null_does_not(toy, tmp_path):
    import torch

    torch.set_num_threads(1)
    root, _ = toy
    t0 = time.perf_counter()
    tok, data = _prepared(root, tmp_path)
    base = None
    if PRETRAIN_STEPS:
        from xstilts.stages.pretrain import pretrain_mlm

        base = tmp_path / "base"
        pretrain_mlm(SPEC, tok, [str(Path(root) / f"corpus/{lang}.txt") for lang in LANGS], str(base),
                     steps=PRETRAIN_STEPS, batch_size=32, lr=2e-3, max_length=64, warmup=0.06,
                     seed=0, device=torch.device("cpu"), log=lambda *a, **k: None)
    acc = {cell: _cell(tok, data, inter, 1, base)
           for cell, inter in (("none", None), ("planted", "objclass_tags"), ("null", "polarity_tags"))}
    print(f"objclass test accuracy ({time.perf_counter() - t0:.0f}s): "
          + "; ".join(f"{c}: " + " ".join(f"{k} {v:.3f}" for k, v in a.items()) for c, a in acc.items()))
    en = {c: a["en"] for c, a in acc.items()}
    assert en["planted"] > en["none"] + MARGIN  # the planted effect is recovered
    assert en["null"] < en["none"] + MARGIN  # and the null one is not invented
    assert en["planted"] > en["null"] + MARGIN
    assert acc["planted"]["qaa"] > acc["none"]["qaa"]  # and transfers through shared nouns
