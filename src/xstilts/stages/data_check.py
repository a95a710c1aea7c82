"""``xstilts data check``: before any job, whether every split and model the grid needs is in
the local mirror or the Hugging Face cache, and what is still to fetch or to provide.

No network and no dataset loading: a split counts as present when its mirror files exist
(:func:`xstilts.stages.data.local_files`, the Hub's sharded layout included) or when the
datasets cache holds its config (``$HF_DATASETS_CACHE/<owner>___<name>/<config>``, written by
``xstilts prefetch``); a model when it is a local folder or its snapshot at the pinned revision
is in the hub cache.  Every missing item is listed at once; the exit status is 1 when any is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from xstilts.core.registry import get_task
from xstilts.stages.data import DataError, expand_configs, local_files, source_parts
from xstilts.stages.prefetch import (cached_split, hf_dirs, is_local_model, model_snapshot, model_users,
                                     task_sources)

OK, FETCH, PROVIDE = "ok", "fetch", "provide"
MLM_CORPUS_KEY = "mlm:corpus"  # the missing-data key of the +mlm intermediates' corpus


@dataclass(frozen=True)
class Check:
    task: str  # task, or "model:<name>" / "tokenizer:<name>"
    part: str  # train / dev / test-<lang> / snapshot
    status: str  # OK, FETCH (prefetch gets it) or PROVIDE (local data needed)
    where: str  # the file / cache folder found, or what is missing
    item: tuple  # what is fetched or provided once however many parts read it: (repo, config,
    # split, revision) of a split (as prefetch plans it), (repo, revision) of a model, (task,) else


def check(cfg) -> list[Check]:
    out: list[Check] = []
    if not cfg.is_toy:  # toy models and tokenizers are built by the workflow
        for (repo, rev), used in model_users(cfg).items():
            if is_local_model(repo):
                out.append(Check(",".join(used), "snapshot", OK, f"local folder {repo}", (repo, rev)))
                continue
            snap = model_snapshot(repo, rev)
            out.append(Check(",".join(used), "snapshot", OK if snap else FETCH,
                             str(snap) if snap else f"{repo}@{rev} not in {hf_dirs()[0]}", (repo, rev)))
    for name in cfg.data_tasks():
        task, root = get_task(name), cfg.local_root(name)
        for part, whole in task_sources(name, cfg.eval_languages(name) if name in cfg.targets else None):
            if not root and whole.local_only:
                out.append(Check(name, part, PROVIDE, whole.local_only, (name,)))
                continue
            try:
                expanded = expand_configs(task, whole, root)
            except DataError as err:
                out.append(Check(name, part, PROVIDE, str(err), (name,)))
                continue
            for src, _ in source_parts(expanded):
                split = (src.repo, src.config, src.split, src.revision)
                if root:
                    try:
                        files = local_files(root, src)
                        out.append(Check(name, part, OK, str(files[0]) + (
                            f" (+{len(files) - 1})" if len(files) > 1 else ""), split))
                    except DataError:
                        out.append(Check(name, part, PROVIDE,
                                     f"{src.describe()} not in the mirror {root}/{src.repo}/", split))
                    continue
                hit = cached_split(src.repo, src.config)
                out.append(Check(name, part, OK if hit else FETCH, str(hit) if hit else
                                 f"{src.describe()} not in {hf_dirs()[1]}", split))
    return out


def _parts(parts: list[str]) -> str:
    return ",".join(parts) if len(parts) <= 3 else f"{parts[0]},...,{parts[-1]} ({len(parts)})"


def format_checks(checks: list[Check], config: str) -> str:
    """One row per task, status and file or split, with the parts that read it (LAReQA's test
    languages share one candidate pool of every language: eleven parts, one row a split); the
    summary counts each split or model once, as prefetch plans them."""
    rows: dict[tuple, list[str]] = {}
    for c in checks:
        rows.setdefault((c.task, c.status, c.where), []).append(c.part)
    table = [("task", "part", "status", "where / what")]
    table += [(task, _parts(parts), status, where) for (task, status, where), parts in rows.items()]
    width = [max(len(row[i]) for row in table) for i in range(3)]
    lines = ["  ".join(f"{v:<{w}}" for v, w in zip(row[:3], width)) + f"  {row[3]}" for row in table]
    n = {s: len({c.item for c in checks if c.status == s}) for s in (OK, FETCH, PROVIDE)}
    lines.append(f"\n{sum(n.values())} splits and models: {n[OK]} present, {n[FETCH]} to fetch, "
                 f"{n[PROVIDE]} need local data")
    if n[FETCH]:
        lines.append(f"to fetch (on a host with network): xstilts prefetch --config {config}")
    provide = sorted({c.task for c in checks if c.status == PROVIDE})
    if provide:
        lines.append("to provide: a local mirror per task (config data.tasks.<task>: <root>, files "
                     "<root>/<repo>/<config>/<split>.parquet or the Hub's sharded layout) for "
                     + ", ".join(provide))
    return "\n".join(lines) + "\n"


def run(cfg, out: str | None = None) -> None:
    """The ``data check`` command: prints the table; exits 1 when anything is missing.  The toy
    benchmark has nothing to fetch or provide: one line says where the workflow generates it."""
    if cfg.is_toy:
        from xstilts.core import paths

        state = "present" if Path(paths.toy_manifest()).is_file() else "not generated yet"
        text, missing = (f"toy benchmark: nothing to fetch or provide; the workflow generates every split "
                         f"(rule toy_data: {paths.toy_root()}, {state})\n"), False
    else:
        checks = check(cfg)
        text, missing = format_checks(checks, str(cfg.source)), any(c.status != OK for c in checks)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    if missing:
        sys.exit(1)


def missing_data(cfg, manifest: str | None = None) -> dict[str, str]:
    """What the grid cannot read, as ``{task or "model:<name>": one-line reason}``: a split
    absent from its local mirror, licensed data without a local path, and (once prefetch has
    run) every item its manifest lists as not fetched.  Hub data not yet prefetched is not
    missing: the ``prefetch`` job gets it."""
    import json

    from xstilts.stages.prefetch import describe_missing, manifest_path

    out: dict[str, str] = {}
    if cfg.is_toy:  # the workflow generates the toy benchmark itself
        return out
    for c in check(cfg):
        if c.status == PROVIDE and not c.task.startswith(("model:", "tokenizer:")):
            out.setdefault(c.task, f"{c.part}: {c.where}")
    from xstilts.stages.translate import missing_source

    if cfg.uses_mlm and not cfg.is_toy:  # the +mlm intermediates' corpus (mlm.corpus)
        folder = Path(cfg.continued_mlm["corpus"])
        if not folder.is_dir() or not any(folder.glob("*.txt")):
            out.setdefault(MLM_CORPUS_KEY, f"mlm.corpus: {folder} is not a folder of <lang>.txt files "
                                           f"(one UTF-8 text file per language)")
    for task in cfg.translated_tasks():  # a +translate intermediate without its translations
        why = missing_source(cfg, task)
        if why:
            out.setdefault(translate_key(task), why)
    f = Path(manifest or manifest_path())
    if not cfg.is_toy and f.is_file():
        for m in json.loads(f.read_text()).get("missing", []):
            for user in m["used_by"]:
                key = user if user.startswith(("model:", "tokenizer:")) else user.split(":")[0]
                out.setdefault(key, describe_missing(m))
    return out


def translate_key(task: str) -> str:
    """The key of a task's missing translations (a ``<task>+translate`` intermediate)."""
    return f"translate:{task}"


