"""The ``mlm-corpus`` stage: the tokenized multilingual corpus of the ``+mlm`` intermediates.

Toy mode reads the toy corpus (``results/toy/corpus/<lang>.txt``, English and every toy
language); real mode the configured local folder (``mlm.corpus``: one ``<lang>.txt`` per
language).  Of each language the first ``mlm.lines`` lines (at most nine tenths of the file)
are packed into training sequences of ``mlm.max_length`` tokens; sequences packed from the
lines after them are held out (``mlm.heldout`` in all, spread over the languages) to measure
the MLM loss during intermediate training.  The cache depends only on the tokenizer and these
settings: every ``+mlm`` cell of a tokenizer shares it.  No torch here.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from xstilts.core import paths
from xstilts.core.errors import InputError
from xstilts.stages.common import file_digest, log, write_json

FEATURE_SCHEMA = pa.schema([("seqs", pa.list_(pa.list_(pa.int32()))), ("language", pa.string())])


def pack(ids_per_line: list[list[int]], max_length: int, bos: int, eos: int) -> list[list[int]]:
    """Concatenate consecutive lines (of one language) into sequences of at most max_length
    tokens, ``<s> line </s> line </s> ...``, so MLM sees every position a target will use."""
    seqs, cur = [], [bos]
    for ids in ids_per_line:
        ids = ids[: max_length - 2]
        if len(cur) + len(ids) + 1 > max_length:
            seqs.append(cur)
            cur = [bos]
        cur += ids + [eos]
    if len(cur) > 1:
        seqs.append(cur)
    return seqs


def corpus_files(cfg) -> dict[str, str]:
    """``{language: text file}`` the corpus is read from."""
    if cfg.is_toy:
        return {lang: paths.toy_corpus(lang) for lang in ["en", *cfg.toy_languages]}
    folder = Path(cfg.continued_mlm["corpus"])
    files = {p.stem: str(p) for p in sorted(folder.glob("*.txt"))}
    if not files:
        raise InputError(f"mlm.corpus: {folder} holds no <lang>.txt file")
    return files


def split_lines(lines: list[str], n_train: int) -> tuple[list[str], list[str]]:
    """The training lines (the first ``n_train``, at most nine tenths) and the held-out rest."""
    n = min(n_train, len(lines) - max(len(lines) // 10, 1))
    return lines[:n], lines[n:]


def run(cfg, tokenizer: str, out: str | None = None) -> dict:
    from xstilts.stages.data import write_features
    from xstilts.stages.tokenizers import load_tokenizer

    m = cfg.continued_mlm
    tok = load_tokenizer(paths.tokenizer_dir(tokenizer))
    out = out or paths.mlm_corpus_dir(tokenizer)
    files = corpus_files(cfg)
    per_lang = max(int(m["heldout"]) // len(files), 1)
    train, heldout, langs = [], [], {}
    for lang, f in files.items():
        try:
            lines = [x.strip() for x in Path(f).read_text(encoding="utf-8").splitlines() if x.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"mlm corpus {f}: cannot read it as UTF-8 text ({err})") from err
        if len(lines) < 2:
            raise InputError(f"mlm corpus {f}: needs at least 2 non-empty lines, has {len(lines)}")
        tr, ho = split_lines(lines, int(m["lines"]))
        enc = [tok(x, add_special_tokens=False)["input_ids"] for x in (tr, ho)]
        tr_seqs, ho_seqs = (pack(e, int(m["max_length"]), tok.bos_token_id, tok.eos_token_id) for e in enc)
        train += [{"seqs": [s], "language": lang} for s in tr_seqs]
        heldout += [{"seqs": [s], "language": lang} for s in ho_seqs[:per_lang]]
        langs[lang] = {"lines": len(tr), "sequences": len(tr_seqs), "heldout": len(ho_seqs[:per_lang]),
                       "tokens": sum(map(len, tr_seqs)), "file": f}
    write_features(paths.data_file(out, paths.TRAIN), train, FEATURE_SCHEMA)
    write_features(paths.data_file(out, paths.HELDOUT), heldout, FEATURE_SCHEMA)
    manifest = {"settings": cfg.mlm_corpus_settings(), "languages": langs,
                "sequences": len(train), "heldout": len(heldout),
                "inputs": {f: file_digest(f) for f in files.values()}}
    write_json(manifest, paths.manifest_file(out))
    log(f"mlm corpus: {len(train)} training and {len(heldout)} held-out sequences in "
        f"{len(files)} languages -> {out}")
    return manifest
