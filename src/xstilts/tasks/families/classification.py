"""Single-sentence and sentence-pair classification (SST-2, MNLI, ANLI, QQP, XNLI, PAWS-X)."""

from __future__ import annotations

from xstilts.tasks.families import label_index, require
from xstilts.tasks.families.sequence import SequenceClassification


def _pair(a: str, b: str):
    def convert(row, task, where):
        require(row, (a, b, "label"), where)
        return {"id": row.get("idx", row.get("uid", where.rsplit(" ", 1)[-1])),
                "text_a": row[a], "text_b": row[b],
                "label": label_index(row["label"], task.labels, where)}
    return convert


def _xnli(row, task, where):
    require(row, ("sentence1", "sentence2", "gold_label"), where)
    return {"id": where.rsplit(" ", 1)[-1], "text_a": row["sentence1"], "text_b": row["sentence2"],
            "label": label_index(row["gold_label"], task.labels, where)}


def _sentence(row, task, where):
    require(row, ("sentence", "label"), where)
    return {"id": row.get("idx", where.rsplit(" ", 1)[-1]), "text_a": row["sentence"],
            "text_b": None, "label": label_index(row["label"], task.labels, where)}


class Classification(SequenceClassification):
    name = "classification"
    converters = {
        "premise_hypothesis": _pair("premise", "hypothesis"),
        "question_pair": _pair("question1", "question2"),
        "sentence_pair": _pair("sentence1", "sentence2"),
        "xnli": _xnli,
        "sentence": _sentence,
    }

    def pairs(self, example):
        return [(example["text_a"], example["text_b"])]

    def make_head(self, hidden, task, dropout=0.1):
        from xstilts.tasks.families.heads import ClassificationHead

        return ClassificationHead(hidden, len(task.labels), dropout)

    def logits(self, head, hidden, mask, batch_shape):
        return head(hidden[:, 0]).view(batch_shape[0], -1)


FAMILY = Classification()