def cell_missing(cfg, cell, missing: dict[str, str]) -> str | None:
    """Why a cell cannot run (the first of its tasks or its model that is missing), or None."""
    tok = cfg.tokenizer_of(cell.model)
    for key in (f"model:{cell.model}", f"tokenizer:{tok}", cell.target,
                *(cell.inter.tasks if cell.inter.trains else ()),
                *(translate_key(t) for t in cell.inter.tasks if cell.inter.translate),
                *((MLM_CORPUS_KEY,) if cell.inter.mlm else ())):
        if key in missing:
            return f"{key}: {missing[key]}"
    return None


def split_cells(cfg, cells: list, missing: dict[str, str]) -> tuple[list, list[tuple]]:
    """``(cells that can run, [(left-out cell, reason)])``."""
    keep, left = [], []
    for cell in cells:
        why = cell_missing(cfg, cell, missing)
        (left.append((cell, why)) if why else keep.append(cell))
    return keep, left


def missing_message(cfg, missing: dict[str, str]) -> str:
    lines = "\n  ".join(f"{k}: {v}" for k, v in sorted(missing.items()))
    config = str(cfg.source) if Path(str(cfg.source)).is_file() else "<config>"
    return (f"{len(missing)} task(s)/model(s) of the grid have no data (data.on_missing_data: "
            f"{cfg.on_missing_data}):\n  {lines}\nProvide them (a local mirror: data.tasks.<task>; "
            f"`xstilts data check --config {config}` lists every file), or set "
            "data.on_missing_data: skip to leave their cells out.")
