"""Multiple choice (HellaSwag, CommonsenseQA, Cosmos QA, COPA/XCOPA): one score per choice."""

from __future__ import annotations

from xstilts.core.lazy import lazy
from xstilts.tasks.families import ConversionError, label_index, require
from xstilts.tasks.families.sequence import SequenceClassification

nn = lazy("torch.nn")

# COPA asks for the cause or the effect of its premise; jiant-style prompts in English.
COPA_QUESTION = {"cause": "What was the cause?", "effect": "What happened as a result?"}


def _hellaswag(row, task, where):
    require(row, ("ctx", "endings", "label"), where)
    endings = list(row["endings"])
    return {"id": row.get("ind", where.rsplit(" ", 1)[-1]), "context": row["ctx"],
            "choices": endings, "label": label_index(row["label"], [str(i) for i in range(len(endings))], where)}


def _commonsense_qa(row, task, where):
    require(row, ("question", "choices", "answerKey"), where)
    keys, texts = list(row["choices"]["label"]), list(row["choices"]["text"])
    if row["answerKey"] not in keys:
        raise ConversionError(f"{where}: answerKey {row['answerKey']!r} not among {keys}")
    return {"id": row.get("id", where), "context": row["question"], "choices": texts,
            "label": keys.index(row["answerKey"])}


def _cosmos_qa(row, task, where):
    cols = ("context", "question", "answer0", "answer1", "answer2", "answer3", "label")
    require(row, cols, where)
    return {"id": row.get("id", where), "context": f"{row['context']} {row['question']}",
            "choices": [row[f"answer{i}"] for i in range(4)],
            "label": label_index(row["label"], ["0", "1", "2", "3"], where)}


def _copa(row, task, where):
    require(row, ("premise", "choice1", "choice2", "question", "label"), where)
    if row["question"] not in COPA_QUESTION:
        raise ConversionError(f"{where}: question {row['question']!r} is not cause/effect")
    return {"id": row.get("idx", where.rsplit(" ", 1)[-1]),
            "context": f"{row['premise']} {COPA_QUESTION[row['question']]}",
            "choices": [row["choice1"], row["choice2"]],
            "label": label_index(row["label"], ["0", "1"], where)}


class MultipleChoice(SequenceClassification):
    name = "multiple_choice"
    converters = {"hellaswag": _hellaswag, "commonsense_qa": _commonsense_qa,
                  "cosmos_qa": _cosmos_qa, "copa": _copa}

    def pairs(self, example):
        return [(example["context"], choice) for choice in example["choices"]]

    def make_head(self, hidden, task, dropout=0.1):
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1))

    def logits(self, head, hidden, mask, batch_shape):
        return head(hidden[:, 0]).view(batch_shape[0], batch_shape[1])

    def baseline_kind(self, train):
        return "mc"

    def chance(self, task, train):
        return 1.0 / len(train[0]["choices"])

    def label_name(self, task, idx):
        return str(idx)


FAMILY = MultipleChoice()
