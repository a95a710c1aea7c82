"""Shipped toy encoders: content-addressed, checked on load, replaced by pretraining on a
mismatch (with a log line saying why), and the default config's encoders are in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from xstilts.core import paths
from xstilts.core.config import load
from xstilts.stages import pretrain as PT
from xstilts.stages.models import train_tokenizer
from xstilts.toy import generate

ROOT = Path(__file__).resolve().parents[1]
TOY = {"seed": 0, "n_corpus": 200}
SPEC = {"layers": 1, "hidden": 16, "heads": 2}
RECIPE = {"steps": 3, "batch_size": 4, "lr": 1e-3, "max_length": 32, "warmup": 0.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    generate(root, seed=0, languages=["en", "qaa"], n_train=14, n_dev=14, n_test=14, n_corpus=200)
    corpus = [str(root / "corpus" / f"{lang}.txt") for lang in ("en", "qaa")]
    train_tokenizer(corpus + [str(root / "corpus" / "lexicon.txt")], 600, str(root / "tok"))
    return root, corpus


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "toy_encoder_store", lambda: str(tmp_path / "store"))
    return tmp_path / "store"


def _base(world, out, logs, **kw):
    root, corpus = world
    return PT.toy_base(SPEC, RECIPE, TOY, ["en", "qaa"], str(root / "tok"), corpus, str(out),
                       torch.device("cpu"), log=logs.append, **kw)


def _key(world, **changes):
    root, _ = world
    args = {"toy": TOY, "languages": ["en", "qaa"], "tokenizer_file": str(root / "tok" / "tokenizer.json"),
            "architecture": SPEC, "recipe": RECIPE, **changes}
    return PT.encoder_key(**args)


def test_pretrains_without_a_match_then_uses_the_shipped_copy(world, store, tmp_path):
    logs = []
    cost = _base(world, tmp_path / "a", logs)
    assert cost["source"] == "pretrained" and cost["steps"] == 3
    assert any("no shipped toy encoder has key" in m for m in logs)
    key, fields = _key(world)
    PT.ship(str(tmp_path / "a"), key, fields)
    logs.clear()
    cost = _base(world, tmp_path / "b", logs)
    assert cost["source"] == "shipped" and cost["key"] == key
    assert any("using the shipped toy encoder" in m for m in logs)
    a = (tmp_path / "a" / "encoder" / PT.WEIGHTS).read_bytes()
    assert (tmp_path / "b" / "encoder" / PT.WEIGHTS).read_bytes() == a
    assert (tmp_path / "b" / "encoder" / "tokenizer.json").exists()


def test_key_covers_what_determines_the_weights(world):
    key, _ = _key(world)
    assert _key(world, recipe={**RECIPE, "lr": 2e-3})[0] != key
    assert _key(world, architecture={**SPEC, "layers": 2})[0] != key
    assert _key(world, toy={**TOY, "seed": 1})[0] != key
    assert _key(world, languages=["en"])[0] != key
    assert _key(world)[0] == key


def test_tampered_weights_are_not_used(world, store, tmp_path):
    logs = []
    _base(world, tmp_path / "a", logs)
    key, fields = _key(world)
    folder = PT.ship(str(tmp_path / "a"), key, fields)
    (folder / PT.WEIGHTS).write_bytes((folder / PT.WEIGHTS).read_bytes()[:-8] + b"\0" * 8)
    logs.clear()
    cost = _base(world, tmp_path / "b", logs)
    assert cost["source"] == "pretrained"
    assert any("weights do not match their recorded sha256" in m for m in logs)


def test_default_config_encoders_are_shipped_and_small():
    """Every model of config/config.yaml has a store entry whose key.json matches the recipe in
    the config (the tokenizer fingerprint is checked when the `base` job runs), and the store
    stays under 30 MB."""
    cfg = load(ROOT / "config" / "config.yaml")
    store = Path(paths.toy_encoder_store())
    entries = {json.loads((d / "key.json").read_text())["key"]: json.loads((d / "key.json").read_text())
               for d in store.iterdir() if (d / "key.json").exists()}
    for model in cfg.models:
        wanted = {"architecture": dict(sorted(cfg.model(model)["toy"].items())),
                  "mlm": dict(sorted(cfg.mlm(model).items())), "toy_seed": cfg.toy_world["seed"],
                  "n_corpus": cfg.toy_world["n_corpus"], "languages": ["en", *cfg.toy_languages]}
        assert any(all(e["fields"][k] == v for k, v in wanted.items()) for e in entries.values()), (
            f"no shipped encoder for {model}: run `make toy-encoders`")
    size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    assert size < 30 * 2**20, size
