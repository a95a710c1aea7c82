"""Sequence classification: one label per feature, read off the first token of each of its
sequences; the shared base of ``classification`` (one sequence or pair) and
``multiple_choice`` (one pair per choice), which differ in the shape of an example (``pairs``),
the head and the baselines."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from xstilts.core.lazy import lazy
from xstilts.tasks.families import Shared, pad

torch = lazy("torch")
nn = lazy("torch.nn")

# one label per feature
LABEL_SCHEMA = pa.schema([("id", pa.string()), ("seqs", pa.list_(pa.list_(pa.int32()))),
                          ("label", pa.int64())])


class SequenceClassification(Shared):
    """A subclass sets ``converters``, ``pairs``, ``make_head`` and ``logits``."""

    feature_schema = LABEL_SCHEMA

    def pairs(self, example) -> list[tuple[str, str | None]]:
        """The (first, second) text of each sequence of one example (second: None or text)."""
        raise NotImplementedError

    # ---- data -------------------------------------------------------------------------------
    def encode(self, tokenizer, examples, max_length: int, **options) -> list[dict]:
        """Token ids per example: ``{"id", "seqs": [[ids], ...], "label"}``."""
        flat = [p for ex in examples for p in self.pairs(ex)]
        first = [a for a, _ in flat]
        second = [b for _, b in flat]
        enc = tokenizer(first, second if any(b is not None for b in second) else None,
                        truncation=True, max_length=max_length)
        ids = enc["input_ids"]
        out, k = [], 0
        for ex in examples:
            n = len(self.pairs(ex))
            out.append({"id": str(ex["id"]), "seqs": ids[k:k + n], "label": int(ex["label"])})
            k += n
        return out

    # ---- model ------------------------------------------------------------------------------
    def collate(self, feats, pad_id: int) -> dict:
        return {**pad(feats, pad_id),
                "labels": torch.tensor([f["label"] for f in feats], dtype=torch.long)}

    def loss(self, logits, labels):
        return nn.functional.cross_entropy(logits, labels)

    def predict(self, logits) -> list:
        return logits.argmax(-1).tolist()

    # ---- decoding and scoring ---------------------------------------------------------------
    def outputs(self, task, preds: list, feats: list[dict], **options) -> tuple[list[str], list]:
        """One feature per example: its prediction is the example's."""
        return [f["id"] for f in feats], list(preds)

    def gold(self, task, examples: list[dict], **options) -> tuple[list[str], list]:
        return [str(ex["id"]) for ex in examples], [int(ex["label"]) for ex in examples]

    def score(self, task, ids: list[str], outputs: list, feats: list[dict], lang: str) -> dict:
        """Accuracy against the features' labels."""
        gold = {f["id"]: f["label"] for f in feats}
        correct = [int(o == gold[i]) for i, o in zip(ids, outputs)]
        return {task.metric: float(np.mean(correct)) if correct else float("nan"), "n": len(correct)}

    def example_scores(self, task, preds: list, golds: list, lang: str, **options):
        """One label per line: accuracy per example."""
        from xstilts.analysis.stats import ExampleScores

        return ExampleScores.mean([float(p == g) for p, g in zip(preds, golds, strict=True)])

    # ---- trivial baselines ------------------------------------------------------------------
    def baselines(self, task, train: list[dict], evals: dict[str, list[dict]], **options) -> dict:
        """The baselines of ``xstilts.analysis.baselines`` for the shape of the examples."""
        from xstilts.analysis.baselines import run_baselines

        return run_baselines({"train": train, **evals}, self.baseline_kind(train))

    def baseline_kind(self, train: list[dict]) -> str:
        """The shape of the examples for the baselines: one sentence, or a pair."""
        return "single" if all(ex.get("text_b") is None for ex in train) else "pair"

    def chance(self, task, train: list[dict]) -> float:
        return 1.0 / len(task.labels)

    # ---- output -----------------------------------------------------------------------------
    def label_name(self, task, idx: int) -> str:
        return task.labels[idx] if task.labels else str(idx)

    def write_predictions(self, task, outputs, ids, out_dir, lang: str, **options):
        """One label per line (``.tsv``), or one JSON object per line (``.jsonl``, XTREME-R's
        XCOPA)."""
        if self.submission_ext(task) == "jsonl":
            lines = [json.dumps({"idx": i, "label": int(p)}) for i, p in zip(ids, outputs)]
        else:
            lines = [self.label_name(task, p) for p in outputs]
        return self.write_submission(task, out_dir, lang, "".join(f"{line}\n" for line in lines))
