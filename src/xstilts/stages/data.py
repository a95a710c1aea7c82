"""Reading task data (Hub or a local mirror) and the tokenized cache.

A ``Source`` is read from the Hugging Face Hub at its pinned revision, or, when a local root is
given, from ``<root>/<repo>/<config>/<split>.parquet`` (or ``.jsonl``) in the same schema (or
the Hub's own layout, as ``hf download <repo> --repo-type dataset --local-dir <root>/<repo>``
writes it: ``<config>/<split>-00000-of-00001.parquet`` shards, ``data/`` sub-folders, the
repository's one config name such as ``plain_text/`` for a source without a config), or
``.tsv``: one example per line, ``tokens<TAB>tags`` (space-separated; CCGbank-style tagging
data, read as rows ``{"tokens": str, "tags": str}``).  A source marked ``local_only`` (licensed
data) must come from a local root.  The
toy benchmark is such a local root, so toy and real data go through the same converters.

The tokenized cache of a task (``results/data/<tokenizer>/<task>/``) holds one parquet file per
part (``train``, ``dev``, ``test-<lang>``) with the token ids of every example, and a manifest.
It depends only on the tokenizer, so every model size that shares a tokenizer shares it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xstilts.core import paths
from xstilts.core.errors import InputError
from xstilts.core.registry import Source, Task, get_family
from xstilts.stages.common import file_digest, log, write_json


class DataError(InputError, RuntimeError):
    """A data file that cannot be read or converted (names the file, and the line or row)."""


def _split_files(folder: Path, split: str) -> list[Path]:
    """The files of one split in one folder: ``<split>.<ext>``, the Hub's shards
    ``<split>-00000-of-00003.parquet`` (all, in order), or the parquet conversion's
    ``<split>/0000.parquet``."""
    for ext in LOCAL_FORMATS:
        path = folder / f"{split}{ext}"
        if path.is_file():
            return [path]
    shards = sorted(folder.glob(f"{split}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].parquet"))
    # the Hub's parquet conversion (refs/convert/parquet): <config>/<split>/0000.parquet
    return shards or sorted((folder / split).glob("[0-9][0-9][0-9][0-9].parquet"))


def _config_folders(repo_dir: Path, config: str | None) -> list[Path]:
    """Where a config's files may lie, xstilts' layout first, then the Hub's: ``<config>/``,
    ``data/<config>/``; a repository without configs (``config`` None) keeps its files in
    ``default/``, ``data/``, the repository root, or its one named config (``plain_text/`` in
    ``rajpurkar/squad``)."""
    if config:
        return [repo_dir / config, repo_dir / "data" / config]
    named = sorted(d for d in repo_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
                   and d.name not in ("default", "data")) if repo_dir.is_dir() else []
    return [repo_dir / "default", repo_dir / "data", repo_dir] + (named if len(named) == 1 else [])


def local_files(root: str | os.PathLike, src: Source) -> list[Path]:
    """The mirror files of one split (several for a sharded Hub download)."""
    repo_dir = Path(root) / src.repo
    for folder in _config_folders(repo_dir, src.config):
        files = _split_files(folder, src.split) if folder.is_dir() else []
        if files:
            return files
    base = repo_dir / (src.config or "default")
    raise DataError(
        f"{src.describe()}: no local file {base}/{src.split}.parquet (or .jsonl, .tsv, or the "
        f"Hub's {src.split}-00000-of-00001.parquet shards, also under data/) under the local "
        f"root {root!s}" + (f". {src.local_only}" if src.local_only else ""))


def local_file(root: str | os.PathLike, src: Source) -> Path:
    """The first mirror file of one split (see :func:`local_files`)."""
    return local_files(root, src)[0]


LOCAL_FORMATS = (".parquet", ".jsonl", ".tsv")
TSV_COLUMNS = ("tokens", "tags")


def read_tsv(path: Path) -> list[dict]:
    """``tokens<TAB>tags`` lines (blank lines skipped) -> ``{"tokens", "tags"}`` rows."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != len(TSV_COLUMNS):
                raise DataError(f"{path}:{lineno}: expected {len(TSV_COLUMNS)} tab-separated "
                                f"columns ({'<TAB>'.join(TSV_COLUMNS)}), found {len(cols)}")
            n_tok, n_tag = len(cols[0].split()), len(cols[1].split())
            if n_tok != n_tag:
                raise DataError(f"{path}:{lineno}: {n_tok} tokens but {n_tag} tags")
            rows.append(dict(zip(TSV_COLUMNS, cols)))
    return rows


def read_parquet(path) -> list[dict]:
    """The rows of one parquet file (``core.arrow.read_table``); a truncated or foreign file is a
    :class:`DataError`."""
    import pyarrow as pa

    from xstilts.core.arrow import read_table

    try:
        return read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable parquet file (truncated or corrupt?): {err}") from err


