"""Sentence classification, sentence-pair classification and multiple-choice tasks.

Each ``hub(...)`` names the converter (schema) that reads the rows of that Hub split; the
converters live in ``xstilts.tasks.families.classification`` / ``multiple_choice``.
"""

from __future__ import annotations

from xstilts.core.registry import Submission, Task
from xstilts.tasks.catalog.sources import hub

NLI_LABELS = ("entailment", "neutral", "contradiction")
XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")
XCOPA_LANGS = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")

# Target-phase defaults of the authors' implementation (jiant): lr 1e-5, 10% linear warmup,
# effective batch 32, max length 256; epochs XNLI 2, PAWS-X 5.  The intermediate phase uses
# the same optimiser settings.
CLS = {"lr": 1e-5, "warmup": 0.1, "batch_size": 32, "max_length": 256}
MC = {"lr": 1e-5, "warmup": 0.1, "batch_size": 16, "max_length": 128}


def mnli(split):
    return hub("nyu-mll/glue", "mnli", split, "premise_hypothesis")


def copa(split):
    return hub("aps/super_glue", "copa", split, "copa")


TASKS = [
    Task(
        "mnli", "classification", "accuracy",
        train=mnli("train"), dev=mnli("validation_matched"),
        labels=NLI_LABELS, hparams={**CLS, "epochs": 2},
    ),
    Task(
        "anli", "classification", "accuracy",
        train=hub("facebook/anli", None, "train_r1", "premise_hypothesis"),
        dev=hub("facebook/anli", None, "dev_r1", "premise_hypothesis"),
        labels=NLI_LABELS, hparams={**CLS, "epochs": 2},
        note="round 1 (train_r1/dev_r1); rounds 2-3 are other splits of the same repo",
    ),
    Task(
        "qqp", "classification", "accuracy",
        train=hub("nyu-mll/glue", "qqp", "train", "question_pair"),
        dev=hub("nyu-mll/glue", "qqp", "validation", "question_pair"),
        labels=("not_duplicate", "duplicate"), hparams={**CLS, "epochs": 2},
    ),
    Task(
        "sst2", "classification", "accuracy",
        train=hub("nyu-mll/glue", "sst2", "train", "sentence"),
        dev=hub("nyu-mll/glue", "sst2", "validation", "sentence"),
        labels=("negative", "positive"), hparams={**CLS, "epochs": 3},
    ),
    Task(
        "hellaswag", "multiple_choice", "accuracy",
        train=hub("Rowan/hellaswag", None, "train", "hellaswag"),
        dev=hub("Rowan/hellaswag", None, "validation", "hellaswag"),
        hparams={**MC, "epochs": 2},
    ),
    Task(
        "commonsenseqa", "multiple_choice", "accuracy",
        train=hub("tau/commonsense_qa", None, "train", "commonsense_qa"),
        dev=hub("tau/commonsense_qa", None, "validation", "commonsense_qa"),
        hparams={**MC, "epochs": 3},
    ),
    Task(
        "cosmosqa", "multiple_choice", "accuracy",
        train=hub("allenai/cosmos_qa", None, "train", "cosmos_qa"),
        dev=hub("allenai/cosmos_qa", None, "validation", "cosmos_qa"),
        hparams={**MC, "epochs": 2, "max_length": 256},
        note="script-only on the Hub: read from its parquet conversion (refs/convert/parquet) or a local path",
    ),
    Task(
        "xnli", "classification", "accuracy",
        train=mnli("train"),
        dev=hub("google/xtreme", "XNLI", "validation", "xnli", language="en"),
        test=hub("google/xtreme", "XNLI", "test", "xnli", language="{lang}"),
        languages=XNLI_LANGS, labels=NLI_LABELS, roles=("target",),
        hparams={**CLS, "epochs": 2},
        note="English training set = MNLI train",
        submission=Submission("tsv", "labels", ("accuracy",), ("accuracy",),
                          official=('ar', 'bg', 'de', 'el', 'en', 'es', 'fr', 'hi', 'ru', 'sw', 'th', 'tr', 'ur', 'vi', 'zh'))
    ),
    Task(
        "pawsx", "classification", "accuracy",
        train=hub("google/xtreme", "PAWS-X.en", "train", "sentence_pair"),
        dev=hub("google/xtreme", "PAWS-X.en", "validation", "sentence_pair"),
        test=hub("google/xtreme", "PAWS-X.{lang}", "test", "sentence_pair"),
        languages=PAWSX_LANGS, labels=("0", "1"), roles=("target",),
        hparams={**CLS, "epochs": 5},
        submission=Submission("tsv", "labels", ("accuracy",), ("accuracy",),
                          official=('de', 'en', 'es', 'fr', 'ja', 'ko', 'zh'))
    ),
    Task(
        "xcopa", "multiple_choice", "accuracy",
        train=copa("train"), dev=copa("validation"),
        test=hub("cambridgeltl/xcopa", "{lang}", "test", "copa"),
        test_overrides={"en": copa("validation")},
        languages=XCOPA_LANGS, roles=("target",),
        hparams={**MC, "epochs": 5, "max_length": 64},
        note="English training set = COPA; English is reported (COPA validation), not averaged",
        submission=Submission("jsonl", "jsonl_labels", ("accuracy",), ("accuracy",),
                          official=('et', 'ht', 'id', 'it', 'qu', 'sw', 'ta', 'th', 'tr', 'vi', 'zh'))
    ),
]
