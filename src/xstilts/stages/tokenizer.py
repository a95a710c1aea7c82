"""The ``tokenizer`` stage: train the toy tokenizer, or save a Hub tokenizer."""

from __future__ import annotations

from xstilts.core import paths
from xstilts.stages.common import log


def run(cfg, name: str, out: str | None = None) -> None:
    spec = cfg.tokenizer(name)
    out = out or paths.tokenizer_dir(name)
    if cfg.is_toy:
        from xstilts.stages.tokenizers import train_tokenizer

        from xstilts.stages.base import toy_corpus

        files = toy_corpus(cfg) + [paths.toy_lexicon()]
        tok = train_tokenizer(files, spec["train"]["vocab_size"], out)
    else:
        from transformers import AutoTokenizer

        from xstilts.stages.models import from_hub

        tok = from_hub(AutoTokenizer, spec["hf_id"], spec.get("revision"))
        check_vocabulary(cfg, name, len(tok))
        tok.save_pretrained(out)
    log(f"tokenizer {name}: {len(tok)} entries -> {out}")


def check_vocabulary(cfg, name: str, entries: int) -> None:
    """Every real model paired with tokenizer ``name`` has an embedding row for each of its
    ``entries`` ids (a larger id fails deep inside the model, on a GPU as a device-side assert)."""
    from xstilts.core.config import ConfigError

    for m in cfg.models:
        if cfg.tokenizer_of(m) != name:
            continue
        vocab = (cfg.model_config(m) or {}).get("vocab_size")
        if isinstance(vocab, int) and entries > vocab:
            raise ConfigError(f"{cfg.source}: models.{m}.tokenizer: tokenizer {name!r} has {entries:,} "
                              f"entries, more than the {vocab:,} embedding rows of model {m} (vocab_size "
                              f"in its config.json): pair {m} with the tokenizer it was trained with")
