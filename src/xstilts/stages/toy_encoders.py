"""The ``toy-encoders`` stage: pretrain the config's toy models from scratch and store them as
the shipped toy encoders (``src/xstilts/toy/encoders/<key>/``, see ``stages/pretrain.py``).

Needs the toy corpus and tokenizer (`snakemake -c2 results/tokenizers/<name>/tokenizer.json`);
``make toy-encoders`` runs both."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from xstilts.core import paths
from xstilts.stages.base import toy_corpus
from xstilts.stages.common import log


def _key(cfg, model: str):
    from xstilts.stages.pretrain import encoder_key

    tok = Path(paths.tokenizer_dir(cfg.tokenizer_of(model)), "tokenizer.json")
    if not tok.exists():
        raise SystemExit(f"xstilts toy-encoders: {tok} is missing; build it first: "
                         f"snakemake -c2 {paths.tokenizer_file(cfg.tokenizer_of(model))}")
    return encoder_key(toy=cfg.toy_world, languages=["en", *cfg.toy_languages], tokenizer_file=str(tok),
                       architecture=cfg.model(model)["toy"], recipe=cfg.mlm(model))


def run(cfg, models: list[str] | None = None, clean: bool = False, out: str | None = None) -> None:
    from xstilts.stages.pretrain import ship, toy_base

    if not cfg.is_toy:
        raise SystemExit("xstilts toy-encoders: only for toy configs (benchmark: toy)")
    device = cfg.runtime.start()
    keys = {model: _key(cfg, model) for model in cfg.models}
    for model in models or cfg.models:
        key, fields = keys[model]
        with tempfile.TemporaryDirectory() as tmp:
            toy_base(cfg.model(model)["toy"], cfg.mlm(model), cfg.toy_world, ["en", *cfg.toy_languages],
                     paths.tokenizer_dir(cfg.tokenizer_of(model)), toy_corpus(cfg), tmp, device,
                     use_shipped=False, log=log)
            log(f"{model}: shipped as {ship(tmp, key, fields)}")
    if clean:  # remove the store entries that no model of the config uses
        keep = {key for key, _ in keys.values()}
        store = Path(paths.toy_encoder_store())
        for folder in sorted(store.iterdir()) if store.is_dir() else ():
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder)
                log(f"removed the stale shipped encoder {folder.name}")
