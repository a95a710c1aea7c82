"""Reading task data (Hub or a local mirror) and the tokenized cache.

A ``Source`` is read from the Hugging Face Hub at its pinned revision, or, when a local root is
given, from ``<root>/<repo>/<config>/<split>.parquet`` (or ``.jsonl``) in the same schema.  The
toy benchmark is such a local root, so toy and real data go through the same converters.

The tokenized cache of a task (``results/data/<tokenizer>/<task>/``) holds one parquet file per
part (``train``, ``dev``, ``test-<lang>``) with the token ids of every example, and a manifest.
It depends only on the tokenizer, so every model size that shares a tokenizer shares it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xstilts.registry import Source, Task, get_family


class DataError(RuntimeError):
    pass


def local_file(root: str | os.PathLike, src: Source) -> Path:
    base = Path(root) / src.repo / (src.config or "default")
    for ext in (".parquet", ".jsonl"):
        path = base / f"{src.split}{ext}"
        if path.exists():
            return path
    raise DataError(
        f"{src.describe()}: no local file {base}/{src.split}.parquet (or .jsonl) under the "
        f"local root {root!s}")


def read_local(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg})") from err
    return rows


def read_hub(src: Source) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(src.repo, src.config, split=src.split, revision=src.revision)
    except Exception as err:  # offline compute node, missing snapshot, wrong name
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
        hint = (" The Hub is offline here: run `xstilts prefetch` (or `snakemake prefetch`) on a "
                "machine with network access first." if offline else "")
        raise DataError(f"cannot load {src.describe()} from the Hub: {err}.{hint}") from err
    return ds.to_list()


def read_rows(src: Source, local_root: str | None = None) -> list[dict]:
    """Rows of one split, with ``where`` filters applied; never empty."""
    return _read_rows(src, local_root)[0]


def _read_rows(src: Source, local_root: str | None) -> tuple[list[dict], str]:
    """Rows and where they came from (the local file, or the Hub split), for error messages."""
    if local_root:
        path = local_file(local_root, src)
        rows, origin = read_local(path), str(path)
    else:
        rows, origin = read_hub(src), src.describe()
    for col, value in src.where:
        if rows and col not in rows[0]:
            raise DataError(f"{src.describe()}: filter column {col!r} not in {sorted(rows[0])}")
        if value.endswith("*"):  # prefix filter (TyDiQA: the language is the id's prefix)
            rows = [r for r in rows if str(r[col]).startswith(value[:-1])]
        else:
            rows = [r for r in rows if r[col] == value]
    if not rows:
        raise DataError(f"{origin}: no rows" + "".join(f" with {k}={v!r}" for k, v in src.where))
    return rows, origin + "".join(f"[{k}={v}]" for k, v in src.where)


def load_examples(task: Task, part: str, local_root: str | None, limit: int | None = None,
                  seed: int = 0) -> list[dict]:
    """Canonical examples of ``train``, ``dev`` or ``test-<lang>`` of a task.

    ``limit`` keeps a seeded random subset (used for the English dev subset of early stopping).
    """
    if part == "train":
        src = task.train
    elif part == "dev":
        src = task.dev
    elif part.startswith("test-"):
        src = task.test_source(part[len("test-"):])
    else:
        raise ValueError(f"unknown data part {part!r}")
    if src is None:
        raise DataError(f"task {task.name!r} has no {part} split")
    rows, origin = _read_rows(src, local_root)
    examples = get_family(task.family).convert(rows, task, src.schema, origin)
    if limit is not None and len(examples) > limit:
        import random

        idx = sorted(random.Random(seed).sample(range(len(examples)), limit))
        examples = [examples[i] for i in idx]
    return examples


def write_features(path: str | os.PathLike, feats: list[dict], schema: pa.Schema) -> None:
    """One parquet file of features in the family's ``feature_schema``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(feats, schema=schema), path)


def read_features(path: str | os.PathLike) -> list[dict]:
    if not Path(path).exists():
        raise DataError(f"tokenized cache file {path} is missing: rerun the prepare step")
    return pq.read_table(path).to_pylist()


def prepare(task: Task, tokenizer, out_dir: str, parts: list[str], local_root: str | None,
            max_length: int, dev_size: int | None, seed: int = 0, options: dict | None = None) -> dict:
    """Tokenize every part of a task into ``out_dir`` and write ``manifest.json``.
    ``options``: the family's encoding options (``Family.options``)."""
    family = get_family(task.family)
    options = dict(options or {})
    manifest = {"task": task.name, "family": task.family, "max_length": max_length,
                "options": options, "local_root": local_root, "parts": {}}
    for part in parts:
        limit = dev_size if part == "dev" else None
        examples = load_examples(task, part, local_root, limit=limit, seed=seed)
        feats = family.encode(tokenizer, examples, max_length, **options)
        write_features(Path(out_dir) / f"{part}.parquet", feats, family.feature_schema)
        lengths = [len(s) for f in feats for s in f["seqs"]]
        truncated = sum(n >= max_length for n in lengths)
        manifest["parts"][part] = {
            "examples": len(examples), "features": len(feats), "sequences": len(lengths),
            "tokens": int(sum(lengths)), "mean_length": sum(lengths) / max(len(lengths), 1),
            "truncated_sequences": int(truncated),
            "source": _describe_part(task, part),
        }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(out_dir) / "manifest.json", "w") as fh:
        json.dump(manifest, fh, indent=2)
    return manifest


def _describe_part(task: Task, part: str) -> str:
    if part == "train":
        return task.train.describe()
    if part == "dev":
        return task.dev.describe()
    return task.test_source(part[len("test-"):]).describe()