def read_local(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return read_parquet(path)
    try:
        if path.suffix == ".tsv":
            return read_tsv(path)
        return read_jsonl(path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from err


def read_jsonl(path: Path) -> list[dict]:
    """One JSON object per line (blank lines skipped)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object (one row), "
                                f"found {type(row).__name__}")
            rows.append(row)
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
    parts = source_parts(src)
    if len(parts) > 1:  # several splits/configs: rows tagged with where they came from
        rows, origins = [], []
        for part, tag in parts:
            sub, origin = _read_one(part, local_root)
            rows += [{**r, **tag} for r in sub]
            origins.append(origin)
        origin = " + ".join(origins)
    else:
        rows, origin = _read_one(src, local_root)
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


def _read_one(src: Source, local_root: str | None) -> tuple[list[dict], str]:
    if not local_root and src.local_only:  # licensed or not on the Hub (CCGbank, Mewsli-X)
        raise DataError(f"{src.describe()} is not on the Hugging Face Hub and no local path is "
                        f"configured. {src.local_only}")
    if local_root:
        files = local_files(local_root, src)
        return [r for f in files for r in read_local(f)], str(files[0]) + (
            f" (+{len(files) - 1} shards)" if len(files) > 1 else "")
    return read_hub(src), src.describe()


def expand_configs(task: Task, src: Source, local_root: str | None) -> Source:
    """Replace a ``*`` in a ``+``-joined config list by every language config of the data: the
    configs of the local mirror that hold the split (toy twins: English and the toy languages),
    else the task's benchmark languages."""
    if not src.config or "*" not in src.config.split("+"):
        return src
    from dataclasses import replace

    if local_root:
        base = Path(local_root) / src.repo
        folders = [d for top in (base, base / "data") if top.is_dir() for d in top.iterdir()
                   if d.is_dir() and d.name != "data"]
        every = sorted({d.name for d in folders if _split_files(d, src.split)})
        if not every:
            raise DataError(f"{src.describe()}: no config under {base} holds a {src.split} split")
    else:
        every = [task.lang_config.get(lang, lang) for lang in task.languages]
    names = [c for name in src.config.split("+") for c in (every if name == "*" else [name])]
    return replace(src, config="+".join(dict.fromkeys(names)))


def source_parts(src: Source) -> list[tuple[Source, dict]]:
    """A source whose ``config`` or ``split`` joins several names with ``+`` (BUCC's sample and
    test splits in one evaluation file; LAReQA's candidate pool of every language) is read part
    by part; each row is tagged ``_config`` / ``_split`` with its part (duplicates dropped,
    order kept)."""
    from dataclasses import replace

    configs = list(dict.fromkeys((src.config or "").split("+"))) if src.config and "+" in src.config else [src.config]
    splits = list(dict.fromkeys(src.split.split("+")))
    if len(configs) == 1 and len(splits) == 1:
        return [(src, {})]
    return [(replace(src, config=c, split=sp),
             {**({"_config": c} if len(configs) > 1 else {}), **({"_split": sp} if len(splits) > 1 else {})})
            for c in configs for sp in splits]


def load_examples(task: Task, part: str, local_root: str | None, limit: int | None = None,
                  seed: int = 0) -> list[dict]:
    """Canonical examples of ``train``, ``dev`` or ``test-<lang>`` of a task.

    ``limit`` keeps a seeded random subset (used for the English dev subset of early stopping).
    """
    if part == paths.TRAIN:
        src = task.train
    elif part == paths.DEV:
        src = task.dev
    elif paths.test_language(part) is not None:
        src = task.test_source(paths.test_language(part))
    else:
        raise ValueError(f"unknown data part {part!r}")
    if src is None:
        raise DataError(f"task {task.name!r} has no {part} split")
    rows, origin = _read_rows(expand_configs(task, src, local_root), local_root)
    family = get_family(task.family)
    examples = family.convert(rows, task, src.schema, origin)
    return examples if limit is None else family.limit_examples(examples, limit, seed)


def write_features(path: str | os.PathLike, feats: list[dict], schema: pa.Schema) -> None:
    """One parquet file of features in the family's ``feature_schema`` (a column a feature
    lacks is null there, as in ``pa.Table.from_pylist``)."""
    import pyarrow.parquet as pq

    from xstilts.core.arrow import columns_table

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(columns_table(schema, {f.name: [r.get(f.name) for r in feats] for f in schema}), path)


def read_features(path: str | os.PathLike) -> list[dict]:
    if not Path(path).exists():
        raise DataError(f"tokenized cache file {path} is missing: rerun the prepare step")
    return read_parquet(Path(path))


def encode(family, tokenizer, examples: list[dict], max_length: int, options: dict, where: str) -> list[dict]:
    """``family.encode``; an example the settings cannot encode (e.g. a QA question that leaves
    no room for the context) is one error that names ``where`` (task, split, source)."""
    try:
        return family.encode(tokenizer, examples, max_length, **options)
    except InputError as err:
        raise DataError(f"{where}: {err}") from None


def prepare(task: Task, tokenizer, out_dir: str, parts: list[str], local_root: str | None,
            max_length: int, dev_size: int | None, seed: int = 0, options: dict | None = None,
            train_size: int | None = None) -> dict:
    """Tokenize every part of a task into ``out_dir`` and write ``manifest.json``.
    ``options``: the family's encoding options (``Family.options``); ``dev_size`` /
    ``train_size``: seeded random subsets of the dev and training sets (``None``: all)."""
    family = get_family(task.family)
    options = dict(options or {})
    # an open label set (CCG supertags) comes from the training set and is stored in the manifest
    task = family.with_labels(task, lambda: load_examples(task, "train", local_root))
    manifest = {"task": task.name, "family": task.family, "max_length": max_length,
                "options": options, "local_root": local_root, "labels": list(task.labels),
                "parts": {}}
    for part in parts:
        limit = {paths.DEV: dev_size, paths.TRAIN: train_size}.get(part)
        examples = load_examples(task, part, local_root, limit=limit, seed=seed)
        feats = encode(family, tokenizer, examples, max_length, options,
                       f"{task.name} {part} ({_describe_part(task, part)})")
        write_features(paths.data_file(out_dir, part), feats, family.feature_schema)
        lengths = [len(s) for f in feats for s in f["seqs"]]
        truncated = sum(n >= max_length for n in lengths)
        manifest["parts"][part] = {
            "examples": len(examples), "features": len(feats), "sequences": len(lengths),
            "tokens": int(sum(lengths)), "mean_length": sum(lengths) / max(len(lengths), 1),
            "truncated_sequences": int(truncated),
            "source": _describe_part(task, part),
        }
    write_json(manifest, paths.manifest_file(out_dir))
    return manifest


def parts_of(cfg, task: str) -> list[str]:
    """The parts ``prepare`` writes for a task of the grid: train/dev (none for a zero-shot
    target), and the test language of a target."""
    t = cfg.bound(task, cfg.phase_of(task)).task
    parts = [] if t.zero_shot else [paths.TRAIN, paths.DEV]
    if "target" in t.roles and task in cfg.targets:
        parts += [paths.test_part(lang) for lang in cfg.eval_languages(task)]
    return parts


def part_source(task: Task, part: str) -> Source | None:
    if part == paths.TRAIN:
        return task.train
    if part == paths.DEV:
        return task.dev
    return task.test_source(paths.test_language(part))


def input_files(cfg, task: str) -> list[str]:
    """The local mirror files ``prepare`` reads for a task (none for Hub data: its revision is
    in :func:`input_sources`); a split missing from the mirror is left to ``prepare``'s error."""
    from xstilts.core.registry import get_task

    root, t = cfg.local_root(task), get_task(task)
    if not root:
        return []
    files: list[str] = []
    for part in parts_of(cfg, task):
        src = part_source(t, part)
        try:
            files += [str(f) for one, _ in source_parts(expand_configs(t, src, root))
                      for f in local_files(root, one)]
        except DataError:
            continue
    return sorted(set(files))


def input_sources(cfg, task: str) -> list[str]:
    """Every split ``prepare`` reads for a task, with its pinned Hub revision."""
    from xstilts.core.registry import get_task

    t = get_task(task)
    return [f"{part}={part_source(t, part).describe()}" for part in parts_of(cfg, task)]


def run(cfg, tokenizer: str, task: str, out: str | None = None) -> None:
    """The ``prepare`` stage: tokenize one task (train/dev, and the test languages of a target of
    the grid) into the cache shared by every model of ``tokenizer``; its manifest records the
    mirror files it read (with their sha256) and the Hub sources with their revisions."""
    from xstilts.stages.tokenizers import load_tokenizer

    bound = cfg.bound(task, cfg.phase_of(task))
    t = bound.task
    parts = parts_of(cfg, task)
    tok = load_tokenizer(paths.tokenizer_dir(tokenizer))
    out = out or paths.data_dir(tokenizer, task)
    m = prepare(t, tok, out, parts, cfg.local_root(task), bound.max_length,
                int(bound.hparams["dev_size"]), seed=0, options=bound.options,
                train_size=bound.hparams["train_size"])
    m["inputs"] = {"files": {f: file_digest(f) for f in input_files(cfg, task)},
                   "sources": input_sources(cfg, task)}
    write_json(m, paths.manifest_file(out))
    log(f"{task}: " + ", ".join(f"{p} {v['examples']}" for p, v in m["parts"].items()))


def task_with_labels(task: Task, data_dir: str | os.PathLike) -> Task:
    """The task with the label set its tokenized cache was prepared with (an open label set is
    known only from the manifest; a fixed one must match it)."""
    from dataclasses import replace

    f = Path(paths.manifest_file(str(data_dir)))
    labels = tuple(json.loads(f.read_text()).get("labels") or ()) if f.exists() else ()
    if not task.labels:  # open label set (or none at all: multiple choice)
        return replace(task, labels=labels) if labels else task
    if labels and labels != tuple(task.labels):
        raise DataError(f"{f}: labels {list(labels)} differ from the registry's "
                        f"{list(task.labels)}: rerun the prepare step")
    return task


def _describe_part(task: Task, part: str) -> str:
    return part_source(task, part).describe()
