"""Tokenizers: the toy BPE tokenizer and loading a saved one (torch-free: the ``tokenizer`` and
``prepare`` jobs import this, not :mod:`xstilts.stages.models`)."""

from __future__ import annotations

import os

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's order: <s>=0, <pad>=1


def train_tokenizer(corpus_files: list[str], vocab_size: int, out_dir: str):
    """A byte-pair-encoding tokenizer trained on the toy corpus, with XLM-R's special tokens,
    normaliser and word-boundary marker (``▁``).

    BPE rather than XLM-R's unigram model: on a corpus of a few thousand word types the unigram
    trainer keeps only ~2/3 of the requested entries and splits the most frequent words into
    characters (2.3 tokens per word), while BPE keeps every frequent word whole (about 1.1 tokens
    per word), which is what a large XLM-R vocabulary does for frequent words.  Training runs on
    one thread: the parallel trainer's result depends on thread timing, and the toy benchmark
    must be a deterministic function of its config."""
    os.environ["RAYON_NUM_THREADS"] = "1"
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(),
                                                 pre_tokenizers.Punctuation()])
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  show_progress=False)
    tok.train([str(f) for f in corpus_files], trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
        model_max_length=512)
    fast.save_pretrained(out_dir)
    return fast


# tokenizer classes that are the plain fast tokenizer (the toy's): loaded without AutoTokenizer,
# whose import chain pulls in torch (seconds per job)
PLAIN_FAST = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(path: str):
    import json
    from pathlib import Path

    conf = Path(path) / "tokenizer_config.json"
    if not conf.exists() and not (Path(path) / "tokenizer.json").exists():
        from xstilts.core.errors import InputError

        raise InputError(f"{path}: no tokenizer there (tokenizer.json): the tokenizer job writes it "
                         f"(`xstilts tokenizer --name {Path(path).name}`, or Snakemake's tokenizer rule)")
    cls = json.loads(conf.read_text()).get("tokenizer_class") if conf.exists() else None
    if cls in PLAIN_FAST:
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(path)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)
