"""Task families: the code behind registry entries.

A family turns Hub rows into canonical examples (one converter per Hub schema), encodes them
into features (token ids plus whatever the family needs to decode and score), builds the task
head, turns head outputs into a loss and predictions, scores predictions and writes them in the
XTREME submission format.

The contract every family follows (training, evaluation and profiling call only these):

* ``options``: the hyperparameter keys (registry ``Task.hparams`` < config ``hparams``) the
  family reads besides ``max_length`` (e.g. QA's ``doc_stride``, ``max_answer_length``); they are
  passed as keyword arguments to ``encode`` and ``outputs`` (see ``Family.resolve_options``).
* ``with_labels(task, train_examples) -> task``: the task with its label set (default: the
  registry's; an open label set is collected from the training set at the prepare step and
  stored in the tokenized-cache manifest and in checkpoints).
* ``encode(tokenizer, examples, max_length, **options) -> features``: dicts with at least ``id`` and
  ``seqs`` (token-id lists; several per feature for multiple choice); the columns and types are
  ``feature_schema`` (a pyarrow schema: the tokenized cache is parquet).  One example may give
  several features (QA windows, long sentences in chunks).
* ``collate(features, pad_id) -> batch``: ``input_ids``/``attention_mask`` of shape
  (batch, n_seq, length) and ``labels`` of any shape the family's loss takes.
* ``logits(head, hidden, mask, batch_shape)``: ``hidden`` is the encoder's last hidden state of
  the flattened sequences, (batch*n_seq, length, hidden); ``loss(logits, labels)``.
* ``predict(logits) -> list``: one raw prediction per feature.
* ``outputs(task, preds, features, **options) -> (ids, outputs)``: one final prediction per *example*
  (a label, an answer string, a tag sequence, ...), in the order of first appearance.
* ``score(task, ids, outputs, features, lang) -> dict``: metrics; ``task.metric`` is the
  headline (used for early stopping and the tables), ``n`` the number of examples scored.
* ``gold(task, examples) -> (ids, outputs)``: the gold outputs, for ``xstilts labels``.
* ``write_predictions(task, outputs, ids, out_dir, lang)``: the XTREME submission file.
* ``baselines(task, train, evals) -> {name: {lang: score}}`` and ``chance(task, train)``.

Classification and multiple choice share everything except the shape of an example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from xstilts.core.errors import InputError
from xstilts.core.lazy import lazy
from xstilts.core.paths import submission_file

torch = lazy("torch")
nn = lazy("torch.nn")

# features of sequence(s)-level tasks: one label per feature
LABEL_SCHEMA = pa.schema([("id", pa.string()), ("seqs", pa.list_(pa.list_(pa.int32()))),
                          ("label", pa.int64())])


class ConversionError(InputError, ValueError):
    """A Hub/local row that does not fit its converter (names the source and row)."""


def label_index(value, labels, where: str) -> int:
    """Map a Hub label (int, or str of an int, or a label name) to a class index."""
    if isinstance(value, bool):
        raise ConversionError(f"{where}: boolean label {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()
                                  and value not in labels):
        idx = int(value)
    elif value in labels:
        idx = labels.index(value)
    else:
        raise ConversionError(f"{where}: label {value!r} is not one of {list(labels)}")
    n = len(labels) if labels else None
    if idx < 0 or (n is not None and idx >= n):
        raise ConversionError(
            f"{where}: label {value!r} out of range (test split without labels?)")
    return idx


def require(row: dict, cols, where: str):
    missing = [c for c in cols if row.get(c) is None]
    if missing:
        present = sorted(k for k, v in row.items() if v is not None)
        raise ConversionError(
            f"{where}: missing or null column(s) {missing}; the row has {present}")


# the text fields of canonical examples (every family's): a string, or a list of strings
TEXT_FIELDS = ("text_a", "text_b", "context", "question", "src", "trg", "answer", "text")
TEXT_LISTS = ("choices", "words")


def _check_text(ex: dict, where: str) -> None:
    """Text where text belongs: an int or float column would crash the tokenizer later, far from
    the row that carries it."""
    for key in TEXT_FIELDS:
        if ex.get(key) is not None and not isinstance(ex[key], str):
            raise ConversionError(f"{where}: field {key!r} must be text, found "
                                  f"{type(ex[key]).__name__} {ex[key]!r:.40}")
    for key in TEXT_LISTS:
        items = ex.get(key)
        if items is not None and not all(isinstance(t, str) for t in items):
            bad = next(t for t in items if not isinstance(t, str))
            raise ConversionError(f"{where}: field {key!r} must be a list of text, found an item "
                                  f"{type(bad).__name__} {bad!r:.40}")


class Family:
    """Shared machinery; subclasses define ``converters`` and the head."""

    name = "base"
    converters: dict[str, Callable] = {}
    feature_schema = LABEL_SCHEMA
    options: tuple[str, ...] = ()  # hyperparameter keys passed to encode() and outputs()
    head_per_token = False  # the head runs on every token (QA, tagging), not once per sequence
    all_layers = False  # logits() gets every layer's states (batch*n_seq, layers+1, length, hidden)

    # ---- options --------------------------------------------------------------------------
    def default_options(self) -> dict:
        """The schema's defaults of the family's options."""
        from xstilts.core.config import hparam_defaults

        defaults = hparam_defaults()
        return {k: defaults[k] for k in self.options if k in defaults}

    def resolve_options(self, hp: dict, model: dict | None = None) -> dict:
        """The family's options taken from a task's resolved hyperparameters; ``model`` (the
        config entry of the model, when known) may add model-specific ones."""
        return {k: hp[k] for k in self.options if k in hp}

    def task_options(self, task, options: dict) -> dict:
        """``options`` over the registry task's own and the schema defaults (for callers that
        pass none, e.g. a test calling the family directly)."""
        return {**self.default_options(), **self.resolve_options(task.hparams), **options}

    # ---- data -----------------------------------------------------------------------------
    def convert(self, rows, task, schema: str, source_desc: str) -> list[dict]:
        if schema not in self.converters:
            raise ConversionError(
                f"{source_desc}: family {self.name!r} has no converter {schema!r} "
                f"(known: {sorted(self.converters)})")
        fn = self.converters[schema]
        out = []
        for i, row in enumerate(rows):
            where = f"{source_desc} row {i}"
            try:
                ex = fn(row, task, where)
                _check_text(ex, where)
                out.append(ex)
            except ConversionError:
                raise
            except (TypeError, AttributeError, KeyError, ValueError, IndexError) as err:
                # a value of the wrong type (an int where text belongs), a missing column
                cols = ", ".join(f"{k}: {type(v).__name__}" for k, v in row.items()) if isinstance(row, dict) else ""
                raise ConversionError(f"{where}: does not fit the {schema!r} schema of {task.name} "
                                      f"({type(err).__name__}: {err}; columns {cols})") from err
        return out

    def limit_examples(self, examples: list[dict], limit: int, seed: int) -> list[dict]:
        """A seeded random subset of ``limit`` examples in their order (the English dev subset
        of early stopping)."""
        if len(examples) <= limit:
            return examples
        import random

        idx = sorted(random.Random(seed).sample(range(len(examples)), limit))
        return [examples[i] for i in idx]

    def search_cost(self, task, feats: list[dict], hidden: int, repeats: int = 5, **options) -> dict | None:
        """Serving cost beyond the encoder forward (retrieval: the search), or None."""
        return None

    def with_labels(self, task, train_examples: Callable[[], list[dict]]):
        """The task with its full label set; ``train_examples()`` loads the English training
        examples, for families whose label set is open (read from data, e.g. CCG supertags)."""
        return task

    def pairs(self, example) -> list[tuple[str, str | None]]:
        raise NotImplementedError

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

    # ---- model ----------------------------------------------------------------------------
    def make_head(self, hidden: int, task, dropout: float = 0.1) -> nn.Module:
        raise NotImplementedError

    def collate(self, feats, pad_id: int) -> dict:
        """Pad every sequence of the batch to the longest one: (batch, n_seq, length)."""
        n_seq = max(len(f["seqs"]) for f in feats)
        longest = max(len(s) for f in feats for s in f["seqs"])
        ids = torch.full((len(feats), n_seq, longest), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, f in enumerate(feats):
            for j, s in enumerate(f["seqs"]):
                ids[i, j, : len(s)] = torch.tensor(s, dtype=torch.long)
                mask[i, j, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([f["label"] for f in feats], dtype=torch.long)}

    def logits(self, head: nn.Module, hidden: torch.Tensor, mask: torch.Tensor,
               batch_shape) -> torch.Tensor:
        """``hidden``: last hidden states of the flattened sequences, (batch*n_seq, length,
        hidden), or every layer's when ``all_layers``; ``mask`` their attention mask,
        (batch*n_seq, length); ``head`` is None for a task evaluated without a head."""
        raise NotImplementedError

    def loss(self, logits, labels):
        return nn.functional.cross_entropy(logits, labels)

    def predict(self, logits) -> list:
        return logits.argmax(-1).tolist()

    # ---- decoding and scoring -------------------------------------------------------------
    def outputs(self, task, preds: list, feats: list[dict], **options) -> tuple[list[str], list]:
        """One final prediction per example (here: one feature per example)."""
        return [f["id"] for f in feats], list(preds)

    def gold(self, task, examples: list[dict], **options) -> tuple[list[str], list]:
        return [str(ex["id"]) for ex in examples], [int(ex["label"]) for ex in examples]

    def score(self, task, ids: list[str], outputs: list, feats: list[dict], lang: str) -> dict:
        """Accuracy against the features' labels."""
        gold = {f["id"]: f["label"] for f in feats}
        correct = [int(o == gold[i]) for i, o in zip(ids, outputs)]
        return {task.metric: float(np.mean(correct)) if correct else float("nan"), "n": len(correct)}

    def example_scores(self, task, preds: list, golds: list, lang: str, **options):
        """Per-example scores of a submission file against its labels, as read by
        ``analysis.score.READERS`` (here: one label per line, accuracy per example); the
        paired bootstrap of the gains resamples them (``analysis.stats.ExampleScores``)."""
        from xstilts.analysis.stats import ExampleScores

        return ExampleScores.mean([float(p == g) for p, g in zip(preds, golds, strict=True)])

    # ---- trivial baselines ----------------------------------------------------------------
    def baselines(self, task, train: list[dict], evals: dict[str, list[dict]], **options) -> dict:
        """``{baseline name: {lang: score}}`` of non-neural baselines (see ``xstilts.analysis.baselines``)."""
        from xstilts.analysis.baselines import run_baselines

        return run_baselines({"train": train, **evals}, self.baseline_kind(train))

    def baseline_kind(self, train: list[dict]) -> str:
        """The shape of the examples for the baselines: one sentence, or a pair."""
        return "single" if all(ex.get("text_b") is None for ex in train) else "pair"

    def chance(self, task, train: list[dict]) -> float:
        return 1.0 / len(task.labels)

    # ---- output ---------------------------------------------------------------------------
    def label_name(self, task, idx: int) -> str:
        return task.labels[idx] if task.labels else str(idx)

    def submission_ext(self, task, **options) -> str:
        return task.submission.ext if task.submission else "tsv"

    def write_predictions(self, task, outputs, ids, out_dir, lang: str, **options) -> Path:
        """``<out_dir>/<task>/test-<lang>.<ext>`` in the XTREME submission format: one label
        per line (``.tsv``), or one JSON object per line (``.jsonl``, XTREME-R's XCOPA)."""
        ext = self.submission_ext(task)
        path = submission_file(out_dir, task.name, lang, ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        if ext == "jsonl":
            lines = [json.dumps({"idx": i, "label": int(p)}) for i, p in zip(ids, outputs)]
        else:
            lines = [self.label_name(task, p) for p in outputs]
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path
