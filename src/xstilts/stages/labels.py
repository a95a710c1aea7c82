"""The ``labels`` stage: a target's gold test labels in the XTREME submission layout."""

from __future__ import annotations

from xstilts.core import paths
from xstilts.core.registry import get_task
from xstilts.stages.common import log


def run(cfg, target: str, out: str | None = None) -> None:
    from xstilts.stages.data import load_examples
    from xstilts.stages.evaluate import write_labels

    task = get_task(target)
    by_lang = {lang: load_examples(task, f"test-{lang}", cfg.local_root(target))
               for lang in cfg.eval_languages(task.name)}
    out = out or paths.labels_dir()
    write_labels(task, by_lang, out, options=cfg.options(target, "target"))
    log(f"labels of {target} ({len(by_lang)} languages) -> {out}")
