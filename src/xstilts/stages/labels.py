"""The ``labels`` stage: a target's gold test labels in the XTREME submission layout."""

from __future__ import annotations

from xstilts.core import paths
from xstilts.core.registry import Task, get_family, get_task
from xstilts.stages.common import log


def write_labels(task: Task, examples_by_lang: dict[str, list[dict]], out_dir: str,
                 options: dict | None = None) -> list[str]:
    """Gold labels in the XTREME submission layout, for ``xstilts score``."""
    family = get_family(task.family)
    options = family.resolve_options({**family.default_options(), **task.hparams, **(options or {})})
    written = []
    for lang, exs in examples_by_lang.items():
        ids, outputs = family.gold(task, exs, **options)
        written.append(str(family.write_predictions(task, outputs, ids, out_dir, lang, **options)))
    return written


def run(cfg, target: str, out: str | None = None) -> None:
    from xstilts.stages.data import load_examples

    task = get_task(target)
    by_lang = {lang: load_examples(task, f"test-{lang}", cfg.local_root(target))
               for lang in cfg.eval_languages(task.name)}
    out = out or paths.labels_dir()
    write_labels(task, by_lang, out, options=cfg.options(target, "target"))
    log(f"labels of {target} ({len(by_lang)} languages) -> {out}")
