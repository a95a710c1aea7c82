"""Task families: the code behind registry entries.

A family turns Hub rows into canonical examples (one converter per Hub schema), encodes them
into features (token ids plus whatever the family needs to decode and score), builds the task
head, turns head outputs into a loss and predictions, scores predictions and writes them in the
XTREME submission format.

* :class:`Family`: the protocol, the members that stages and analysis call on a family.
* :class:`Shared`: helpers every family uses (options, conversion with its checks, the English
  dev subset, the submission file) and the defaults of the optional hooks (``with_labels``,
  ``search_cost``); :func:`pad` pads the token ids of a batch.
* ``sequence.SequenceClassification``: one label per sequence or per set of sequences, the base
  of ``classification`` and ``multiple_choice``.  ``qa``, ``tagging`` and ``retrieval``
  implement the protocol on :class:`Shared` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import pyarrow as pa

from xstilts.core.errors import InputError
from xstilts.core.lazy import lazy
from xstilts.core.paths import submission_file

torch = lazy("torch")
nn = lazy("torch.nn")


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


@runtime_checkable
class Family(Protocol):
    """What training, evaluation, profiling, the labels/baseline stages and the scorer call on a
    family (``registry.get_family``).  ``task`` is always the registry ``Task``; ``options`` are
    the family's options (``resolve_options``), passed as keyword arguments."""

    name: str  # the registry's ``Task.family``; stored with each head of a checkpoint
    options: tuple[str, ...]  # hyperparameter keys the family reads besides ``max_length``
    feature_schema: pa.Schema  # the columns of ``encode``'s features (the parquet cache)
    head_per_token: bool  # the head runs on every token (QA, tagging), not once per sequence
    all_layers: bool  # ``logits`` gets every layer's hidden states, not only the last

    # ---- options ----------------------------------------------------------------------------
    def default_options(self) -> dict:
        """The config schema's defaults of ``options``."""

    def resolve_options(self, hp: dict, model: dict | None = None) -> dict:
        """The options out of a task's resolved hyperparameters (registry ``Task.hparams`` <
        config ``hparams``); ``model``, the model's config entry when known, may add some."""

    # ---- data -------------------------------------------------------------------------------
    def convert(self, rows, task, schema: str, source_desc: str) -> list[dict]:
        """Canonical examples of Hub/local ``rows`` in the Hub ``schema``; a row that does not
        fit raises ``ConversionError`` naming ``source_desc`` and the row."""

    def limit_examples(self, examples: list[dict], limit: int, seed: int) -> list[dict]:
        """A seeded subset of about ``limit`` examples (the English dev set of early stopping),
        still scorable on its own."""

    def with_labels(self, task, train_examples: Callable[[], list[dict]]):
        """The task with its full label set; ``train_examples()`` loads the English training
        examples, for an open label set read from data (CCG supertags)."""

    def encode(self, tokenizer, examples: list[dict], max_length: int, **options) -> list[dict]:
        """Features, dicts in ``feature_schema`` with at least ``id`` and ``seqs`` (token-id
        lists, several per feature for multiple choice); one example may give several
        features (QA windows, long sentences in chunks)."""

    # ---- model ------------------------------------------------------------------------------
    def make_head(self, hidden: int, task, dropout: float = 0.1) -> nn.Module:
        """The task head on the encoder's states of width ``hidden``."""

    def collate(self, feats: list[dict], pad_id: int) -> dict:
        """A batch: ``input_ids``/``attention_mask`` of shape (batch, n_seq, length) and
        ``labels`` in the shape ``loss`` takes."""

    def logits(self, head: nn.Module, hidden: torch.Tensor, mask: torch.Tensor,
               batch_shape) -> torch.Tensor:
        """Head outputs.  ``hidden``: the flattened sequences' last hidden states, (batch*n_seq,
        length, hidden), or every layer's, (batch*n_seq, layers+1, length, hidden), when
        ``all_layers``; ``mask``: their attention mask; ``batch_shape``: (batch, n_seq)."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch."""

    def predict(self, logits: torch.Tensor) -> list:
        """One raw prediction per feature (host data)."""

    # ---- decoding and scoring ---------------------------------------------------------------
    def outputs(self, task, preds: list, feats: list[dict], **options) -> tuple[list[str], list]:
        """``(ids, outputs)``: one final prediction per *example* (a label, an answer string, a
        tag sequence, ...), in the order of first appearance in ``feats``."""

    def score(self, task, ids: list[str], outputs: list, feats: list[dict], lang: str) -> dict:
        """Metrics of ``outputs`` against the features' gold: ``task.metric`` is the headline
        (early stopping, the tables), ``n`` the number of examples scored."""

    def gold(self, task, examples: list[dict], **options) -> tuple[list[str], list]:
        """``(ids, outputs)`` of the gold, in the shape ``write_predictions`` writes (labels)."""

    def example_scores(self, task, preds, golds, lang: str, **options):
        """``analysis.stats.ExampleScores`` of a submission file against its labels, both as
        ``analysis.score.READERS`` reads them; the paired bootstrap resamples them."""

    def write_predictions(self, task, outputs: list, ids: list[str], out_dir, lang: str,
                          **options) -> Path:
        """The XTREME submission file of one language (``paths.submission_file``)."""

    # ---- baselines and profiling ------------------------------------------------------------
    def baselines(self, task, train: list[dict], evals: dict[str, list[dict]], **options) -> dict:
        """``{baseline name: {lang: score}}`` of non-neural baselines."""

    def chance(self, task, train: list[dict]) -> float | None:
        """The expected headline score of a random guess (None: no single value)."""

    def search_cost(self, task, feats: list[dict], hidden: int, repeats: int = 5,
                    **options) -> dict | None:
        """Serving cost beyond the encoder forward (retrieval: the search), or None."""


