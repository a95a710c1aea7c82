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
        tok.save_pretrained(out)
    log(f"tokenizer {name}: {len(tok)} entries -> {out}")
