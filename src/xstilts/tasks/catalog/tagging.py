"""Token tagging tasks: UD-POS and PAN-X (XTREME targets), CCG supertagging (intermediate).

UD-POS and PAN-X are read from ``google/xtreme`` (``udpos.<LanguageName>``, ``PAN-X.<lang>``);
CCGbank is licensed and not on the Hub: it is read from a local folder given in the config
(``data.tasks.ccg``), see ``docs/tagging.md``.
"""

from __future__ import annotations

from xstilts.core.registry import PRF, Submission, Source, Task
from xstilts.tasks.catalog.sources import hub

#: google/xtreme ``udpos.*`` class-label names (Universal Dependencies v2.5 UPOS, Hub order)
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
#: google/xtreme ``PAN-X.*`` class-label names (IOB2)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

#: XTREME's 33 UD-POS languages -> google/xtreme config name (``udpos.<LanguageName>``)
UDPOS_CONFIG = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
    "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}
UDPOS_LANGS = tuple(UDPOS_CONFIG)
#: XTREME's 40 PAN-X languages (google/xtreme ``PAN-X.<lang>``)
PANX_LANGS = tuple(
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th "
    "sw yo my zh kk tr et fi hu".split())
#: XTREME-R adds these languages; google/xtreme has no config for them, so they are not
#: evaluated from the Hub (a local mirror ``<root>/google/xtreme/<config>/test.parquet`` in the
#: same schema, listed in ``languages`` of a derived entry, would be)
XTREME_R_EXTRA = {"udpos": ("lt", "pl", "uk", "wo", "ro"),
                  "panx": ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")}

# XTREME's tagging fine-tuning (scripts/train_udpos.sh, train_panx.sh): lr 2e-5, batch 32,
# 10 epochs; max length 256 (XTREME truncates at 128; here longer sentences are chunked).
TAG = {"lr": 2e-5, "warmup": 0.1, "batch_size": 32, "max_length": 256, "chunk_context": 64}

CCG_NOTE = ("CCGbank is licensed (LDC2005T13) and not on the Hub: convert it to lines "
            "'tokens<TAB>tags' (space-separated, one sentence per line) in "
            "<root>/ccgbank/default/train.tsv and dev.tsv and set `data: {tasks: {ccg: <root>}}` "
            "in the config (see docs/tagging.md)")


def ccg(split: str) -> Source:
    return Source("ccgbank", None, split, "tokens_tags", local_only=CCG_NOTE)


TASKS = [
    Task(
        "udpos", "tagging", "f1",
        train=hub("google/xtreme", "udpos.English", "train", "udpos"),
        dev=hub("google/xtreme", "udpos.English", "validation", "udpos"),
        test=hub("google/xtreme", "udpos.{lang}", "test", "udpos"),
        languages=UDPOS_LANGS, lang_config=UDPOS_CONFIG, labels=UPOS, roles=("target",),
        hparams={**TAG, "epochs": 10},
        note="seqeval F1 over UPOS tags, as XTREME evaluate.py; XTREME-R adds lt pl uk wo ro "
             "(not in google/xtreme)",
        submission=Submission("tsv", "tags", PRF, ("f1",),
                          official=('af', 'ar', 'bg', 'de', 'el', 'en', 'es', 'et', 'eu', 'fa', 'fi', 'fr', 'he', 'hi', 'hu', 'id', 'it', 'ja', 'kk', 'ko', 'mr', 'nl', 'pt', 'ru', 'ta', 'te', 'th', 'tl', 'tr', 'ur', 'vi', 'yo', 'zh', 'lt', 'pl', 'uk', 'wo', 'ro'))
    ),
    Task(
        "panx", "tagging", "f1",
        train=hub("google/xtreme", "PAN-X.en", "train", "panx"),
        dev=hub("google/xtreme", "PAN-X.en", "validation", "panx"),
        test=hub("google/xtreme", "PAN-X.{lang}", "test", "panx"),
        languages=PANX_LANGS, labels=PANX_TAGS, roles=("target",),
        hparams={**TAG, "epochs": 10},
        note="seqeval F1 (IOB2 PER/LOC/ORG); XTREME-R adds qu pl uk az lt pa gu ro "
             "(not in google/xtreme)",
        submission=Submission("tsv", "tags", PRF, ("f1",),
                          official=('ar', 'he', 'vi', 'id', 'jv', 'ms', 'tl', 'eu', 'ml', 'ta', 'te', 'af', 'nl', 'en', 'de', 'el', 'bn', 'hi', 'mr', 'ur', 'fa', 'fr', 'it', 'pt', 'es', 'bg', 'ru', 'ja', 'ka', 'ko', 'th', 'sw', 'yo', 'my', 'zh', 'kk', 'tr', 'et', 'fi', 'hu', 'qu', 'pl', 'uk', 'az', 'lt', 'pa', 'gu', 'ro'))
    ),
    Task(
        "ccg", "tagging", "accuracy",
        train=ccg("train"), dev=ccg("dev"),
        hparams={**TAG, "lr": 1e-5, "epochs": 2},
        note="open tag set (about 1,363 supertags) collected from the training set; " + CCG_NOTE,
    ),
]