def pad(feats: list[dict], pad_id: int) -> dict:
    """``input_ids`` and ``attention_mask`` of a batch: every sequence of the features padded to
    the longest one, (batch, n_seq, length)."""
    n_seq = max(len(f["seqs"]) for f in feats)
    longest = max(len(s) for f in feats for s in f["seqs"])
    ids = torch.full((len(feats), n_seq, longest), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, f in enumerate(feats):
        for j, s in enumerate(f["seqs"]):
            ids[i, j, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, j, : len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask}


class Shared:
    """What every family shares: options, conversion, the dev subset, the submission file, and
    the default of the optional hooks.  A family sets ``name``, ``converters`` (Hub schema ->
    ``convert(row, task, where) -> example``) and ``feature_schema``."""

    name = "base"
    converters: dict[str, Callable] = {}
    options: tuple[str, ...] = ()
    head_per_token = False
    all_layers = False

    # ---- options ----------------------------------------------------------------------------
    def default_options(self) -> dict:
        from xstilts.core.config import hparam_defaults

        defaults = hparam_defaults()
        return {k: defaults[k] for k in self.options if k in defaults}

    def resolve_options(self, hp: dict, model: dict | None = None) -> dict:
        return {k: hp[k] for k in self.options if k in hp}

    # ---- data -------------------------------------------------------------------------------
    def convert(self, rows, task, schema: str, source_desc: str) -> list[dict]:
        """Each row through ``converters[schema]``; text fields are checked to hold text."""
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
        """A seeded random subset of ``limit`` examples in their order."""
        if len(examples) <= limit:
            return examples
        import random

        idx = sorted(random.Random(seed).sample(range(len(examples)), limit))
        return [examples[i] for i in idx]

    def with_labels(self, task, train_examples: Callable[[], list[dict]]):
        """The registry's label set."""
        return task

    def search_cost(self, task, feats: list[dict], hidden: int, repeats: int = 5, **options) -> dict | None:
        return None

    # ---- output -----------------------------------------------------------------------------
    def submission_ext(self, task) -> str:
        return task.submission.ext if task.submission else "tsv"

    def write_submission(self, task, out_dir, lang: str, text: str) -> Path:
        """``text`` as the submission file of ``task`` in ``lang`` below ``out_dir``."""
        path = submission_file(out_dir, task.name, lang, self.submission_ext(task))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path
