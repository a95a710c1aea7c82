"""Extractive QA: SQuAD v1.1 / v2 (English, intermediate), XQuAD, MLQA, TyDiQA-GoldP (targets).

Every source has SQuAD's Hub schema and is read by the family's ``squad`` converter.
XQuAD and MLQA are trained on SQuAD v1.1 (as in XTREME), TyDiQA-GoldP on its English training
set; early stopping of every QA target watches SQuAD v1.1 validation (TyDiQA has no English dev
set apart from its English test questions, which are scored).
"""

from __future__ import annotations

from xstilts.core.registry import EM_F1, Submission, Task
from xstilts.tasks.catalog.sources import hub

XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")
#: TyDiQA-GoldP: language code -> the language name that prefixes every question id
TYDIQA_LANGS = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish",
                "id": "indonesian", "ko": "korean", "ru": "russian", "sw": "swahili",
                "te": "telugu"}

# jiant-style optimisation as the other families (lr 1e-5, 10% warmup, batch 32) with XTREME's
# run_squad features: 384 tokens, stride 128, questions cut to 64 tokens, answers <= 30 tokens,
# 20-best decoding.
QA = {"lr": 1e-5, "warmup": 0.1, "batch_size": 32, "epochs": 2, "max_length": 384,
      "doc_stride": 128, "max_query_length": 64, "max_answer_length": 30, "n_best": 20}


def squad(split, version=""):
    return hub(f"rajpurkar/squad{version}", None, split, "squad")


def tydiqa(split, lang=None):
    """google/xtreme's TyDiQA-GoldP: one split for all languages, the language in the id."""
    where = {"id": f"{TYDIQA_LANGS.get(lang, lang)}-*"} if lang else {}
    return hub("google/xtreme", "tydiqa", split, "squad", **where)


TASKS = [
    Task("squad", "qa", "squad_em_f1", train=squad("train"), dev=squad("validation"),
         hparams=QA, note="SQuAD v1.1"),
    Task("squad_v2", "qa", "squad_em_f1", train=squad("train", "_v2"),
         dev=squad("validation", "_v2"), hparams={**QA, "null_answers": True},
         note="SQuAD v2.0: unanswerable questions decoded with the null score"),
    Task("xquad", "qa", "squad_em_f1", train=squad("train"), dev=squad("validation"),
         test=hub("google/xtreme", "XQuAD.{lang}", "validation", "squad"),
         test_overrides={"ro": hub("google/xquad", "xquad.ro", "validation", "squad")},
         languages=XQUAD_LANGS, roles=("target",), hparams=QA,
         note="English training set = SQuAD v1.1; ro (XTREME-R) from google/xquad", submission=Submission("json", "squad", EM_F1, EM_F1,
                          official=('en', 'es', 'de', 'el', 'ru', 'tr', 'ar', 'vi', 'th', 'zh', 'hi', 'ro'))),
    Task("mlqa", "qa", "mlqa_em_f1", train=squad("train"), dev=squad("validation"),
         test=hub("google/xtreme", "MLQA.{lang}.{lang}", "test", "squad"),
         languages=MLQA_LANGS, roles=("target",), hparams=QA,
         note="English training set = SQuAD v1.1; context and question in the same language", submission=Submission("json", "mlqa", EM_F1, EM_F1,
                          official=('en', 'es', 'de', 'ar', 'hi', 'vi', 'zh'))),
    Task("tydiqa", "qa", "squad_em_f1", train=tydiqa("train"), dev=squad("validation"),
         test=tydiqa("validation", "{lang}"),
         test_overrides={lang: tydiqa("validation", lang) for lang in TYDIQA_LANGS},
         languages=tuple(TYDIQA_LANGS), roles=("target",), hparams=QA,
         note="TyDiQA-GoldP: English training set; the language is the prefix of the id", submission=Submission("json", "squad", EM_F1, EM_F1,
                          official=('en', 'ar', 'bn', 'fi', 'id', 'ko', 'ru', 'sw', 'te'))),
]
