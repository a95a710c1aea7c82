"""The ``translate-data`` stage: the tokenized translations of an intermediate task's training
set, for its ``<task>+translate`` intermediate (one ``train-<lang>`` part per language other
than English; the English part is the task's own tokenized ``train``).

Toy mode renders the task's training examples in every toy language (``toy/translate_twins``:
the same items, so the same facts and labels); ``translate.noise`` replaces that fraction of the
word tokens of each translated example by a random vocabulary token (imperfect MT; the toy
tokenizer has one token per lexicon word).  Real mode reads ``translate.sources.<task>``: a
folder with ``train.parquet`` (or ``.jsonl``) in the task's own Hub schema and a ``language``
column; a missing one is missing data (``stages/data_check.missing_data``).  No torch here.
"""

from __future__ import annotations

import random
from pathlib import Path

from xstilts.core import paths
from xstilts.stages.common import file_digest, log, write_json

ENGLISH = "en"
# The column naming a row's language in a translate-train source (real folders and the toy
# twins alike).  Defined here, not imported from xstilts.toy: the Snakefile imports this module
# at DAG time (translate_inputs), and the toy package costs ~50 ms to import.
LANGUAGE_COLUMN = "language"


def source_files(cfg, task: str) -> list[Path]:
    """The local files of a real-mode translation source (empty when none is configured or
    none is there)."""
    from xstilts.stages.data import _split_files

    folder = None if cfg.is_toy else cfg.translate["sources"].get(task)
    if not folder or not Path(folder).is_dir():
        return []
    return _split_files(Path(folder), paths.TRAIN)


def missing_source(cfg, task: str) -> str | None:
    """Why a real-mode ``<task>+translate`` has no translations, or None."""
    if cfg.is_toy:
        return None
    folder = cfg.translate["sources"].get(task)
    if not folder:
        return f"no translate.sources.{task} configured (a folder with train.parquet in the task's schema + a language column)"
    if not source_files(cfg, task):
        return f"translate.sources.{task}: no train.parquet / .jsonl in {folder}"
    return None


def rows_by_language(cfg, task: str) -> tuple[dict[str, list[dict]], str]:
    """``({language: rows}, origin)`` of the translations (English excluded)."""
    from xstilts.stages.data import DataError, read_local

    if cfg.is_toy:
        from xstilts.toy.translate_twins import translated_rows

        rows = translated_rows(cfg.toy_world, cfg.toy_languages, task)
        return {k: v for k, v in rows.items() if k != ENGLISH}, f"toy translations of {task}"
    why = missing_source(cfg, task)
    if why:
        raise DataError(why)
    out: dict[str, list[dict]] = {}
    files = source_files(cfg, task)
    for f in files:
        for i, row in enumerate(read_local(f)):
            if LANGUAGE_COLUMN not in row:
                raise DataError(f"{f} row {i}: no {LANGUAGE_COLUMN!r} column (columns: {sorted(row)})")
            lang = str(row[LANGUAGE_COLUMN])
            if lang != ENGLISH:
                out.setdefault(lang, []).append(row)
    if not out:
        raise DataError(f"{files[0]}: no rows in a language other than English")
    return out, str(files[0])


def add_noise(feats: list[dict], fraction: float, vocab_size: int, special: set[int], seed) -> int:
    """Replace ``fraction`` of the non-special tokens of every sequence, in place, by random
    non-special tokens (seeded by ``seed``); returns how many were replaced."""
    if fraction <= 0:
        return 0
    rng = random.Random(str(seed))
    pool = [i for i in range(vocab_size) if i not in special]
    n = 0
    for f in feats:
        for s in f["seqs"]:
            for j, t in enumerate(s):
                if t not in special and rng.random() < fraction:
                    s[j] = rng.choice(pool)
                    n += 1
    return n


def run(cfg, tokenizer: str, task: str, out: str | None = None) -> dict:
    from xstilts.stages.data import encode, write_features
    from xstilts.stages.tokenizers import load_tokenizer

    bound = cfg.bound(task, cfg.phase_of(task))
    fam = bound.family
    by_lang, origin = rows_by_language(cfg, task)  # first: a task without translations needs no tokenizer
    tok = load_tokenizer(paths.tokenizer_dir(tokenizer))
    out = out or paths.translate_dir(tokenizer, task)
    noise = float(cfg.translate["noise"]) if cfg.is_toy else 0.0
    special = set(tok.all_special_ids)
    manifest = {"task": task, "settings": cfg.translate_settings(task), "origin": origin, "parts": {},
                "inputs": {str(f): file_digest(f) for f in source_files(cfg, task)}}
    for lang, rows in sorted(by_lang.items()):
        rows = [{k: v for k, v in r.items() if k != LANGUAGE_COLUMN} for r in rows]
        examples = fam.convert(rows, bound.task, bound.task.train.schema, f"{origin} [{lang}]")
        feats = encode(fam, tok, examples, bound.max_length, bound.options, f"{task} translations, {origin} [{lang}]")
        replaced = add_noise(feats, noise, len(tok), special, f"{task}:{lang}")
        part = paths.train_part(lang)
        write_features(paths.data_file(out, part), feats, fam.feature_schema)
        manifest["parts"][part] = {"language": lang, "examples": len(examples), "features": len(feats),
                                   "tokens": sum(len(s) for f in feats for s in f["seqs"]),
                                   "noised_tokens": replaced}
    write_json(manifest, paths.manifest_file(out))
    log(f"{task} translations: " + ", ".join(f"{v['language']} {v['examples']}" for v in manifest["parts"].values())
        + (f" (noise {noise})" if noise else "") + f" -> {out}")
    return manifest
