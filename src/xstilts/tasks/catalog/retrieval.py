"""Retrieval targets: Tatoeba and BUCC 2018 (XTREME), LAReQA and Mewsli-X (XTREME-R).

Tatoeba and BUCC have no training data: their cells are evaluated straight from the
intermediate checkpoint (``Task.zero_shot``).  LAReQA and Mewsli-X fine-tune a dual encoder on
English pairs first (XTREME-R's recipe), so they are ordinary targets of this family.
The family code is ``xstilts.tasks.families.retrieval``; ``search`` picks its search mode.
"""

from __future__ import annotations

from xstilts.core.registry import PRF, Submission, Source, Task
from xstilts.tasks.catalog.sources import hub

# XTREME's 36 Tatoeba languages (evaluate.py order) and the google/xtreme config token of each
# (ISO 639-3; Chinese is Mandarin ``cmn``, Persian ``pes``, Swahili ``swh``).
TATOEBA_ISO3 = {
    "ar": "ara", "he": "heb", "vi": "vie", "id": "ind", "jv": "jav", "tl": "tgl", "eu": "eus",
    "ml": "mal", "ta": "tam", "te": "tel", "af": "afr", "nl": "nld", "de": "deu", "el": "ell",
    "bn": "ben", "hi": "hin", "mr": "mar", "ur": "urd", "fa": "pes", "fr": "fra", "it": "ita",
    "pt": "por", "es": "spa", "bg": "bul", "ru": "rus", "ja": "jpn", "ka": "kat", "ko": "kor",
    "th": "tha", "sw": "swh", "zh": "cmn", "kk": "kaz", "tr": "tur", "et": "est", "fi": "fin",
    "hu": "hun",
}
# XTREME-R adds five; google/xtreme has no tatoeba config for them: a local mirror
# (<root>/google/xtreme/tatoeba.<iso3>/validation.parquet) can provide them.
TATOEBA_R_ISO3 = {"az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron"}
BUCC_LANGS = ("de", "fr", "ru", "zh")
XQUAD_R_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MEWSLIX_LANGS = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")

ZERO_SHOT = {"max_length": 128, "margin_k": 4}
# XTREME-R's dual encoder on SQuAD v1.1: lr 2e-5, batch 32 (in-batch negatives), 3 epochs.
DUAL = {"lr": 2e-5, "warmup": 0.1, "batch_size": 32, "max_length": 128, "epochs": 3,
        "search": "rank"}


def squad(split, schema):
    return hub("rajpurkar/squad", None, split, schema)


def xquad_r_pool():
    """The evaluated language first (its questions are the queries), then every language's
    XQuAD-R paragraphs (the candidate pool)."""
    return hub("google-research-datasets/xquad_r", "{lang}+*", "validation", "xquad_r")


MEWSLIX_NOTE = ("Mewsli-X has no Hub copy: build a local mirror in the layout of "
                "docs/retrieval.md and set `data: {tasks: {mewslix: <root>}}` in the config")

TASKS = [
    Task(
        "tatoeba", "retrieval", "accuracy",
        test=hub("google/xtreme", "tatoeba.{lang}", "validation", "bitext"),
        languages=tuple(TATOEBA_ISO3), lang_config={**TATOEBA_ISO3, **TATOEBA_R_ISO3},
        roles=("target",), hparams={**ZERO_SHOT, "search": "nearest"},
        note="no training data: evaluated from the intermediate checkpoint (xx -> en nearest "
             "neighbour); XTREME-R's az lt pl uk ro need a local mirror",
        submission=Submission("tsv", "labels", ("accuracy",), ("accuracy",),
                          official=('ar', 'he', 'vi', 'id', 'jv', 'tl', 'eu', 'ml', 'ta', 'te', 'af', 'nl', 'de', 'el', 'bn', 'hi', 'mr', 'ur', 'fa', 'fr', 'it', 'pt', 'es', 'bg', 'ru', 'ja', 'ka', 'ko', 'th', 'sw', 'zh', 'kk', 'tr', 'et', 'fi', 'hu', 'az', 'lt', 'pl', 'uk', 'ro'))
    ),
    Task(
        "bucc2018", "retrieval", "f1",
        test=hub("google/xtreme", "bucc18.{lang}", "validation+test", "bitext"),
        languages=BUCC_LANGS, roles=("target",), hparams={**ZERO_SHOT, "search": "mine"},
        note="threshold tuned on the sample (validation) split, F1 on test; the Hub copy holds "
             "the gold pairs only (no distractors): a full BUCC mirror marks non-parallel "
             "sentences with an empty partner",
        submission=Submission("tsv", "bucc", PRF, ("f1",),
                          official=('de', 'fr', 'ru', 'zh'))
    ),
    Task(
        "lareqa", "retrieval", "map@20",
        train=squad("train", "squad_pairs"), dev=squad("validation", "xquad_r"),
        test=xquad_r_pool(), languages=XQUAD_R_LANGS,
        roles=("target",), hparams=DUAL,
        note="dual encoder fine-tuned on English SQuAD v1.1 (question, answer sentence) pairs",
        submission=Submission("json", "lareqa", ("map@20",), ("map@20",),
                          official=('ar', 'de', 'el', 'en', 'es', 'hi', 'ru', 'th', 'tr', 'vi', 'zh'))
    ),
    Task(
        "mewslix", "retrieval", "map@20",
        train=Source("mewslix", "en", "train", "mewslix", local_only=MEWSLIX_NOTE),
        dev=Source("mewslix", "en+candidates", "dev", "mewslix", local_only=MEWSLIX_NOTE),
        test=Source("mewslix", "{lang}+candidates", "test", "mewslix", local_only=MEWSLIX_NOTE),
        languages=MEWSLIX_LANGS, roles=("target",), hparams=DUAL,
        note="no Hub copy: set data.tasks.mewslix to a local mirror (see docs/retrieval.md)",
        submission=Submission("json", "mewslix", ("map@20",), ("map@20",),
                          official=('ar', 'de', 'en', 'es', 'fa', 'ja', 'pl', 'ro', 'ta', 'tr', 'uk'))
    ),
]
