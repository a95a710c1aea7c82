"""The task registry: every task is one data entry; families carry the code.

A task names where its data lives on the Hugging Face Hub (repo, config, split, pinned
revision), which family's converter reads that Hub schema, its languages, metric and default
hyperparameters.  Entries live in ``xstilts.tasks.<family>`` modules and are collected here.
Adding a task of an existing family means adding one entry, nothing else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace

ENGLISH = "en"
FAMILY_MODULES = {
    "classification": "xstilts.tasks.families.classification",
    "multiple_choice": "xstilts.tasks.families.multiple_choice",
    "qa": "xstilts.tasks.families.qa",
    "retrieval": "xstilts.tasks.families.retrieval",
    "tagging": "xstilts.tasks.families.tagging",
}
TASK_MODULES = ("xstilts.tasks.catalog.classification", "xstilts.tasks.catalog.qa", "xstilts.tasks.catalog.retrieval",
                "xstilts.tasks.catalog.tagging", "xstilts.tasks.catalog.controls")


@dataclass(frozen=True)
class Source:
    """One split of one Hub dataset.

    ``config`` may hold ``{lang}`` (replaced by the language's config token, see
    ``Task.lang_config``).  ``where`` filters rows on column values (``{lang}`` allowed), for
    datasets that keep every language in one config (XNLI); a value ending in ``*`` matches by
    prefix (TyDiQA-GoldP: the language is the prefix of the question id).
    """

    repo: str
    config: str | None
    split: str
    schema: str  # the Hub schema: which converter of the family reads these rows
    revision: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    local_only: str = ""  # not on the Hub (licensed data): how to provide a local copy

    def for_lang(self, lang: str | None, token: str | None = None) -> "Source":
        token = token or lang
        if lang is None:
            return self
        return replace(
            self,
            config=self.config.replace("{lang}", token) if self.config else None,
            where=tuple((k, v.replace("{lang}", lang)) for k, v in self.where),
        )

    def describe(self) -> str:
        cfg = f"/{self.config}" if self.config else ""
        filt = "".join(f"[{k}={v}]" for k, v in self.where)
        short = self.revision and len(self.revision) == 40 and all(ch in "0123456789abcdef" for ch in self.revision)
        rev = f"@{self.revision[:10] if short else self.revision}" if self.revision else ""  # a ref whole
        return f"{self.repo}{cfg}:{self.split}{filt}{rev}"


PRF = ("f1", "precision", "recall")
EM_F1 = ("exact_match", "f1")


@dataclass(frozen=True)
class Submission:
    """How a target's predictions are submitted and scored (the XTREME layout, ``xstilts score``).

    ``ext``: file extension of ``test-<lang>.<ext>``; ``scorer``: the name of the file scorer in
    ``xstilts.analysis.score.SCORERS``; ``metrics``: the keys averaged over languages (the rest
    are counts); ``headline``: the metrics whose mean is the task's score; ``official``: the
    languages of XTREME / XTREME-R's ``evaluate.py`` in their order (scores are listed in it).
    """

    ext: str
    scorer: str
    metrics: tuple[str, ...]
    headline: tuple[str, ...]
    official: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    name: str
    family: str
    metric: str
    train: Source | None = None  # English training set
    dev: Source | None = None  # English dev set (early stopping)
    test: Source | None = None  # per-language test set ({lang} pattern)
    test_overrides: dict = field(default_factory=dict)  # lang -> Source (e.g. en for XCOPA)
    languages: tuple[str, ...] = ()  # evaluation languages of the real benchmark
    lang_config: dict = field(default_factory=dict)  # lang -> config token, when not the code
    labels: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("intermediate",)  # intermediate and/or target
    hparams: dict = field(default_factory=dict)
    note: str = ""
    submission: Submission | None = None  # targets: the XTREME submission format
    #: toy planted controls: ``((target, expected sign of the gain over none: "+" or "0"), ...)``
    planted: tuple[tuple[str, str], ...] = ()

    @property
    def zero_shot(self) -> bool:
        """A target without a training set (BUCC, Tatoeba): no target phase; its cells are
        evaluated straight from the intermediate checkpoint (the base model for ``none``)."""
        return "target" in self.roles and self.train is None

    def eval_languages(self, toy_languages: list[str] | None = None) -> list[str]:
        """Languages evaluated for this task; in toy mode the toy languages replace the real
        non-English ones (English stays when the task has an English test set)."""
        has_en = ENGLISH in self.languages or ENGLISH in self.test_overrides
        if toy_languages is None:
            langs = list(self.languages)
            if has_en and ENGLISH not in langs:
                langs.insert(0, ENGLISH)
            return langs
        return ([ENGLISH] if has_en else []) + [lang for lang in toy_languages if lang != ENGLISH]

    def averaged_languages(self, evaluated: list[str]) -> list[str]:
        """XTREME averages over the benchmark's languages: English counts only when it is one
        of them (XNLI, PAWS-X), not when it is an extra reference (XCOPA's COPA)."""
        return [lang for lang in evaluated if lang != ENGLISH or ENGLISH in self.languages]

    def test_source(self, lang: str) -> Source:
        if lang in self.test_overrides:
            return self.test_overrides[lang]
        if self.test is None:
            raise KeyError(f"task {self.name!r} has no test set")
        return self.test.for_lang(lang, self.lang_config.get(lang))


class Registry(dict):
    def __missing__(self, name):
        known = ", ".join(sorted(self))
        raise KeyError(f"unknown task {name!r}; known tasks: {known}")


def _collect() -> Registry:
    reg = Registry()
    for mod_name in TASK_MODULES:
        for task in importlib.import_module(mod_name).TASKS:
            if task.name in reg:
                raise ValueError(f"task {task.name!r} is registered twice")
            reg[task.name] = task
    return reg


TASKS = _collect()


def register(task: Task) -> Task:
    """Add (or replace) a task, e.g. a toy twin reusing a real task's submission format."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    return TASKS[name]


def get_family(name: str):
    """The family object of a family name (or of a task's family)."""
    if name in TASKS:
        name = TASKS[name].family
    return importlib.import_module(FAMILY_MODULES[name]).FAMILY
