"""Translated intermediate data of the toy benchmark (the ``<task>+translate`` intermediates).

The toy world makes perfect translations: a training example of a translatable intermediate
task is drawn once (the same random stream as its English twin, so the English rows are the
English training set itself) and rendered in English and in every toy language.  The rows are
in the task's own Hub schema plus a ``language`` column, the layout a real translate-train
source has; imperfect machine translation is modelled downstream (``translate.noise``, see
``stages/translate.py``).
"""

from __future__ import annotations

from xstilts.core.errors import InputError
from xstilts.stages.translate import LANGUAGE_COLUMN
from xstilts.toy import items as I
from xstilts.toy.control_twins import object_tags, polarity_tags


def _control_tags(b, tagger, lang: str) -> list[dict]:
    """``objclass_tags`` / ``polarity_tags``: the same corpus sentences as
    ``control_twins.tagging_texts`` (train split), rendered in ``lang``."""
    rng = b.rng("controls", "tags", "train")
    rows = []
    for _ in range(b.n["train"]):
        clauses, joiner = I.corpus_sentence(rng, b.w)
        toks = b.r.sentence(clauses, lang, joiner)
        rows.append({"tokens": " ".join(t.text for t in toks), "tags": " ".join(tagger(toks, b.w)),
                     LANGUAGE_COLUMN: lang})
    return rows


def _mnli(b, lang: str) -> list[dict]:
    """``mnli``: the items of ``TwinBuilder.mnli`` (train split) rendered in ``lang``."""
    rows = []
    for i, it in enumerate(b.nli_items("mnli", "train", 1, False)):
        p, h = b.nli_render(it, lang)
        rows.append({"premise": p, "hypothesis": h, "label": it["label"], "idx": i, LANGUAGE_COLUMN: lang})
    return rows


#: task -> rows of its training set rendered in one language
TRANSLATORS = {
    "objclass_tags": lambda b, lang: _control_tags(b, object_tags, lang),
    "polarity_tags": lambda b, lang: _control_tags(b, lambda toks, _w: polarity_tags(toks), lang),
    "mnli": _mnli,
}
TRANSLATABLE = tuple(sorted(TRANSLATORS))


def translated_rows(toy: dict, languages: list[str], task: str) -> dict[str, list[dict]]:
    """``{language: rows}`` of ``task``'s toy training set in English and every toy language.
    ``toy``: the config's ``toy_world`` (seed and split sizes, as the generator had them)."""
    from xstilts.toy.twins import TwinBuilder
    from xstilts.toy.world import build_world

    if task not in TRANSLATORS:
        raise InputError(f"the toy benchmark has no translations of {task!r} (translatable: "
                       f"{', '.join(TRANSLATABLE)})")
    langs = ("en", *[lang for lang in languages if lang != "en"])
    world = build_world(toy["seed"], langs)
    b = TwinBuilder(world, toy["seed"], toy["n_train"], toy["n_dev"], toy["n_test"])
    return {lang: TRANSLATORS[task](b, lang) for lang in langs}
