"""``generate``: the toy world, its corpus and every toy twin, deterministic from a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from xstilts.stages.common import file_digest
from xstilts.toy import items as I
from xstilts.toy.control_twins import write_control_twins
from xstilts.toy.qa_twins import QATwins, question_words
from xstilts.toy.render import Renderer
from xstilts.toy.retrieval_twins import retrieval_tables
from xstilts.toy.tagging_twins import write_tagging_twins
from xstilts.toy.twins import TwinBuilder
from xstilts.toy.world import LANGUAGES, TOY_LANGUAGES, build_world, stable_rng

GENERATOR_VERSION = 2  # 2: homographs, qab in English order, lexicon file (world + corpus: in the encoder key)
TWINS_VERSION = 3  # 2: PAN-X names in local spelling; 3: QA paragraphs of two facts (labelled twins only: encoders unaffected)

#: (repo, config) of every twin -> split names written (``{lang}`` = per-language configs)
TWIN_SPLITS = {
    ("nyu-mll/glue", "mnli"): ("train", "validation_matched"),
    ("facebook/anli", "default"): ("train_r1", "dev_r1", "test_r1"),
    ("nyu-mll/glue", "qqp"): ("train", "validation"),
    ("nyu-mll/glue", "sst2"): ("train", "validation"),
    ("Rowan/hellaswag", "default"): ("train", "validation"),
    ("tau/commonsense_qa", "default"): ("train", "validation"),
    ("allenai/cosmos_qa", "default"): ("train", "validation"),
    ("google/xtreme", "XNLI"): ("validation", "test"),
    ("google/xtreme", "PAWS-X.{lang}"): ("train", "validation", "test"),  # train: en only
    ("cambridgeltl/xcopa", "{lang}"): ("validation", "test"),  # toy languages only
    ("aps/super_glue", "copa"): ("train", "validation"),
    # tagging twins (toy/tagging_twins.py): train en only; udpos.English, udpos.qaa, ...
    ("google/xtreme", "udpos.{lang}"): ("train", "validation", "test"),
    ("google/xtreme", "PAN-X.{lang}"): ("train", "validation", "test"),
    ("ccgbank", "default"): ("train", "dev"),  # .tsv lines tokens<TAB>tags (local CCGbank layout)
    ("google/xtreme", "tatoeba.{lang}"): ("validation",),  # toy languages only
    ("google/xtreme", "bucc18.{lang}"): ("validation", "test"),  # toy languages only
    ("google-research-datasets/xquad_r", "{lang}"): ("validation",),
    ("rajpurkar/squad", "default"): ("train", "validation"),
    ("rajpurkar/squad_v2", "default"): ("train", "validation"),
    ("google/xtreme", "XQuAD.{lang}"): ("validation",),
    ("google/xtreme", "MLQA.{lang}.{lang}"): ("validation", "test"),
    ("google/xtreme", "tydiqa"): ("train", "validation"),  # validation: every language
    # planted controls (toy/control_twins.py, toy only): objclass train/validation en only
    ("xstilts/toy-controls", "objclass.{lang}"): ("train", "validation", "test"),
    ("xstilts/toy-controls", "objclass_tags"): ("train", "dev"),  # .tsv tokens<TAB>tags
    ("xstilts/toy-controls", "polarity_tags"): ("train", "dev"),  # .tsv tokens<TAB>tags
}


def write_corpus(world, out_root: Path, n_corpus: int, seed: int) -> dict:
    r = Renderer(world)
    files = {}
    for lang in world.languages:
        rng = stable_rng(seed, "corpus", lang)  # comparable, not parallel, corpora
        lines = []
        for _ in range(n_corpus):
            clauses, joiner = I.corpus_sentence(rng, world)
            lines.append(r.text(clauses, lang, joiner))
        p = out_root / "corpus" / f"{lang}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[f"corpus/{lang}.txt"] = p
    lexicon = out_root / "corpus" / "lexicon.txt"
    lexicon.write_text("".join(f"{word}\n" for word in lexicon_words(world, seed)), encoding="utf-8")
    files["corpus/lexicon.txt"] = lexicon
    return files


def lexicon_words(world, seed: int) -> list[str]:
    """Every word form of every language (lexicon, English base forms of verbs, question words,
    names, numbers), once each: the toy tokenizer trains on it beside the corpus, as a real
    vocabulary covers the words of a dictionary that a corpus sample may lack."""
    words = {form for forms in world.lex.values() for form in forms.values()}
    words |= set(world.en_base.values())
    words |= {w for forms in question_words(world, seed).values() for w in forms.values()}
    words |= {part for name in world.people + world.places + world.orgs for part in name.split()}
    words |= {str(n) for n in range(100)}
    words |= {w[:1].upper() + w[1:] for w in set(words)}  # sentence-initial capitals
    return sorted(words)


def _write_table(out_root: Path, repo: str, config: str, split: str, tab) -> tuple:
    rel = f"hub/{repo}/{config}/{split}.parquet"
    p = out_root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tab, p, compression="zstd")
    return rel, p, tab.num_rows


def generate(out_root, seed: int = 0, languages=LANGUAGES, n_train: int = 4000, n_dev: int = 500,
             n_test: int = 400, n_corpus: int = 20000, n_objclass_train: int = 42) -> dict:
    """Write the toy world, corpus and twins under ``out_root``; return (and write) the manifest.

    ``n_objclass_train``: the small English training set of the planted-control target
    ``objclass`` (a multiple of 7, see ``toy/control_twins.py``).
    Layout: ``out_root/corpus/<lang>.txt``, ``out_root/hub/<repo>/<config>/<split>.parquet``,
    ``out_root/world.json``, ``out_root/manifest.json``. Same seed -> byte-identical files.
    """
    out_root = Path(out_root)
    languages = tuple(languages)
    if languages[0] != "en":
        raise ValueError("languages must start with 'en'")
    for lang in languages[1:]:
        if lang not in TOY_LANGUAGES:
            raise ValueError(f"{lang!r} is not a toy language code ({TOY_LANGUAGES})")
    world = build_world(seed, languages)
    out_root.mkdir(parents=True, exist_ok=True)
    files = {}  # rel -> (path, rows)
    for rel, p in write_corpus(world, out_root, n_corpus, seed).items():
        files[rel] = (p, n_corpus)

    b = TwinBuilder(world, seed, n_train, n_dev, n_test)
    simple = {("nyu-mll/glue", "mnli"): b.mnli, ("facebook/anli", "default"): b.anli,
              ("nyu-mll/glue", "qqp"): b.qqp, ("nyu-mll/glue", "sst2"): b.sst2,
              ("Rowan/hellaswag", "default"): b.hellaswag,
              ("tau/commonsense_qa", "default"): b.commonsense_qa,
              ("allenai/cosmos_qa", "default"): b.cosmos_qa, ("google/xtreme", "XNLI"): b.xnli,
              ("aps/super_glue", "copa"): b.copa}
    tables = {key: fn() for key, fn in simple.items()}  # (repo, config) -> {split: table}
    tables.update({("google/xtreme", f"PAWS-X.{lang}"): t for lang, t in b.pawsx().items()})
    tables.update({("cambridgeltl/xcopa", lang): t for lang, t in b.xcopa().items()})
    tables.update(retrieval_tables(world, seed, n_test))
    tables.update(QATwins(world, seed, n_train, n_dev, n_test).all())
    for (repo, config), splits in tables.items():
        for split, tab in splits.items():
            rel, path, n = _write_table(out_root, repo, config, split, tab)
            files[rel] = (path, n)
    files.update(write_tagging_twins(b, out_root, _write_table))
    files.update(write_control_twins(b, out_root, _write_table, n_objclass_train))

    world_path = out_root / "world.json"
    world_path.write_text(json.dumps(world.to_json(), indent=1, sort_keys=True), encoding="utf-8")
    files["world.json"] = (world_path, None)

    manifest = {
        "benchmark": "toy",
        "generator_version": GENERATOR_VERSION,
        "twins_version": TWINS_VERSION,
        "seed": seed,
        "languages": list(languages),
        "toy_languages": list(languages[1:]),
        "sizes": {"n_train": n_train, "n_dev": n_dev, "n_test": n_test, "n_corpus": n_corpus,
                  "n_objclass_train": n_objclass_train},
        "shared_vocabulary": {lang: round(world.shared_fraction(lang), 4) for lang in languages},
        "hub_root": "hub",
        "twins": {f"{repo}/{config}": list(splits) for (repo, config), splits in TWIN_SPLITS.items()},
        "files": {rel: {"sha256": file_digest(p), **({"rows": n} if n is not None else {})}
                  for rel, (p, n) in sorted(files.items())},
    }
    (out_root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                            encoding="utf-8")
    return manifest
